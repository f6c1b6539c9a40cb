"""Writes to an ERP that a person approves: recording them, deciding, sending, listing.

The two drafting tools (``draft_requisition``, ``draft_contract_price_update``) store an
``erp_actions`` row holding exactly what would be sent, in the ERP's own codes, as
``pending_approval``. Nothing reaches an ERP before ``decide_erp_action`` records an
approval; ``send_erp_action`` then sends it:

1. In one transaction the row is locked, checked and set to ``sending`` (committed), so
   a second sender is refused and a crash leaves a visible "outcome unknown".
2. The ERP is called outside any transaction.
3. The answer (the ERP's document number, or why it refused) is recorded and audited.

A failed send stays ``failed`` with the ERP's words and can be sent again
(``pricing-agent erp send N``); a row left ``sending`` needs ``force``, after a person
has checked the ERP for the reference ``PA-<id>`` every write carries.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import (
    ConflictError,
    NotFoundError,
    PricingAgentError,
    WriteOutcomeUnknownError,
)
from integrations.base import ContractPriceUpdate, ERPConnector, RequisitionDraft, WriteResult
from store import audit
from store.models import ErpAction, Item, Supplier, SupplierAlias
from tools.base import ApprovalDecision, Evidence, Money, ToolContext, record_decision

log = logging.getLogger(__name__)

ActionKind = Literal["create_requisition", "update_contract_price"]
ConnectorFactory = Callable[[str], ERPConnector]
"""Builds the connector of an ERP by system name (``integrations.connectors.build_connector``)."""
SessionFactory = Callable[[uuid.UUID], AbstractContextManager[Session]]

# A send with no answer recorded may still be waiting on its ERP (timeouts and retries):
# forcing a second one is refused until this long after it started.
SEND_MAY_STILL_RUN = dt.timedelta(minutes=15)

# Prices go to an ERP with up to six decimals (the store keeps every digit it was given).
PRICE_PLACES = Decimal("0.000001")
SYSTEM_NAMES = {"sap": "SAP S/4HANA", "ebs": "Oracle EBS", "d365": "Dynamics 365"}


def build_connector(system: str) -> ERPConnector:
    """The configured connector of ``system`` (the default ``ConnectorFactory``)."""
    from integrations.connectors import build_connector as build

    return build(system)


def trim(value: Decimal) -> Decimal:
    """``value`` without trailing zeros, never in exponent form (120, not 1.2E+2)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def exact(amount: Decimal) -> str:
    """An amount as it is sent: every digit, at least cents, thousands separated."""
    places = max(2, -int(amount.normalize().as_tuple().exponent))
    return f"{amount:,.{places}f}"


def vendor_code(ctx: ToolContext, supplier_id: int, system: str) -> str | None:
    """The supplier's vendor number in ``system`` (the lowest, if it has several)."""
    return ctx.session.scalar(
        select(SupplierAlias.external_code)
        .where(
            SupplierAlias.org_id == ctx.org_id,
            SupplierAlias.supplier_id == supplier_id,
            SupplierAlias.system == system,
        )
        .order_by(SupplierAlias.external_code)
        .limit(1)
    )


def system_name(system: str) -> str:
    """The ERP's name as a buyer knows it."""
    return SYSTEM_NAMES.get(system, system)


def reference(action_id: int) -> str:
    """The reference every write carries into the ERP, to find it there again."""
    return f"PA-{action_id}"


