"""ERP writes the agent drafts: what the draft holds, and what approving it sends.

Drafts are tried on the sample organisation (rolled back). Deciding and sending commit
between steps, so those tests use an organisation of their own and real transactions.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import (
    ConflictError,
    ExternalServiceError,
    InvalidInputError,
    NotFoundError,
    UnitConversionError,
    WriteOutcomeUnknownError,
)
from integrations.base import ContractPriceUpdate, RequisitionDraft, WriteResult
from integrations.fake import FakeConnector
from store.db import Database
from store.models import AuditLog, ErpAction, Item, Supplier
from tests import factories
from tests.conftest import AS_OF
from tools.base import ApprovalDecision, Money, ToolContext
from tools.erp_actions import decide_erp_action, list_erp_actions, send_erp_action
from tools.erp_contract_price import DraftContractPriceInput, draft_contract_price_update
from tools.erp_requisition import DraftRequisitionInput, draft_requisition
from tools.items import resolve_item
from tools.suppliers import resolve_supplier

REBAR = "703-06029"  # sample item, priced per lb


def _sap_rebar(ctx: ToolContext, *, erp_unit: str | None = "KG") -> tuple[Any, Any]:
    """Give the sample rebar a SAP material number (kept in KG) and Milestone a vendor number."""
    item = resolve_item(ctx, REBAR)
    supplier = resolve_supplier(ctx, "Milestone")
    factories.item_alias(
        ctx.session,
        ctx.org_id,
        item_id=item.id,
        system="sap",
        external_code="MAT-703",
        erp_unit=erp_unit,
    )
    factories.supplier_alias(
        ctx.session, ctx.org_id, supplier_id=supplier.id, system="sap", external_code="100045"
    )
    return item, supplier


# --------------------------------------------------------------------------- requisitions


def test_a_requisition_is_drafted_in_the_erps_own_codes_and_units(ctx: ToolContext):
    item, _ = _sap_rebar(ctx)

    draft = draft_requisition(
        ctx,
        DraftRequisitionInput(
            item=REBAR,
            quantity=Decimal("1000"),
            unit="lb",
            supplier="Milestone",
            unit_price=Decimal("2.00"),
            need_by=AS_OF + dt.timedelta(days=14),
            note="for the bridge deck",
        ),
    )

    # 1000 lb = 453.59237 kg, rounded up to SAP's three decimals; USD 2.00/lb = 4.409245/kg.
    assert (draft.system, draft.erp_item_code, draft.erp_unit) == ("sap", "MAT-703", "KG")
    assert draft.quantity == Decimal("453.593")
    assert draft.price.amount == Decimal("4.409245")
    assert (draft.price.currency, draft.price.unit) == ("USD", "kg")
    assert (draft.erp_supplier_code, draft.status) == ("100045", "pending_approval")
    assert draft.requires_approval
    row = ctx.session.get(ErpAction, (ctx.org_id, draft.id))
    assert row is not None
    assert row.payload == {
        "item_code": "MAT-703",
        "quantity": "453.593",
        "unit": "KG",
        "unit_price": "4.409245",
        "currency": "USD",
        "supplier_code": "100045",
        "need_by_date": (AS_OF + dt.timedelta(days=14)).isoformat(),
        "note": f"PA-{draft.id}: for the bridge deck",
    }
    assert "453.593 KG" in draft.message
    assert "(asked: 1,000 lb)" in draft.message
    assert f"PA-{draft.id}" in draft.message
    audited = ctx.session.scalars(
        select(AuditLog.action).where(
            AuditLog.entity == "erp_actions", AuditLog.entity_ids.contains([draft.id])
        )
    ).all()
    assert audited == ["erp_action.drafted"]
    assert item.code == draft.item_code


def test_without_a_price_the_contract_in_force_prices_it_and_names_the_supplier(
    ctx: ToolContext,
):
    item, supplier = _sap_rebar(ctx)
    contract = factories.contract(
        ctx.session, ctx.org_id, supplier_id=supplier.id, source_system="sap"
    )
    line = factories.contract_price(
        ctx.session,
        ctx.org_id,
        contract_id=contract.id,
        item_id=item.id,
        unit_price=Decimal("1.85"),
        unit="lb",
        min_quantity=Decimal(0),
        valid_from=AS_OF - dt.timedelta(days=30),
        line_no="10",
    )

    draft = draft_requisition(ctx, DraftRequisitionInput(item="MAT-703", quantity=Decimal(500)))

    assert draft.supplier == supplier.name
    assert draft.erp_supplier_code == "100045"
    # USD 1.85/lb in kg: 1.85 / 0.45359237.
    assert draft.price.amount == (Decimal("1.85") / Decimal("0.45359237")).quantize(
        Decimal("0.000001")
    )
    assert [e.ids for e in draft.evidence if e.kind == "contract"] == [[line.id]]
    assert "from contract" in draft.message


def test_without_a_price_or_contract_the_models_p50_is_used(ctx: ToolContext):
    _sap_rebar(ctx, erp_unit="LB")

    draft = draft_requisition(ctx, DraftRequisitionInput(item=REBAR, quantity=Decimal(20000)))

    assert draft.erp_unit == "LB"
    assert draft.quantity == Decimal(20000)
    assert Decimal("0.5") < draft.price.amount < Decimal("10")
    assert any(e.kind == "model" for e in draft.evidence)
    assert "model P50" in draft.message


def test_a_requisition_needs_an_item_the_erp_knows(ctx: ToolContext):
    with pytest.raises(InvalidInputError, match="not known in any ERP"):
        draft_requisition(ctx, DraftRequisitionInput(item=REBAR, quantity=Decimal(1)))
    item, _ = _sap_rebar(ctx)
    with pytest.raises(NotFoundError, match="no code in Dynamics 365"):
        draft_requisition(
            ctx, DraftRequisitionInput(item=REBAR, quantity=Decimal(1), system="d365")
        )
    factories.item_alias(
        ctx.session, ctx.org_id, item_id=item.id, system="d365", external_code="P-703"
    )
    with pytest.raises(InvalidInputError, match=r"known in Dynamics 365 \(P-703\), SAP"):
        draft_requisition(
            ctx, DraftRequisitionInput(item=REBAR, quantity=Decimal(1), unit_price=Decimal(2))
        )
    # Its code in one ERP picks that ERP.
    draft = draft_requisition(
        ctx, DraftRequisitionInput(item="P-703", quantity=Decimal(1), unit_price=Decimal(2))
    )
    assert (draft.system, draft.erp_item_code) == ("d365", "P-703")


def test_requisition_inputs_that_cannot_be_sent_are_refused(ctx: ToolContext):
    _sap_rebar(ctx)
    base = {"item": REBAR, "quantity": Decimal(10), "unit_price": Decimal(2)}
    with pytest.raises(InvalidInputError, match="in the past"):
        draft_requisition(ctx, DraftRequisitionInput(**base, need_by=AS_OF - dt.timedelta(days=1)))
    with pytest.raises(UnitConversionError, match="cannot convert"):
        draft_requisition(ctx, DraftRequisitionInput(**base, unit="m"))
    with pytest.raises(NotFoundError, match="no vendor number in SAP"):
        draft_requisition(ctx, DraftRequisitionInput(**base, supplier="Rieth-Riley"))
    assert ctx.session.scalar(select(ErpAction.id).where(ErpAction.org_id == ctx.org_id)) is None


# --------------------------------------------------------------------------- contract prices


def _contract(ctx: ToolContext) -> tuple[Any, Any, Any]:
    """SAP contract 4600000012: line 10 the rebar per kg, line 20 another item per lb."""
    item, supplier = _sap_rebar(ctx)
    contract = factories.contract(
        ctx.session,
        ctx.org_id,
        supplier_id=supplier.id,
        source_system="sap",
        contract_number="4600000012",
    )
    line = factories.contract_price(
        ctx.session,
        ctx.org_id,
        contract_id=contract.id,
        item_id=item.id,
        unit_price=Decimal("4.10"),
        unit="kg",
        line_no="00010",  # as SAP numbers its items
        erp_unit="KG",
    )
    factories.contract_price(
        ctx.session,
        ctx.org_id,
        contract_id=contract.id,
        item_id=factories.item(ctx.session, ctx.org_id, unit="lb").id,
        unit_price=Decimal("3.00"),
        unit="lb",
        line_no="20",
    )
    return contract, line, item


def test_a_contract_price_change_shows_old_new_and_the_change(ctx: ToolContext):
    _, line, _ = _contract(ctx)

    # The buyer speaks per lb; the line is kept per kg: USD 2.00/lb = 4.409245/kg.
    draft = draft_contract_price_update(
        ctx,
        DraftContractPriceInput(
            contract="4600000012", item=REBAR, unit_price=Decimal("2.00"), unit="lb"
        ),
    )

    assert (draft.contract_number, draft.line, draft.erp_unit) == ("4600000012", "00010", "KG")
    assert draft.previous_price == Money(amount=Decimal("4.10"), currency="USD", unit="kg")
    assert draft.price.amount == Decimal("4.409245")
    assert draft.change_pct == Decimal("7.54")
    assert "USD 4.10 → USD 4.409245 per KG (+7.54%)" in draft.message
    row = ctx.session.get(ErpAction, (ctx.org_id, draft.id))
    assert row is not None
    assert row.payload == {
        "contract_number": "4600000012",
        "line_number": "00010",
        "unit_price": "4.409245",
        "currency": "USD",
        "unit": "KG",
    }
    assert line.unit_price == Decimal("4.10")  # the store changes with the next sync


def test_a_contract_price_change_must_name_one_line_in_the_lines_currency(ctx: ToolContext):
    _contract(ctx)
    with pytest.raises(
        InvalidInputError, match=r"has 2 lines \(line 00010: 703-06029 at USD 4.10/kg; line 20"
    ):
        draft_contract_price_update(
            ctx, DraftContractPriceInput(contract="4600000012", unit_price=Decimal(4))
        )
    with pytest.raises(InvalidInputError, match="priced in USD; give the new price in USD"):
        draft_contract_price_update(
            ctx,
            DraftContractPriceInput(
                contract="4600000012", line="10", unit_price=Decimal(4), currency="EUR"
            ),
        )
    with pytest.raises(InvalidInputError, match=r"already at USD 4\.10/kg"):
        draft_contract_price_update(
            ctx,
            DraftContractPriceInput(contract="4600000012", line="10", unit_price=Decimal("4.1")),
        )
    with pytest.raises(NotFoundError, match="no contract '999'"):
        draft_contract_price_update(
            ctx, DraftContractPriceInput(contract="999", unit_price=Decimal(4))
        )


def test_a_standing_price_record_is_not_a_contract_to_change(ctx: ToolContext):
    item, supplier = _sap_rebar(ctx)
    record = factories.contract(
        ctx.session,
        ctx.org_id,
        supplier_id=supplier.id,
        source_system="sap",
        contract_number="PRICE:5300000001",
        attributes={"kind": "price_record"},
    )
    factories.contract_price(
        ctx.session, ctx.org_id, contract_id=record.id, item_id=item.id, line_no="1", unit="lb"
    )
    with pytest.raises(NotFoundError, match="no contract 'PRICE:5300000001'"):
        draft_contract_price_update(
            ctx, DraftContractPriceInput(contract="PRICE:5300000001", unit_price=Decimal(2))
        )


# --------------------------------------------------------------------------- approve and send


@pytest.fixture
def erp_org(database: Database, org_id: uuid.UUID) -> dict[str, Any]:
    """An organisation with one SAP item and vendor, committed."""
    with database.session_scope(org_id) as session:
        item = factories.item(session, org_id, code="STEEL-1", unit="kg")
        supplier = factories.supplier(session, org_id, code="ACME")
        factories.item_alias(
            session, org_id, item_id=item.id, system="sap", external_code="MAT-1", erp_unit="KG"
        )
        factories.supplier_alias(
            session, org_id, supplier_id=supplier.id, system="sap", external_code="100045"
        )
    return {"org_id": org_id}


def _draft(database: Database, org_id: uuid.UUID) -> int:
    with database.session_scope(org_id) as session:
        ctx = ToolContext(session=session, org_id=org_id, as_of=AS_OF, actor="agent:buyer")
        draft = draft_requisition(
            ctx,
            DraftRequisitionInput(
                item="STEEL-1", quantity=Decimal(250), supplier="ACME", unit_price=Decimal("1.2")
            ),
        )
    return draft.id


def _decide(database: Database, org_id: uuid.UUID, action_id: int, approved: bool) -> Any:
    with database.session_scope(org_id) as session:
        ctx = ToolContext(session=session, org_id=org_id, actor="buyer")
        return decide_erp_action(ctx, action_id, ApprovalDecision(approved=approved, by="buyer"))


def _audit(database: Database, org_id: uuid.UUID, action_id: int) -> list[str]:
    with database.session_scope(org_id) as session:
        return list(
            session.scalars(
                select(AuditLog.action)
                .where(AuditLog.entity == "erp_actions", AuditLog.entity_ids.contains([action_id]))
                .order_by(AuditLog.id)
            )
        )


def test_an_approved_requisition_is_sent_once_and_its_number_recorded(
    database: Database, erp_org: dict[str, Any]
):
    org_id = erp_org["org_id"]
    erp = FakeConnector(system="sap")
    action_id = _draft(database, org_id)
    assert erp.written == []  # drafting sends nothing

    assert _decide(database, org_id, action_id, True).status == "approved"
    sent = send_erp_action(
        database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="buyer"
    )

    assert (sent.status, sent.external_id) == ("sent", "10000001")
    assert erp.written == [
        RequisitionDraft(
            item_code="MAT-1",
            quantity=Decimal(250),
            unit="KG",
            unit_price=Decimal("1.2"),
            currency="USD",
            supplier_code="100045",
            note=f"PA-{action_id}",
        )
    ]
    assert erp.closed
    assert _audit(database, org_id, action_id) == [
        "erp_action.drafted",
        "erp_action.approved",
        "erp_action.sent",
    ]
    with pytest.raises(ConflictError, match="is sent"):
        send_erp_action(
            database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="buyer"
        )
    assert len(erp.written) == 1


def test_a_rejected_draft_cannot_be_sent(database: Database, erp_org: dict[str, Any]):
    org_id = erp_org["org_id"]
    action_id = _draft(database, org_id)
    assert _decide(database, org_id, action_id, False).status == "rejected"
    erp = FakeConnector(system="sap")
    with pytest.raises(ConflictError, match="is rejected"):
        send_erp_action(
            database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="x"
        )
    with pytest.raises(ConflictError, match="already rejected"):
        _decide(database, org_id, action_id, True)
    assert erp.written == []


class RefusingConnector(FakeConnector):
    """An ERP that refuses the first ``refusals`` writes."""

    refusals: int = 1

    def create_requisition(self, draft: RequisitionDraft) -> WriteResult:
        if self.refusals > 0:
            self.refusals -= 1
            raise ExternalServiceError("SAP answered 400: Material MAT-1 is blocked for plant 1000")
        return super().create_requisition(draft)


def test_an_erp_refusal_is_kept_as_failed_and_can_be_sent_again(
    database: Database, erp_org: dict[str, Any]
):
    org_id = erp_org["org_id"]
    erp = RefusingConnector(system="sap")
    action_id = _draft(database, org_id)
    _decide(database, org_id, action_id, True)

    failed = send_erp_action(
        database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="buyer"
    )
    assert failed.status == "failed"
    assert failed.error == (
        "SAP S/4HANA did not take the write: "
        "SAP answered 400: Material MAT-1 is blocked for plant 1000"
    )
    assert failed.external_id is None

    again = send_erp_action(
        database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="operator"
    )
    assert (again.status, again.external_id, again.error) == ("sent", "10000001", None)
    assert _audit(database, org_id, action_id)[-3:] == [
        "erp_action.failed",
        "erp_action.resent",
        "erp_action.sent",
    ]


def test_an_unconfigured_erp_fails_the_send_with_a_clear_reason(
    database: Database, erp_org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("SAP_BASE_URL", raising=False)
    org_id = erp_org["org_id"]
    action_id = _draft(database, org_id)
    _decide(database, org_id, action_id, True)
    from tools.erp_actions import build_connector

    failed = send_erp_action(
        database.session_scope, org_id, action_id, connectors=build_connector, actor="buyer"
    )
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.startswith("SAP S/4HANA is not reachable:")
    assert "SAP_BASE_URL" in failed.error


class BlockingConnector(FakeConnector):
    """An ERP that holds its answer until told to give it."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.called = threading.Event()
        self.release = threading.Event()

    def update_contract_price(self, update: ContractPriceUpdate) -> WriteResult:
        self.called.set()
        self.release.wait(10)
        return super().update_contract_price(update)


