"""A person's decision on an action the agent drafted, and recording it."""

from __future__ import annotations

import json
from typing import Literal

from langchain_core.messages import ToolMessage
from pydantic import BaseModel, Field

from agent.context import RunContext
from agent.state import PendingApproval
from core.errors import PricingAgentError
from tools.counter_offer import CounterOfferDecision, decide_counter_offer


class Decision(BaseModel):
    """Approve or reject the action a turn is waiting on."""

    approved: bool
    by: str | None = Field(default=None, description="Who decided; default the thread's user.")
    note: str | None = Field(default=None, max_length=2000)
    outcome: Literal["approved", "rejected", "abandoned"] | None = None


def apply_decision(run: RunContext, pending: PendingApproval, decision: Decision) -> ToolMessage:
    """Record the decision on the drafted action (audited) and return the call's result."""
    draft_id = int(pending["draft"]["id"])
    who = decision.by or run.user_id
    try:
        with run.session_factory(run.org_id) as session:
            decided = decide_counter_offer(
                run.tool_context(session, actor=who),
                draft_id,
                CounterOfferDecision(
                    approved=decision.approved, by=who, note=decision.note, outcome=decision.outcome
                ),
            )
    except PricingAgentError as exc:
        return ToolMessage(
            content=f"ERROR: {type(exc).__name__}: {exc}",
            tool_call_id=pending["tool_call_id"],
            name=pending["tool"],
            status="error",
        )
    result = decided.model_dump(mode="json")
    result["decision"] = {"approved": decision.approved, "by": who, "note": decision.note}
    if decided.status == "approved":
        # No supplier channel is connected yet (the integrations issue brings one): the
        # approved offer is recorded and handed to whoever sends it.
        result["delivery"] = "approved and recorded; no outbound channel is configured yet"
    return ToolMessage(
        content=json.dumps(result),
        tool_call_id=pending["tool_call_id"],
        name=pending["tool"],
        artifact=result,
    )