class ErpActionDraft(BaseModel):
    """A write to an ERP: what will be (or was) sent, and where it stands."""

    id: int
    action: ActionKind
    system: str = Field(description="sap, ebs or d365.")
    system_name: str
    status: str = Field(
        description="pending_approval, rejected, abandoned, approved, sending, sent or failed."
    )
    summary: str = Field(description="One line: what the write does.")
    message: str = Field(description="The write field by field, as the ERP will receive it.")
    reference: str = Field(description="Carried into the ERP document to find it again.")
    item_code: str
    item_name: str
    erp_item_code: str
    supplier: str | None
    erp_supplier_code: str | None
    quantity: Decimal | None = Field(description="Requisition quantity, in the ERP's unit.")
    price: Money = Field(description="Unit price sent, per the ERP's unit (catalogue code).")
    erp_unit: str = Field(description="The unit as the ERP spells it.")
    previous_price: Money | None = Field(description="The contract line's price before.")
    change_pct: Decimal | None = Field(description="New against previous price, in percent.")
    contract_number: str | None
    line: str | None
    need_by: dt.date | None = Field(description="Requisition: the date the goods are needed.")
    valid_from: dt.date | None = Field(description="Contract change: the date it starts.")
    plant: str | None
    external_id: str | None = Field(description="The ERP's document number, once sent.")
    erp_message: str | None
    error: str | None = Field(description="Why the ERP refused, if it did.")
    requires_approval: bool
    evidence: list[Evidence]


# --------------------------------------------------------------------------- recording


def record_action(
    ctx: ToolContext,
    *,
    kind: ActionKind,
    system: str,
    item: Item,
    supplier: Supplier | None,
    payload: Callable[[int], dict[str, Any]],
    summary: str,
    basis: dict[str, Any],
) -> ErpAction:
    """Store a drafted write (``payload`` is built from the new id) and audit it."""
    action = ErpAction(
        org_id=ctx.org_id,
        thread_id=ctx.thread_id,
        kind=kind,
        system=system,
        item_id=item.id,
        supplier_id=supplier.id if supplier is not None else None,
        payload={},
        summary=summary,
        basis=basis,
        created_by=ctx.actor,
    )
    ctx.session.add(action)
    ctx.session.flush()
    action.payload = payload(action.id)
    ctx.session.flush()
    audit.record(
        session=ctx.session,
        org_id=ctx.org_id,
        actor=ctx.actor,
        action="erp_action.drafted",
        entity="erp_actions",
        entity_ids=[action.id],
        details={"kind": kind, "system": system, "payload": action.payload},
    )
    return action


def _money(value: dict[str, Any] | None) -> Money | None:
    if not value:
        return None
    return Money(
        amount=Decimal(str(value["amount"])), currency=value["currency"], unit=value["unit"]
    )


def view(ctx: ToolContext, action: ErpAction) -> ErpActionDraft:
    """The action as the faces show it."""
    item = ctx.session.get(Item, (ctx.org_id, action.item_id))
    supplier = (
        ctx.session.get(Supplier, (ctx.org_id, action.supplier_id))
        if action.supplier_id is not None
        else None
    )
    assert item is not None
    payload, basis = action.payload, action.basis
    price = _money(basis.get("price"))
    assert price is not None
    quantity = payload.get("quantity")
    change = basis.get("change_pct")
    need_by, valid_from = payload.get("need_by_date"), payload.get("valid_from")
    return ErpActionDraft(
        id=action.id,
        action=action.kind,
        system=action.system,
        system_name=system_name(action.system),
        status=action.status,
        summary=action.summary,
        message=basis.get("message", action.summary),
        reference=reference(action.id),
        item_code=item.code,
        item_name=item.name,
        erp_item_code=str(payload.get("item_code") or basis.get("erp_item_code") or ""),
        supplier=supplier.name if supplier is not None else None,
        erp_supplier_code=payload.get("supplier_code") or basis.get("erp_supplier_code"),
        quantity=Decimal(quantity) if quantity is not None else None,
        price=price,
        erp_unit=str(payload.get("unit", "")),
        previous_price=_money(basis.get("previous_price")),
        change_pct=Decimal(change) if change is not None else None,
        contract_number=payload.get("contract_number"),
        line=payload.get("line_number"),
        need_by=dt.date.fromisoformat(need_by) if need_by else None,
        valid_from=dt.date.fromisoformat(valid_from) if valid_from else None,
        plant=payload.get("plant"),
        external_id=action.external_id,
        erp_message=action.erp_message,
        error=action.error,
        requires_approval=action.status == "pending_approval",
        evidence=[Evidence.model_validate(e) for e in basis.get("evidence", [])],
    )