def test_a_write_in_flight_is_not_sent_twice_and_a_lost_one_needs_force(
    database: Database, erp_org: dict[str, Any]
):
    org_id = erp_org["org_id"]
    with database.session_scope(org_id) as session:
        item = session.scalar(select(Item).where(Item.code == "STEEL-1"))
        supplier = session.scalar(select(Supplier).where(Supplier.code == "ACME"))
        contract = factories.contract(
            session, org_id, supplier_id=supplier.id, source_system="sap", contract_number="K-9"
        )
        factories.contract_price(
            session, org_id, contract_id=contract.id, item_id=item.id, unit="kg", line_no="10"
        )
    with database.session_scope(org_id) as session:
        ctx = ToolContext(session=session, org_id=org_id, as_of=AS_OF)
        action_id = draft_contract_price_update(
            ctx, DraftContractPriceInput(contract="K-9", unit_price=Decimal("9.5"))
        ).id
    _decide(database, org_id, action_id, True)
    erp = BlockingConnector(system="sap")
    results: list[Any] = []
    sender = threading.Thread(
        target=lambda: results.append(
            send_erp_action(
                database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="a"
            )
        )
    )
    sender.start()
    try:
        assert erp.called.wait(10)
        with pytest.raises(ConflictError, match="is sending and its outcome is unknown"):
            send_erp_action(
                database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="b"
            )
    finally:
        erp.release.set()
        sender.join(10)
    assert results[0].status == "sent"
    assert erp.written == [
        ContractPriceUpdate(
            contract_number="K-9",
            line_number="10",
            unit_price=Decimal("9.5"),
            currency="USD",
            unit="KG",
        )
    ]
    # A send that died half way leaves "sending": only force sends it again, and not while
    # the attempt may still be running.
    lost = dt.datetime.now(dt.UTC)
    with database.session_scope(org_id) as session:
        row = session.get(ErpAction, (org_id, action_id))
        assert row is not None
        row.status, row.last_attempt_at = "sending", lost
    with pytest.raises(ConflictError, match="look at contract K-9 in SAP S/4HANA"):
        send_erp_action(
            database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="c"
        )
    with pytest.raises(ConflictError, match="may still be running"):
        send_erp_action(
            database.session_scope,
            org_id,
            action_id,
            connectors=lambda s: erp,
            actor="c",
            force=True,
        )
    with database.session_scope(org_id) as session:
        row = session.get(ErpAction, (org_id, action_id))
        assert row is not None
        row.last_attempt_at = lost - dt.timedelta(minutes=20)
    forced = send_erp_action(
        database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="c", force=True
    )
    assert forced.status == "sent"
    assert len(erp.written) == 2
    with database.session_scope(org_id) as session:
        listed = list_erp_actions(ToolContext(session=session, org_id=org_id), status="sent")
    assert [a.id for a in listed] == [action_id]


