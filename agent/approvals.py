"""A person's decision on an action the agent drafted, and recording (and sending) it."""

from __future__ import annotations

import json
from typing import Any, Literal

from langchain_core.messages import ToolMessage
from pydantic import BaseModel, Field

from agent.context import RunContext
from agent.state import PendingApproval
from core.errors import PricingAgentError
from tools.base import ApprovalDecision
from tools.counter_offer import decide_counter_offer
from tools.erp_actions import (
    ErpActionDraft,
    build_connector,
    decide_erp_action,
    send_erp_action,
    system_name,
)

ERP_WRITE_TOOLS = frozenset({"draft_requisition", "draft_contract_price_update"})
"""Drafting tools whose approved action is a write to an ERP."""


class Decision(BaseModel):
    """Approve or reject the action a turn is waiting on."""

    approved: bool
    by: str | None = Field(default=None, description="Who decided; default the thread's user.")
    note: str | None = Field(default=None, max_length=2000)
    outcome: Literal["approved", "rejected", "abandoned"] | None = None


def apply_decision(run: RunContext, pending: PendingApproval, decision: Decision) -> ToolMessage:
    """Record the decision on the drafted action (audited), carry it out, return the result."""
    draft_id = int(pending["draft"]["id"])
    who = decision.by or run.user_id
    decided = ApprovalDecision(
        approved=decision.approved, by=who, note=decision.note, outcome=decision.outcome
    )
    try:
        if pending["tool"] in ERP_WRITE_TOOLS:
            result = _erp_write(run, draft_id, decided)
        else:
            result = _counter_offer(run, draft_id, decided)
    except PricingAgentError as exc:
        return ToolMessage(
            content=f"ERROR: {type(exc).__name__}: {exc}",
            tool_call_id=pending["tool_call_id"],
            name=pending["tool"],
            status="error",
        )
    result["decision"] = {"approved": decision.approved, "by": who, "note": decision.note}
    return ToolMessage(
        content=json.dumps(result),
        tool_call_id=pending["tool_call_id"],
        name=pending["tool"],
        artifact=result,
    )


def _counter_offer(run: RunContext, offer_id: int, decision: ApprovalDecision) -> dict[str, Any]:
    with run.session_factory(run.org_id) as session:
        ctx = run.tool_context(session, actor=decision.by)
        offer = decide_counter_offer(ctx, offer_id, decision)
    result = offer.model_dump(mode="json")
    if offer.status == "approved":
        # No supplier channel is connected: the approved offer is recorded and handed to
        # whoever sends it.
        result["delivery"] = "approved and recorded; no outbound channel is configured yet"
    return result


def _erp_write(run: RunContext, action_id: int, decision: ApprovalDecision) -> dict[str, Any]:
    # The decision commits first: the ERP is called only for an approval on record.
    with run.session_factory(run.org_id) as session:
        ctx = run.tool_context(session, actor=decision.by)
        action = decide_erp_action(ctx, action_id, decision)
    not_started = None
    if action.status == "approved":
        try:
            action = send_erp_action(
                run.session_factory,
                run.org_id,
                action_id,
                connectors=run.erp_connectors or build_connector,
                actor=decision.by,
            )
        except PricingAgentError as exc:
            # The approval stands; only the send did not start (another sender got there
            # first, or the store went away).
            not_started = str(exc)
    result = action.model_dump(mode="json")
    result["delivery"] = _delivery(action, not_started)
    return result


def _delivery(action: ErpActionDraft, not_started: str | None) -> str | None:
    """One sentence on what became of an approved write."""
    name = system_name(action.system)
    if not_started is not None:
        return (
            f"approved, but sending did not start ({not_started}); "
            f"`pricing-agent erp actions` shows where #{action.id} stands"
        )
    if action.status == "sent":
        done = (
            f"created in {name} as {action.external_id}"
            if action.action == "create_requisition"
            else f"changed in {name} on contract {action.contract_number} line {action.line}"
        )
        return done + (f" ({action.erp_message})" if action.erp_message else "")
    if action.status == "failed":
        return (
            f"approved, but not written to {name}: {action.error}. It is kept as failed; "
            f"an operator can send it again with `pricing-agent erp send {action.id}`."
        )
    if action.status == "sending":
        return (
            f"approved and sent, but {name}'s answer was lost: {action.error}. Look for "
            f"{action.reference} in {name} before sending it again "
            f"(`pricing-agent erp send {action.id} --force`)."
        )
    return None