def _locked(ctx: ToolContext, action_id: int) -> ErpAction:
    action = ctx.session.scalar(
        select(ErpAction)
        .where(ErpAction.org_id == ctx.org_id, ErpAction.id == action_id)
        .with_for_update()
    )
    if action is None:
        raise NotFoundError(f"no ERP action {action_id}")
    return action


# --------------------------------------------------------------------------- deciding


def decide_erp_action(
    ctx: ToolContext, action_id: int, decision: ApprovalDecision
) -> ErpActionDraft:
    """Record a person's approval or rejection of a drafted ERP write, with an audit entry.

    An approval does not send: ``send_erp_action`` does, after this transaction commits.
    """
    action = _locked(ctx, action_id)
    record_decision(
        ctx, action, decision, table="erp_actions", label="erp_action", what="ERP action"
    )
    return view(ctx, action)


# --------------------------------------------------------------------------- sending


def _request(action: ErpAction) -> RequisitionDraft | ContractPriceUpdate:
    p = action.payload
    day = dt.date.fromisoformat
    if action.kind == "create_requisition":
        return RequisitionDraft(
            item_code=p["item_code"],
            quantity=Decimal(p["quantity"]),
            unit=p["unit"],
            unit_price=Decimal(p["unit_price"]),
            currency=p["currency"],
            supplier_code=p.get("supplier_code"),
            need_by_date=day(p["need_by_date"]) if p.get("need_by_date") else None,
            plant=p.get("plant"),
            note=p.get("note"),
        )
    return ContractPriceUpdate(
        contract_number=p["contract_number"],
        line_number=p["line_number"],
        unit_price=Decimal(p["unit_price"]),
        currency=p["currency"],
        unit=p["unit"],
        valid_from=day(p["valid_from"]) if p.get("valid_from") else None,
    )


@dataclass(frozen=True)
class _Answer:
    """What came of one attempt: sent (with the ERP's answer), failed, or unknown."""

    outcome: Literal["sent", "failed", "unknown"]
    result: WriteResult | None = None
    error: str | None = None


def _call(
    connectors: ConnectorFactory,
    system: str,
    action_id: int,
    request: RequisitionDraft | ContractPriceUpdate,
) -> _Answer:
    """Send one write and say what came of it (never raises)."""
    name = system_name(system)
    try:
        connector = connectors(system)
    except PricingAgentError as exc:
        return _Answer("failed", error=f"{name} is not reachable: {exc}")
    try:
        if isinstance(request, RequisitionDraft):
            result = connector.create_requisition(request)
        else:
            result = connector.update_contract_price(request)
    except WriteOutcomeUnknownError as exc:
        return _Answer("unknown", error=f"{name} may or may not have taken the write: {exc}")
    except PricingAgentError as exc:
        return _Answer("failed", error=f"{name} did not take the write: {exc}")
    except Exception as exc:
        # The buyer gets a plain message; the operator gets the traceback.
        log.exception("ERP action %s: %s write failed", action_id, system)
        return _Answer(
            "failed",
            error=f"{name} write failed unexpectedly ({type(exc).__name__}); it was logged",
        )
    finally:
        connector.close()
    # Logged before it is stored: if storing fails, the ERP's document is still on record.
    log.info("ERP action %s: %s answered %s", action_id, system, result)
    return _Answer("sent", result=result)