class LostAnswer(FakeConnector):
    """An ERP whose answer to the first write is lost on the way back."""

    lost: bool = True

    def create_requisition(self, draft: RequisitionDraft) -> WriteResult:
        result = super().create_requisition(draft)
        if self.lost:
            self.lost = False
            raise WriteOutcomeUnknownError("SAP POST failed in transit (ReadTimeout)")
        return result


def test_a_write_whose_answer_was_lost_is_not_offered_for_a_plain_resend(
    database: Database, erp_org: dict[str, Any]
):
    org_id = erp_org["org_id"]
    erp = LostAnswer(system="sap")
    action_id = _draft(database, org_id)
    _decide(database, org_id, action_id, True)

    unknown = send_erp_action(
        database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="buyer"
    )

    assert unknown.status == "sending"
    assert unknown.error == (
        "SAP S/4HANA may or may not have taken the write: SAP POST failed in transit (ReadTimeout)"
    )
    with pytest.raises(ConflictError, match=f"look for PA-{action_id} in SAP S/4HANA"):
        send_erp_action(
            database.session_scope, org_id, action_id, connectors=lambda s: erp, actor="buyer"
        )
    # Someone looked in SAP and did not find it: force sends it again at once (the first
    # attempt has finished, so nothing may still be running).
    again = send_erp_action(
        database.session_scope,
        org_id,
        action_id,
        connectors=lambda s: erp,
        actor="operator",
        force=True,
    )
    assert (again.status, again.external_id) == ("sent", "10000002")
    assert _audit(database, org_id, action_id)[-3:] == [
        "erp_action.unknown",
        "erp_action.resent",
        "erp_action.sent",
    ]


