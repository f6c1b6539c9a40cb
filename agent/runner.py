"""One turn of a conversation: ``run_turn`` and ``stream_turn``, the only entries the faces use."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from pydantic import BaseModel, Field
from typing_extensions import Unpack

from agent.approvals import Decision
from agent.context import Mode, ModelMode, RunContext, SessionFactory
from agent.graph import build_graph
from agent.llm import endpoint_key, make_chat_model
from agent.planner.answer import fallback_note, money
from agent.planner.lexicon import Lexicon, load_lexicon
from agent.planner.model import OfflinePlanner
from agent.settings import AgentSettings, get_agent_settings
from core.errors import ConflictError, InvalidInputError
from core.settings import Settings
from store import agent_memory, locks, threads
from store.db import Database
from tools.erp_actions import ConnectorFactory

MAX_MESSAGE_CHARS = 8_000
ABANDONED = Decision(
    approved=False, outcome="abandoned", note="the buyer asked something else instead of deciding"
)


class ToolCallRecord(BaseModel):
    """A tool the turn called, with its arguments and whether it worked."""

    name: str
    args: dict[str, Any]
    ok: bool = True
    error: str | None = None


class ApprovalRequest(BaseModel):
    """An action that waits for a person: approve or reject it with ``decision``."""

    action: str
    tool: str
    draft: dict[str, Any]
    question: str


class TurnResult(BaseModel):
    """What one turn produced."""

    answer: str
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    thread_id: str
    mode: Mode = Field(
        description=(
            "llm: the language model answered; offline: no model is configured; "
            "offline-fallback: the model failed and the offline planner answered."
        )
    )
    fallback_reason: str | None = Field(
        default=None,
        description="With offline-fallback, why: 'timed out after 30 s', 'rate-limited, HTTP 429'.",
    )
    pending_approval: ApprovalRequest | None = None
    results: list[dict[str, Any]] = Field(
        default_factory=list, description="Each successful tool's structured output, by name."
    )

    def cli_json(self) -> dict[str, Any]:
        """The one-object form ``pricing-agent ask --json`` prints."""
        out: dict[str, Any] = {
            "answer": self.answer,
            "tool_calls": [{"name": c.name, "args": c.args} for c in self.tool_calls],
            "thread_id": self.thread_id,
            "mode": self.mode,
        }
        if self.pending_approval is not None:
            out["pending_approval"] = self.pending_approval.model_dump(mode="json")
        return out


class TurnEvent(BaseModel):
    """One event of a streamed turn."""

    type: Literal["token", "tool_call", "tool_result", "approval_required", "done"]
    text: str | None = None
    name: str | None = None
    args: dict[str, Any] | None = None
    ok: bool | None = None
    output: dict[str, Any] | None = Field(
        default=None, description="With a successful tool_result: the tool's structured output."
    )
    result: TurnResult | None = None


class TurnOptions(TypedDict, total=False):
    """The optional parts of a turn, shared by ``run_turn`` and ``stream_turn``."""

    thread_id: str | None  # continue this conversation; default a new one
    as_of: dt.date | None  # the date the question is asked as of; default today
    settings: Settings | None  # default the database's settings
    agent_settings: AgentSettings | None
    decision: Decision | None  # approve or reject the action the thread waits on
    model: BaseChatModel | None  # a chat model to use instead of the configured one
    session_factory: SessionFactory | None  # default ``database.session_scope``
    erp_connectors: ConnectorFactory | None  # for approved ERP writes; default from settings


@contextmanager
def _turn(
    message: str | None,
    *,
    database: Database,
    org_id: uuid.UUID,
    user_id: str,
    **options: Unpack[TurnOptions],
) -> Iterator[tuple[Any, Any, RunnableConfig, RunContext, int]]:
    """Hold the conversation for this turn, then open it; yield what to run."""
    options["thread_id"] = options.get("thread_id") or threads.new_thread_id()
    # One turn at a time per conversation (a double-sent Slack message, two tabs): the
    # second is refused at once rather than racing the first on the same memory.
    with (
        locks.exclusive(
            database,
            f"turn:{org_id}:{options['thread_id']}",
            "this conversation is still answering the previous message; try again when done",
        ),
        _open_turn(message, database=database, org_id=org_id, user_id=user_id, **options) as opened,
    ):
        yield opened


@contextmanager
def _open_turn(
    message: str | None,
    *,
    database: Database,
    org_id: uuid.UUID,
    user_id: str,
    **options: Unpack[TurnOptions],
) -> Iterator[tuple[Any, Any, RunnableConfig, RunContext, int]]:
    """Open the thread, its checkpointer and the compiled graph; yield what to run."""
    if message is not None:
        message = message.strip()
        if not message:
            raise InvalidInputError("the message is empty")
        if "\x00" in message:
            raise InvalidInputError("the message contains a NUL character")
        if len(message) > MAX_MESSAGE_CHARS:
            raise InvalidInputError(f"the message is longer than {MAX_MESSAGE_CHARS} characters")
    decision = options.get("decision")
    if message is None and decision is None:
        raise InvalidInputError("give a message, or a decision on the pending action")
    if not user_id.strip():
        raise InvalidInputError("a turn needs the user who asks")
    settings = options.get("settings") or database.settings
    agent_settings = options.get("agent_settings") or get_agent_settings()
    factory: SessionFactory = options.get("session_factory") or database.session_scope
    thread_id = options.get("thread_id") or threads.new_thread_id()
    with factory(org_id) as session:
        threads.claim_thread(
            session=session,
            org_id=org_id,
            thread_id=thread_id,
            user_id=user_id,
            title=(message or "")[:120] or None,
        )

    @functools.cache  # read once per turn, whether for the planner or its stand-in
    def lexicon() -> Lexicon:
        with factory(org_id) as session:
            return load_lexicon(session, org_id)

    as_of = options.get("as_of") or dt.datetime.now(dt.UTC).date()
    model = options.get("model")
    mode: ModelMode
    endpoint: str | None = None
    if model is None:
        model, mode = make_chat_model(settings, lexicon, as_of=as_of)
        endpoint = endpoint_key(settings) if mode == "llm" else None
    else:
        mode = "offline" if isinstance(model, OfflinePlanner) else "llm"
    run = RunContext(
        org_id=org_id,
        user_id=user_id,
        thread_id=thread_id,
        session_factory=factory,
        model=model,
        mode=mode,
        settings=settings,
        agent_settings=agent_settings,
        as_of=as_of,
        lexicon=lexicon,
        llm_endpoint=endpoint,
        erp_connectors=options.get("erp_connectors"),
    )
    config = RunnableConfig(
        configurable={"thread_id": agent_memory.thread_key(org_id, thread_id)},
        recursion_limit=agent_settings.max_steps * 3 + 10,
    )
    with agent_memory.checkpointer(database, org_id) as saver:
        graph = build_graph().compile(checkpointer=saver)
        snapshot = graph.get_state(config)
        waiting = bool(snapshot.interrupts)
        if decision is not None:
            if not waiting:
                raise ConflictError("nothing in this conversation is waiting for approval")
            payload: Any = Command(resume=decision.model_dump())
        else:
            if waiting:
                # A new question instead of a decision: the draft is abandoned, never sent.
                abandon: Command[Any] = Command(resume=ABANDONED.model_dump())
                graph.invoke(abandon, config, context=run)
            payload = {
                "messages": [HumanMessage(message or "")],
                "steps": 0,
                "pending": None,
                "fallback": None,
            }
        before = len(graph.get_state(config).values.get("messages", []))
        yield graph, payload, config, run, before


def _result(graph: Any, config: RunnableConfig, run: RunContext, before: int) -> TurnResult:
    snapshot = graph.get_state(config)
    messages: list[AnyMessage] = list(snapshot.values.get("messages", []))[before:]
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    calls: list[ToolCallRecord] = []
    outputs: list[dict[str, Any]] = []
    answer = ""
    for message in messages:
        if isinstance(message, AIMessage):
            if message.content and not message.tool_calls:
                answer = str(message.content)
            for call in message.tool_calls:
                reply = results.get(call["id"] or "")
                failed = reply is not None and reply.status == "error"
                calls.append(
                    ToolCallRecord(
                        name=call["name"],
                        args=dict(call["args"]),
                        ok=not failed,
                        error=str(reply.content) if failed and reply is not None else None,
                    )
                )
                if reply is not None and not failed and isinstance(reply.artifact, dict):
                    outputs.append({"tool": call["name"], "output": reply.artifact})
    fallback: str | None = snapshot.values.get("fallback")
    mode: Mode = "offline-fallback" if fallback else run.mode
    pending = None
    if snapshot.interrupts:
        value = snapshot.interrupts[0].value
        pending = ApprovalRequest.model_validate(value)
        answer = _approval_text(pending, mode, fallback)
    return TurnResult(
        answer=answer,
        tool_calls=calls,
        thread_id=run.thread_id,
        mode=mode,
        fallback_reason=fallback,
        pending_approval=pending,
        results=outputs,
    )


def _approval_text(pending: ApprovalRequest, mode: Mode, fallback: str | None = None) -> str:
    draft = pending.draft
    if pending.tool == "draft_counter_offer":
        price = draft.get("price", {})
        text = (
            f"I drafted counter-offer #{draft.get('id')} to {draft.get('supplier')} for "
            f"{draft.get('item_name')} ({draft.get('item_code')}) at {money(price)}. "
            "It has NOT been sent: approve or reject it.\n\n"
            f"{draft.get('message', '')}"
        )
    else:
        text = (
            f"I drafted ERP action #{draft.get('id')}: {draft.get('summary')}. "
            f"Nothing has been written to {draft.get('system_name')}: approve or reject it."
            f"\n\n{draft.get('message', '')}"
        )
    if mode == "offline":
        text += "\n\n(Offline planner: no language model is configured.)"
    elif mode == "offline-fallback" and fallback:
        text += "\n\n" + fallback_note(fallback)
    return text


def run_turn(
    message: str | None,
    *,
    database: Database,
    org_id: uuid.UUID,
    user_id: str,
    **options: Unpack[TurnOptions],
) -> TurnResult:
    """Answer one message (or apply a decision on a pending action) in a thread."""
    with _turn(message, database=database, org_id=org_id, user_id=user_id, **options) as (
        graph,
        payload,
        config,
        run,
        before,
    ):
        graph.invoke(payload, config, context=run)
        return _result(graph, config, run, before)


def stream_turn(
    message: str | None,
    *,
    database: Database,
    org_id: uuid.UUID,
    user_id: str,
    **options: Unpack[TurnOptions],
) -> Iterator[TurnEvent]:
    """Run one turn, yielding answer tokens and tool steps as they happen, then ``done``."""
    with _turn(message, database=database, org_id=org_id, user_id=user_id, **options) as (
        graph,
        payload,
        config,
        run,
        before,
    ):
        for mode, chunk in graph.stream(
            payload, config, context=run, stream_mode=["messages", "updates"]
        ):
            if mode == "messages":
                token, meta = chunk
                if (
                    isinstance(token, AIMessageChunk)
                    and meta.get("langgraph_node") == "agent"
                    and token.content
                    and not token.tool_call_chunks
                ):
                    yield TurnEvent(type="token", text=str(token.content))
                continue
            for node, update in (chunk or {}).items():
                yield from _step_events(node, update)
        result = _result(graph, config, run, before)
        if result.pending_approval is not None:
            yield TurnEvent(type="approval_required", text=result.answer)
        yield TurnEvent(type="done", result=result)


def _step_events(node: str, update: Any) -> Iterator[TurnEvent]:
    if not isinstance(update, dict):
        return
    for message in update.get("messages") or []:
        if node == "agent" and isinstance(message, AIMessage):
            for call in message.tool_calls:
                yield TurnEvent(type="tool_call", name=call["name"], args=dict(call["args"]))
        elif isinstance(message, ToolMessage):
            ok = message.status != "error"
            yield TurnEvent(
                type="tool_result",
                name=message.name,
                ok=ok,
                text=str(message.content)[:500],
                output=message.artifact if ok and isinstance(message.artifact, dict) else None,
            )
