"""The offline planner drafts ERP writes (requisitions, contract prices) only when asked."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from sqlalchemy import select

from agent import Decision
from agent.planner.answer import RENDERERS
from agent.planner.lexicon import Lexicon
from agent.planner.plan import next_message
from core.errors import ExternalServiceError
from integrations.base import ContractPriceUpdate, RequisitionDraft, WriteResult
from integrations.fake import FakeConnector
from store.db import Database
from store.models import ErpAction
from tests import factories
from tests.agent.conftest import Turn
from tests.conftest import AS_OF, make_org

FORCE = "FORCE CONSTRUCTION COMPANY, INC."


def plan(lexicon: Lexicon, message: str) -> AIMessage:
    """The planner's first step on one message in a new conversation."""
    return next_message([HumanMessage(message)], lexicon, as_of=AS_OF)


def only_call(message: AIMessage) -> tuple[str, dict[str, Any]]:
    assert len(message.tool_calls) == 1, message
    return message.tool_calls[0]["name"], message.tool_calls[0]["args"]


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Raise a requisition for 500 lb of 703-06029 from Force Construction, "
            "needed by 2026-12-15",
            {
                "item": "703-06029",
                "quantity": "500",
                "unit": "lb",
                "supplier": FORCE,
                "need_by": "2026-12-15",
            },
        ),
        (
            "create a purchase requisition for 40 lb of 703-06029 in SAP",
            {"item": "703-06029", "quantity": "40", "unit": "lb", "system": "sap"},
        ),
        (
            "please put in a req for 2,000 lb of 703-06029 in Oracle EBS, deliver by Dec 15, "
            "plant 1000. Note: bridge deck pour",
            {
                "item": "703-06029",
                "quantity": "2000",
                "unit": "lb",
                "system": "ebs",
                "need_by": "2026-12-15",
                "plant": "1000",
                "note": "bridge deck pour",
            },
        ),
        (
            "we need a requisition for 1,200 lb of 703-06029 in Dynamics 365 at $1.45/lb",
            {
                "item": "703-06029",
                "quantity": "1200",
                "unit": "lb",
                "system": "d365",
                "unit_price": "1.45",
                "currency": "USD",
            },
        ),
    ],
)
def test_a_requisition_request_drafts_one_with_what_it_names(
    lexicon: Lexicon, message: str, expected: dict[str, Any]
) -> None:
    assert only_call(plan(lexicon, message)) == ("draft_requisition", expected)


def test_a_described_item_is_searched_for_before_the_requisition(lexicon: Lexicon) -> None:
    name, args = only_call(plan(lexicon, "create a requisition for 40 lb of epoxy coated rebar"))
    assert (name, args["query"]) == ("search_items", "epoxy coated rebar")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Update contract 4600000012 line 10 to 2.45 USD per kg",
            {
                "contract": "4600000012",
                "line": "10",
                "unit_price": "2.45",
                "currency": "USD",
                "unit": "kg",
            },
        ),
        (
            "change the contract price of 4600000012 for 703-06029 to 2.45",
            {"contract": "4600000012", "item": "703-06029", "unit_price": "2.45"},
        ),
        (
            "set agreement 4600000012 position 20 to $2.10/lb effective July 1 in D365",
            {
                "contract": "4600000012",
                "line": "20",
                "unit_price": "2.10",
                "currency": "USD",
                "unit": "lb",
                "valid_from": "2026-07-01",
                "system": "d365",
            },
        ),
    ],
)
def test_a_contract_price_change_drafts_one_for_the_named_line(
    lexicon: Lexicon, message: str, expected: dict[str, Any]
) -> None:
    assert only_call(plan(lexicon, message)) == ("draft_contract_price_update", expected)


@pytest.mark.parametrize(
    ("message", "question"),
    [
        ("raise a requisition for 703-06029", "How much"),
        ("create a requisition for 500 lb of 703-06029 at $2,000/ton", "price per lb"),
        ("update contract 4600000012 line 10", "new unit price on contract 4600000012"),
        ("change the contract price for 703-06029 to 2.45", "Which contract"),
    ],
)
def test_a_write_missing_an_essential_is_asked_about_not_guessed(
    lexicon: Lexicon, message: str, question: str
) -> None:
    reply = plan(lexicon, message)
    assert not reply.tool_calls
    assert question in str(reply.content)