def test_the_contract_price_break_is_read_in_the_lines_own_unit(ctx: ToolContext):
    item, supplier = _sap_rebar(ctx)
    contract = factories.contract(
        ctx.session, ctx.org_id, supplier_id=supplier.id, source_system="sap"
    )
    start = AS_OF - dt.timedelta(days=30)
    per_kg = factories.contract_price(
        ctx.session,
        ctx.org_id,
        contract_id=contract.id,
        item_id=item.id,
        unit_price=Decimal("4.00"),  # = USD 1.814/lb
        unit="kg",
        min_quantity=Decimal(0),
        valid_from=start,
        line_no="10",
    )
    break_2000_lb = factories.contract_price(
        ctx.session,
        ctx.org_id,
        contract_id=contract.id,
        item_id=item.id,
        unit_price=Decimal("1.50"),
        unit="lb",
        min_quantity=Decimal(2000),
        valid_from=start,
        line_no="20",
    )

    small = draft_requisition(
        ctx, DraftRequisitionInput(item=REBAR, quantity=Decimal(1000), unit="lb")
    )
    large = draft_requisition(
        ctx, DraftRequisitionInput(item=REBAR, quantity=Decimal(3000), unit="lb")
    )
    # 3,000 lb is 1,360.8 kg: the break of 2,000 lb applies to it even though 1,360 < 2,000.
    assert [e.ids for e in small.evidence] == [[per_kg.id]]
    assert [e.ids for e in large.evidence] == [[break_2000_lb.id]]
    assert small.price.amount == Decimal("4")
    assert large.price.amount == (Decimal("1.50") / Decimal("0.45359237")).quantize(
        Decimal("0.000001")
    )