def _may_send(action: ErpAction, force: bool, now: dt.datetime) -> None:
    """Refuse a send the action's state does not allow, saying what to do instead."""
    if action.status in ("approved", "failed"):
        return
    if action.status != "sending":
        raise ConflictError(f"ERP action {action.id} is {action.status}")
    look = (
        f"look for {reference(action.id)} in {system_name(action.system)}"
        if action.kind == "create_requisition"
        else f"look at contract {action.payload.get('contract_number')} in "
        f"{system_name(action.system)}"
    )
    if not force:
        raise ConflictError(
            f"ERP action {action.id} is sending and its outcome is unknown: {look}, "
            "then send again with force if it is not there"
        )
    started = action.last_attempt_at
    if action.error is None and started is not None and now - started < SEND_MAY_STILL_RUN:
        # No answer recorded yet and the attempt is recent: it may still be running.
        raise ConflictError(
            f"ERP action {action.id} was sent at {started:%Y-%m-%d %H:%M:%S} UTC and may "
            f"still be running; force is refused until {SEND_MAY_STILL_RUN} after it"
        )


def send_erp_action(
    sessions: SessionFactory,
    org_id: uuid.UUID,
    action_id: int,
    *,
    connectors: ConnectorFactory,
    actor: str,
    force: bool = False,
) -> ErpActionDraft:
    """Send an approved (or failed) ERP write and record the ERP's answer.

    A write whose answer was lost stays ``sending``: ``force`` sends it again, only
    after a person has checked the ERP (the first attempt may have arrived).
    """
    now = dt.datetime.now(dt.UTC)
    with sessions(org_id) as session:
        ctx = ToolContext(session=session, org_id=org_id, actor=actor)
        action = _locked(ctx, action_id)
        _may_send(action, force, now)
        resend = action.attempts > 0
        system, request = action.system, _request(action)
        action.status = "sending"
        action.attempts += 1
        action.last_attempt_at = now
        action.error = None
        attempt = action.attempts
        if resend:
            _audit(ctx, action_id, "resent", {"attempt": attempt, "forced": force})
    answer = _call(connectors, system, action_id, request)
    with sessions(org_id) as session:
        ctx = ToolContext(session=session, org_id=org_id, actor=actor)
        action = _locked(ctx, action_id)
        if action.attempts != attempt:
            # A forced later attempt owns the row now; this answer goes to the audit only.
            _audit(ctx, action_id, "late_answer", _details(answer, attempt))
            return view(ctx, action)
        if answer.result is not None:
            action.status = "sent"
            action.sent_at = dt.datetime.now(dt.UTC)
            action.external_id = answer.result.document_id
            action.erp_message = answer.result.message
        else:
            # An unknown outcome stays "sending" (only force sends it again); a refusal fails.
            action.status = "sending" if answer.outcome == "unknown" else "failed"
            action.error = answer.error
        _audit(ctx, action_id, answer.outcome, _details(answer, attempt))
        session.flush()
        return view(ctx, action)


def _details(answer: _Answer, attempt: int) -> dict[str, Any]:
    if answer.result is not None:
        return {
            "attempt": attempt,
            "document": answer.result.document_id,
            "message": answer.result.message,
        }
    return {"attempt": attempt, "error": answer.error}


def _audit(ctx: ToolContext, action_id: int, what: str, details: dict[str, Any]) -> None:
    audit.record(
        session=ctx.session,
        org_id=ctx.org_id,
        actor=ctx.actor,
        action=f"erp_action.{what}",
        entity="erp_actions",
        entity_ids=[action_id],
        details=details,
    )


# --------------------------------------------------------------------------- listing


def get_erp_action(ctx: ToolContext, action_id: int) -> ErpActionDraft:
    """One ERP write of the organisation, or NotFoundError."""
    action = ctx.session.scalar(
        select(ErpAction).where(ErpAction.org_id == ctx.org_id, ErpAction.id == action_id)
    )
    if action is None:
        raise NotFoundError(f"no ERP action {action_id}")
    return view(ctx, action)


def list_erp_actions(
    ctx: ToolContext, *, status: str | None = None, limit: int = 50
) -> list[ErpActionDraft]:
    """The organisation's ERP writes, newest first, optionally of one status."""
    query = select(ErpAction).where(ErpAction.org_id == ctx.org_id)
    if status is not None:
        query = query.where(ErpAction.status == status)
    rows = ctx.session.scalars(query.order_by(ErpAction.id.desc()).limit(limit)).all()
    return [view(ctx, row) for row in rows]