@pytest.mark.parametrize(
    ("message", "tool"),
    [
        ("what contracts cover 703-06029?", "erp_lookup"),
        ("do we have a contract price with Milestone for 703-06029?", "erp_lookup"),
        ("show me the contract prices in SAP for 703-06029", "erp_lookup"),
        ("open POs from Rieth-Riley in SAP", "erp_lookup"),
        ("Milestone wants to raise the contract price of 703-06029 by 8%", "check_price_increase"),
        ("did we raise a requisition for 703-06029?", None),
    ],
)
def test_questions_about_contracts_and_orders_draft_nothing(
    lexicon: Lexicon, message: str, tool: str | None
) -> None:
    names = [c["name"] for c in plan(lexicon, message).tool_calls]
    assert not {"draft_requisition", "draft_contract_price_update"} & set(names), names
    if tool is not None:
        assert tool in names


def test_a_follow_up_after_a_requisition_does_not_draft_another(lexicon: Lexicon) -> None:
    args = {"item": "703-06029", "quantity": "500", "unit": "lb"}
    history: list[AnyMessage] = [
        HumanMessage("raise a requisition for 500 lb of 703-06029"),
        AIMessage("", tool_calls=[{"name": "draft_requisition", "args": args, "id": "c1"}]),
        ToolMessage("{}", tool_call_id="c1", name="draft_requisition", artifact={"id": 1}),
        AIMessage("Requisition PA-1 was created in SAP S/4HANA as 10000001."),
        HumanMessage("and what about 2,000 lb of 703-06029?"),
    ]
    reply = next_message(history, lexicon, as_of=AS_OF)
    assert "draft_requisition" not in [c["name"] for c in reply.tool_calls]


# --------------------------------------------------------------------------- answers


def _result(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": 12,
        "action": "create_requisition",
        "system": "sap",
        "system_name": "SAP S/4HANA",
        "status": status,
        "summary": "requisition in SAP S/4HANA for 500 LB of MAT-1 (Rebar) at USD 2.3/LB",
        "reference": "PA-12",
        "external_id": None,
        "erp_message": None,
        "error": None,
        "decision": {"approved": status != "rejected", "by": "buyer", "note": None},
        **fields,
    }


def test_the_answer_says_what_happened_to_the_write() -> None:
    render = RENDERERS["draft_requisition"]
    sent = render(_result("sent", external_id="10000123"))
    assert sent[0] == "Requisition PA-12 was created in SAP S/4HANA as 10000123."
    failed = "\n".join(
        render(_result("failed", error="SAP S/4HANA did not take the write: blocked"))
    )
    assert (
        "approved by buyer, but was not written: SAP S/4HANA did not take the write: blocked"
        in (failed)
    )
    assert "`pricing-agent erp send 12`" in failed
    rejected = render(_result("rejected"))[0]
    assert (
        rejected == "Requisition PA-12 was rejected by buyer; nothing was written to SAP S/4HANA."
    )
    change = RENDERERS["draft_contract_price_update"](
        _result(
            "sent",
            action="update_contract_price",
            contract_number="4600000012",
            line="10",
            external_id="4600000012",
        )
    )
    assert change[0].startswith("The price change PA-12 on contract 4600000012 line 10 was made")


# --------------------------------------------------------------------------- whole turns


@dataclass
class Erp:
    """An organisation whose item, supplier and contract are known in SAP."""

    org_id: uuid.UUID
    item_id: int


@pytest.fixture
def erp_org(database: Database) -> Erp:
    org = make_org(database, "erp-writes")
    with database.session_scope(org) as session:
        supplier = factories.supplier(session, org, code="FORCE", name=FORCE)
        factories.supplier_alias(
            session, org, supplier_id=supplier.id, system="sap", external_code="V-100"
        )
        item = factories.item(
            session, org, code="703-06029", name="REINFORCING BARS, EPOXY COATED", unit="lb"
        )
        factories.item_alias(
            session, org, item_id=item.id, system="sap", external_code="MAT-1", erp_unit="LB"
        )
        contract = factories.contract(
            session, org, supplier_id=supplier.id, source_system="sap", contract_number="4600000012"
        )
        factories.contract_price(
            session,
            org,
            contract_id=contract.id,
            item_id=item.id,
            line_no="10",
            unit_price=Decimal("2.30"),
            currency="USD",
            unit="lb",
            erp_unit="LB",
            min_quantity=Decimal(0),
            valid_from=dt.date(2026, 1, 1),
        )
        return Erp(org_id=org, item_id=item.id)


Connectors = tuple[Callable[[str], FakeConnector], list[FakeConnector]]


