"""The LangGraph graph: model, tools, approvals, and the step limit.

``build_graph()`` returns the uncompiled builder so callers attach their own checkpointer.

    START -> agent -(tool calls)-> tools -(drafted action)-> approval -> agent
                   -(no calls)---> END       -(otherwise)------------> agent
                   -(step limit)-> limit -> END
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, SystemMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.approvals import Decision, apply_decision
from agent.context import RunContext
from agent.fallback import ask_model, stand_in
from agent.prompts import system_prompt
from agent.state import AgentState, PendingApproval
from agent.toolset import APPROVAL_TOOLS, error_message, run_tool, tool_schemas

log = logging.getLogger(__name__)

ORPHANED = "not run: the turn that asked for it ended before it completed"


def repair_history(messages: list[AnyMessage]) -> list[AnyMessage]:
    """Answer every tool call that has no result, right after the call.

    A turn cut short (a crash, a step limit, an abandoned approval) can leave a call
    without its result; chat APIs refuse such a history, so the next turn would fail.
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    repaired: list[AnyMessage] = []
    for message in messages:
        repaired.append(message)
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call["id"] not in answered:
                    repaired.append(error_message(call["id"] or "", call["name"], ORPHANED))
    return repaired


def _last_ai(state: AgentState) -> AIMessage | None:
    for message in reversed(state.get("messages", [])):
        if isinstance(message, AIMessage):
            return message
    return None


def agent_node(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Ask the model for the next step; if it fails, the offline planner takes over the turn."""
    run = runtime.context
    history = repair_history(list(state.get("messages", [])))
    prompt: list[AnyMessage] = [SystemMessage(system_prompt(run.as_of)), *history]
    update: dict[str, Any] = {"steps": state.get("steps", 0) + 1}
    fallback = state.get("fallback")
    reply: AIMessage | None = None
    try:
        if run.mode == "llm" and fallback is None:
            asked = ask_model(run, prompt)
            if isinstance(asked, str):
                # The planner answers this step and the rest of the turn. It reads the
                # buyer's last message and reuses the tool results the model already got.
                fallback = update["fallback"] = asked
            else:
                reply = asked
        if reply is None:
            model = run.model if fallback is None else stand_in(run, fallback)
            reply = model.bind_tools(tool_schemas()).invoke(prompt)
    except Exception as exc:
        # The planner itself failed (the store is down, say): end the turn with a plain
        # message; the conversation stays usable for the next one.
        log.warning("offline planner failed (%s)", type(exc).__name__, exc_info=True)
        reply = AIMessage(
            "The assistant could not answer just now "
            f"({type(exc).__name__}). Nothing was changed; please try again shortly."
        )
    update["messages"] = [reply]
    return update


def tools_node(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run the last message's tool calls; an action to approve is drafted and set aside."""
    run = runtime.context
    last = _last_ai(state)
    results: list[AnyMessage] = []
    pending: PendingApproval | None = None
    for call in last.tool_calls if last else []:
        name = call["name"]
        if name in APPROVAL_TOOLS and pending is not None:
            results.append(
                error_message(call["id"] or "", name, "one action awaits approval at a time")
            )
            continue
        message, output = run_tool(run, dict(call))
        if name in APPROVAL_TOOLS and output is not None:
            pending = PendingApproval(
                tool_call_id=call["id"] or "",
                tool=name,
                action=APPROVAL_TOOLS[name],
                draft=output.model_dump(mode="json"),
            )
            continue  # its result is the person's decision, given in the approval node
        results.append(message)
    return {"messages": results, "pending": pending}


def approval_node(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Stop until a person approves or rejects the drafted action, then record it."""
    pending = state.get("pending")
    assert pending is not None
    # Nothing before interrupt() has an effect: on resume this node runs again from the top.
    raw = interrupt(
        {
            "action": pending["action"],
            "tool": pending["tool"],
            "draft": pending["draft"],
            "question": "Approve or reject this action.",
        }
    )
    decision = Decision.model_validate(raw)
    message = apply_decision(runtime.context, pending, decision)
    return {"messages": [message], "pending": None}


def limit_node(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """End a turn that ran out of steps, answering its open calls."""
    last = _last_ai(state)
    limit = runtime.context.agent_settings.max_steps
    messages: list[AnyMessage] = [
        error_message(call["id"] or "", call["name"], "not run: the step limit was reached")
        for call in (last.tool_calls if last else [])
    ]
    messages.append(
        AIMessage(
            f"I stopped after {limit} steps without a complete answer. "
            "Please narrow the question (one item, supplier or RFQ at a time) and ask again."
        )
    )
    return {"messages": messages}


def route_after_agent(
    state: AgentState, runtime: Runtime[RunContext]
) -> Literal["tools", "limit", "__end__"]:
    """Run tools when asked, unless the turn is out of steps."""
    last = _last_ai(state)
    if last is None or not last.tool_calls:
        return "__end__"
    if state.get("steps", 0) >= runtime.context.agent_settings.max_steps:
        return "limit"
    return "tools"


def route_after_tools(state: AgentState) -> Literal["approval", "agent"]:
    """Go to approval when a tool drafted an action."""
    return "approval" if state.get("pending") else "agent"


def build_graph() -> StateGraph[AgentState, RunContext, AgentState, AgentState]:
    """Return the agent's graph, uncompiled: callers attach their checkpointer."""
    builder = StateGraph(AgentState, context_schema=RunContext)
    builder.add_node("agent", agent_node)
    builder.add_node("tools", tools_node)
    builder.add_node("approval", approval_node)
    builder.add_node("limit", limit_node)
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route_after_agent, ["tools", "limit", END])
    builder.add_conditional_edges("tools", route_after_tools, ["approval", "agent"])
    builder.add_edge("approval", "agent")
    builder.add_edge("limit", END)
    return builder
