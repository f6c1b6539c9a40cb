"""The LangGraph agent: ``run_turn`` and ``stream_turn`` are the only entries the faces use."""

from agent.approvals import Decision
from agent.graph import build_graph
from agent.runner import (
    ApprovalRequest,
    ToolCallRecord,
    TurnEvent,
    TurnResult,
    run_turn,
    stream_turn,
)

__all__ = [
    "ApprovalRequest",
    "Decision",
    "ToolCallRecord",
    "TurnEvent",
    "TurnResult",
    "build_graph",
    "run_turn",
    "stream_turn",
]