def test_a_contract_change_start_date_must_be_one_the_erp_can_apply(ctx: ToolContext):
    _contract(ctx)
    base = {"contract": "4600000012", "line": "10", "unit_price": Decimal("4.5")}
    with pytest.raises(InvalidInputError, match="in the past"):
        draft_contract_price_update(
            ctx, DraftContractPriceInput(**base, valid_from=AS_OF - dt.timedelta(days=1))
        )
    with pytest.raises(InvalidInputError, match="SAP S/4HANA changes a contract price at once"):
        draft_contract_price_update(
            ctx, DraftContractPriceInput(**base, valid_from=AS_OF + dt.timedelta(days=30))
        )
    draft = draft_contract_price_update(ctx, DraftContractPriceInput(**base))
    assert "- takes effect: at once" in draft.message


def test_a_contract_line_priced_at_zero_can_be_given_a_price(ctx: ToolContext):
    _, line, _ = _contract(ctx)
    line.unit_price = Decimal(0)
    ctx.session.flush()
    draft = draft_contract_price_update(
        ctx, DraftContractPriceInput(contract="4600000012", line="10", unit_price=Decimal("4.5"))
    )
    assert draft.change_pct is None
    assert "USD 0.00 → USD 4.50 per KG" in draft.message


def test_a_decision_that_contradicts_itself_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="a rejection cannot have the outcome approved"):
        _ = ApprovalDecision(approved=False, by="x", outcome="approved").status
    with pytest.raises(InvalidInputError, match="an approval cannot have the outcome abandoned"):
        _ = ApprovalDecision(approved=True, by="x", outcome="abandoned").status
