"""ERP writes the agent drafted: list them, look one up, send an approved one again.

Drafting and approving happen in a conversation (``/chat/{thread}/approve``); this is
the operator's side: what was written where, what failed and why, and a resend.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CallerDep, ServicesDep, TenantDep
from api.inputs import MAX_ID
from tools.erp_actions import ErpActionDraft, get_erp_action, list_erp_actions, send_erp_action

router = APIRouter(prefix="/erp", tags=["erp"])

Status = Literal[
    "pending_approval", "rejected", "abandoned", "approved", "sending", "sent", "failed"
]
ActionId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="The action's id.")]


class SendRequest(BaseModel):
    """How to send: ``force`` also sends one left ``sending`` by a crash."""

    model_config = ConfigDict(extra="forbid")

    force: bool = Field(
        default=False,
        description="Send even if a previous attempt's outcome is unknown; check the ERP "
        "for the action's reference (PA-<id>) first.",
    )


@router.get("/actions", summary="List the ERP writes the agent drafted")
def list_actions(
    tenant: TenantDep,
    status: Annotated[Status | None, Query(description="Only this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ErpActionDraft]:
    """Requisitions and contract price changes, newest first, with what the ERP answered."""
    return list_erp_actions(tenant.tool_context(), status=status, limit=limit)


@router.get("/actions/{action_id}", summary="One ERP write")
def get_action(action_id: ActionId, tenant: TenantDep) -> ErpActionDraft:
    """What the write holds, field by field as the ERP gets it, and where it stands."""
    return get_erp_action(tenant.tool_context(), action_id)


@router.post("/actions/{action_id}/send", summary="Send an approved ERP write again")
def send_action(
    action_id: ActionId, caller: CallerDep, svc: ServicesDep, body: SendRequest | None = None
) -> ErpActionDraft:
    """Send an approved write whose first attempt failed (the ERP was down, say).

    A write that was sent, rejected or is still waiting for approval is refused (409).
    The answer is the action afterwards: ``sent`` with the ERP's document number, or
    ``failed`` with the ERP's reason.
    """
    caller.require("buyer", "send ERP writes")
    return send_erp_action(
        svc.database.session_scope,
        caller.org_id,
        action_id,
        connectors=svc.erp_connectors,
        actor=caller.actor,
        force=body.force if body else False,
    )
