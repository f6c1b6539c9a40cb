"""The graph's state: the conversation, this turn's step count, fallback and pending approval."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class PendingApproval(TypedDict):
    """An action drafted by a tool that waits for a person's decision."""

    tool_call_id: str
    tool: str
    action: str
    draft: dict[str, Any]


class AgentState(TypedDict, total=False):
    """Conversation memory (checkpointed per thread) and this turn's bookkeeping."""

    messages: Annotated[list[AnyMessage], add_messages]
    steps: int
    pending: PendingApproval | None
    fallback: str | None  # why the offline planner stands in for the model this turn
