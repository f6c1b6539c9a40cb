"""End to end: the agent drafts an ERP write, a person approves, the loopback SAP gets it.

The connector is built from ``SAP_*`` settings as in production; the SAP is the loopback
OData v2 server (real EDMX), which applies a contract MERGE to what it serves, so the
next sync brings the new price back into the store.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from sqlalchemy import select

from agent import Decision, run_turn
from integrations.connectors import build_connector
from integrations.sap.connector import PURCHASE_CONTRACT, PURCHASE_REQUISITION
from integrations.sync import sync_erp
from store.db import Database
from store.models import (
    AuditLog,
    Contract,
    ContractPrice,
    ErpAction,
    Item,
    ItemAlias,
    Organization,
)
from tests.agent.conftest import ScriptedChatModel, call
from tests.conftest import make_org
from tests.integrations.sap.conftest import SERVICES, generate
from tests.integrations.sap.sap_server import (
    REQUISITION_EDMX,
    SapServer,
    SapState,
    load_service,
    service_from_edmx,
)
from tools.base import ToolContext
from tools.erp_lookup import ErpLookupInput, erp_lookup


@pytest.fixture
def sap(monkeypatch: pytest.MonkeyPatch) -> Iterator[SapState]:
    """A loopback SAP of this test's own (it changes its data), configured through SAP_*."""
    state = SapState(data=generate(), services={name: load_service(name) for name in SERVICES})
    server = SapServer(state).start()
    for name in list(os.environ):
        if name.startswith("SAP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SAP_BASE_URL", server.url)
    monkeypatch.setenv("SAP_USER", state.user)
    monkeypatch.setenv("SAP_PASSWORD", state.password)
    monkeypatch.setenv("SAP_TIMEOUT_SECONDS", "10")
    monkeypatch.setenv("SAP_BACKOFF_SECONDS", "0.01")
    yield state
    server.stop()


@pytest.fixture
def synced(database: Database, sap: SapState) -> uuid.UUID:
    """An organisation holding what SAP had at its first sync."""
    org = make_org(database, "sap-writes")
    connector = build_connector("sap")
    try:
        sync_erp(database=database, org_id=org, connector=connector)
    finally:
        connector.close()
    return org


def _turn(database: Database, org: uuid.UUID, as_of: dt.date, **kwargs: Any) -> Any:
    return run_turn(database=database, org_id=org, user_id="buyer", as_of=as_of, **kwargs)


def _audit(database: Database, org: uuid.UUID, action_id: int) -> list[str]:
    with database.session_scope(org) as session:
        return list(
            session.scalars(
                select(AuditLog.action)
                .where(AuditLog.entity == "erp_actions", AuditLog.entity_ids.contains([action_id]))
                .order_by(AuditLog.id)
            )
        )


def test_an_approved_contract_price_reaches_sap_and_comes_back_with_the_next_sync(
    database: Database, sap: SapState, synced: uuid.UUID
) -> None:
    with database.session_scope(synced) as session:
        contract, line = session.execute(
            select(Contract, ContractPrice)
            .join(ContractPrice, ContractPrice.contract_id == Contract.id)
            .where(Contract.org_id == synced, Contract.contract_number.not_like("PRICE:%"))
            .order_by(Contract.contract_number, ContractPrice.line_no)
            .limit(1)
        ).one()
        number, line_no, old = contract.contract_number, line.line_no, line.unit_price
        assert line.erp_unit == "KG"
        as_of = line.valid_from + dt.timedelta(days=1)
    new = (old * Decimal("0.95")).quantize(Decimal("0.001"))
    model = ScriptedChatModel(
        replies=[
            AIMessage(
                "",
                tool_calls=[
                    call(
                        "draft_contract_price_update",
                        {"contract": number, "line": line_no, "unit_price": str(new)},
                    )
                ],
            ),
            AIMessage("Done."),
        ]
    )
    asked = _turn(database, synced, as_of, message="cut it 5%", model=model)

    assert asked.pending_approval is not None
    assert asked.pending_approval.action == "update_contract_price"
    assert "Nothing has been written to SAP S/4HANA" in asked.answer
    assert sap.writes == []  # nothing before the approval
    action_id = asked.pending_approval.draft["id"]

    _turn(
        database,
        synced,
        as_of,
        message=None,
        thread_id=asked.thread_id,
        decision=Decision(approved=True, note="as negotiated"),
        model=ScriptedChatModel(replies=[AIMessage("Done.")]),
    )

    method, path, body = sap.writes[-1]
    assert method == "MERGE"
    assert path == (
        f"{PURCHASE_CONTRACT}/A_PurchaseContractItem("
        f"PurchaseContract='{number}',PurchaseContractItem='{line_no}')"
    )
    assert Decimal(body["ContractNetPriceAmount"]) == new
    assert (body["NetPriceQuantity"], body["OrderPriceUnit"]) == ("1", "KG")
    with database.session_scope(synced) as session:
        action = session.get(ErpAction, (synced, action_id))
        assert action is not None
        assert (action.status, action.external_id, action.decided_by) == ("sent", number, "buyer")
    assert _audit(database, synced, action_id) == [
        "erp_action.drafted",
        "erp_action.approved",
        "erp_action.sent",
    ]

    connector = build_connector("sap")
    try:
        report = sync_erp(database=database, org_id=synced, connector=connector)
    finally:
        connector.close()
    assert report.counts["contracts"].updated >= 1
    with database.session_scope(synced) as session:
        stored, item_id = session.execute(
            select(ContractPrice.unit_price, ContractPrice.item_id)
            .join(Contract, Contract.id == ContractPrice.contract_id)
            .where(Contract.contract_number == number, ContractPrice.line_no == line_no)
        ).one()
        assert stored == new
        # erp_lookup answers from what the sync stored, naming the system it came from.
        ctx = ToolContext(session=session, org_id=synced, as_of=as_of)
        item = session.get(Item, (synced, item_id))
        assert item is not None
        found = erp_lookup(ctx, ErpLookupInput(item=item.code, document_type="contract"))
    mine = [r for r in found.records if (r.document_number, r.line) == (number, line_no)]
    assert [(r.source_system, r.price.amount) for r in mine] == [("sap", new)]