def fake_erps() -> Connectors:
    """A connector factory that keeps every connector it built."""
    built: list[FakeConnector] = []

    def build(system: str) -> FakeConnector:
        built.append(FakeConnector(system=system))
        return built[-1]

    return build, built


def _action(database: Database, org: uuid.UUID) -> ErpAction:
    with database.session_scope(org) as session:
        action = session.scalars(select(ErpAction)).one()
        session.expunge(action)
        return action


def test_a_requisition_is_drafted_then_created_once_approved(
    turn: Turn, database: Database, erp_org: Erp
) -> None:
    connectors, built = fake_erps()
    draft = turn(
        "Raise a requisition for 500 lb of 703-06029 from Force Construction, needed by 2026-12-15",
        org_id=erp_org.org_id,
        erp_connectors=connectors,
    )
    assert draft.mode == "offline"
    assert [c.name for c in draft.tool_calls] == ["draft_requisition"]
    assert draft.pending_approval is not None
    assert draft.pending_approval.tool == "draft_requisition"
    assert "Nothing has been written to SAP S/4HANA" in draft.answer
    assert built == []  # no ERP is called before the approval
    action = _action(database, erp_org.org_id)

    done = turn(
        None,
        org_id=erp_org.org_id,
        thread_id=draft.thread_id,
        decision=Decision(approved=True),
        erp_connectors=connectors,
    )

    assert [c.written for c in built] == [
        [
            RequisitionDraft(
                item_code="MAT-1",
                quantity=Decimal(500),
                unit="LB",
                unit_price=Decimal("2.3"),
                currency="USD",
                supplier_code="V-100",
                need_by_date=dt.date(2026, 12, 15),
                note=f"PA-{action.id}",
            )
        ]
    ]
    sent = _action(database, erp_org.org_id)
    assert (sent.status, sent.external_id) == ("sent", "10000001")
    assert f"Requisition PA-{action.id} was created in SAP S/4HANA as 10000001." in done.answer
    assert done.pending_approval is None


def test_a_contract_price_change_is_sent_once_approved(
    turn: Turn, database: Database, erp_org: Erp
) -> None:
    connectors, built = fake_erps()
    draft = turn("Update contract 4600000012 line 10 to 2.45 USD per lb", org_id=erp_org.org_id)
    assert draft.pending_approval is not None
    assert draft.pending_approval.tool == "draft_contract_price_update"

    done = turn(
        None,
        org_id=erp_org.org_id,
        thread_id=draft.thread_id,
        decision=Decision(approved=True),
        erp_connectors=connectors,
    )

    assert [c.written for c in built] == [
        [
            ContractPriceUpdate(
                contract_number="4600000012",
                line_number="10",
                unit_price=Decimal("2.45"),
                currency="USD",
                unit="LB",
            )
        ]
    ]
    action = _action(database, erp_org.org_id)
    assert (
        f"The price change PA-{action.id} on contract 4600000012 line 10 was made in SAP S/4HANA"
        in done.answer
    )


class RefusingConnector(FakeConnector):
    """An ERP that refuses every requisition."""

    def create_requisition(self, draft: RequisitionDraft) -> WriteResult:
        raise ExternalServiceError("material MAT-1 is blocked for purchasing")


def test_a_refused_or_rejected_requisition_says_nothing_was_created(
    turn: Turn, database: Database, erp_org: Erp
) -> None:
    message = "create a requisition for 40 lb of 703-06029 in SAP"
    first = turn(message, org_id=erp_org.org_id)
    refused = turn(
        None,
        org_id=erp_org.org_id,
        thread_id=first.thread_id,
        decision=Decision(approved=True),
        erp_connectors=lambda system: RefusingConnector(system=system),
    )
    action = _action(database, erp_org.org_id)
    assert action.status == "failed"
    assert "was approved by buyer, but was not written" in refused.answer
    assert "material MAT-1 is blocked for purchasing" in refused.answer
    assert f"`pricing-agent erp send {action.id}`" in refused.answer
    assert "created in" not in refused.answer

    connectors, built = fake_erps()
    second = turn(message, org_id=erp_org.org_id)
    rejected = turn(
        None,
        org_id=erp_org.org_id,
        thread_id=second.thread_id,
        decision=Decision(approved=False, note="not now"),
        erp_connectors=connectors,
    )
    assert built == []
    assert "was rejected by buyer; nothing was written to SAP S/4HANA." in rejected.answer