def test_a_requisition_refused_by_sap_is_kept_failed_and_sent_again_from_the_cli(
    database: Database, sap: SapState, synced: uuid.UUID, cli: Any
) -> None:
    with database.session_scope(synced) as session:
        material = session.scalar(
            select(ItemAlias.external_code)
            .where(ItemAlias.org_id == synced, ItemAlias.system == "sap")
            .order_by(ItemAlias.external_code)
            .limit(1)
        )
    assert material is not None
    need_by = dt.date(2026, 7, 1)
    model = ScriptedChatModel(
        replies=[
            AIMessage(
                "",
                tool_calls=[
                    call(
                        "draft_requisition",
                        {
                            "item": material,
                            "quantity": "120",
                            "unit_price": "3.10",
                            "currency": "EUR",
                            "need_by": need_by.isoformat(),
                            "plant": "1010",
                        },
                    )
                ],
            ),
            AIMessage("Drafted."),
        ]
    )
    as_of = dt.date(2026, 6, 1)
    asked = _turn(database, synced, as_of, message="requisition it", model=model)
    assert asked.pending_approval is not None
    action_id = asked.pending_approval.draft["id"]

    # This SAP has no requisition service yet: the approval is kept, the write fails.
    done = _turn(
        database,
        synced,
        as_of,
        message=None,
        thread_id=asked.thread_id,
        decision=Decision(approved=True),
        model=ScriptedChatModel(replies=[AIMessage("Noted.")]),
    )
    assert done.pending_approval is None
    with database.session_scope(synced) as session:
        action = session.get(ErpAction, (synced, action_id))
        assert action is not None
        assert action.status == "failed"
        assert "offers no purchase-requisition service" in (action.error or "")
    assert not any(path.startswith(PURCHASE_REQUISITION) for _, path, _ in sap.writes)

    # The service is switched on; an operator sends it again.
    sap.unmodelled.discard(PURCHASE_REQUISITION)
    sap.services[PURCHASE_REQUISITION] = service_from_edmx(PURCHASE_REQUISITION, REQUISITION_EDMX)
    with database.owner_session() as session:
        org_name = session.get(Organization, synced).name  # type: ignore[union-attr]
    listed = cli("erp", "actions", "--status", "failed", "--org", org_name)
    assert f"{action_id}" in listed.stdout
    sent = cli("erp", "send", str(action_id), "--org", org_name)
    assert f"#{action_id} sent: SAP S/4HANA document 10000042" in sent.stdout

    method, path, body = sap.writes[-1]
    assert (method, path) == ("POST", f"{PURCHASE_REQUISITION}/A_PurchaseRequisitionHeader")
    item = body["to_PurchaseReqnItem"]["results"][0]
    assert item["Material"] == material
    assert item["RequestedQuantity"] == "120"
    assert (item["PurchaseRequisitionPrice"], item["PurReqnPriceQuantity"]) == ("3.100", "1")
    assert item["PurReqnItemCurrency"] == "EUR"
    assert item["Plant"] == "1010"
    assert item["PurchaseRequisitionItemText"] == f"PA-{action_id}"
    assert item["DeliveryDate"] == "/Date(1782864000000)/"
    assert _audit(database, synced, action_id)[-3:] == [
        "erp_action.failed",
        "erp_action.resent",
        "erp_action.sent",
    ]
