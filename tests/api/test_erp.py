"""The operator's side of ERP writes over HTTP: list, look up, send again; roles and tenants."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.errors import ExternalServiceError
from integrations.base import RequisitionDraft, WriteResult
from integrations.fake import FakeConnector
from store.db import Database
from tests import factories
from tests.api.conftest import auth, create_key
from tests.conftest import AS_OF, make_org
from tools.base import ApprovalDecision, ToolContext
from tools.erp_actions import decide_erp_action
from tools.erp_requisition import DraftRequisitionInput, draft_requisition


@pytest.fixture
def erp_org(database: Database) -> dict[str, Any]:
    """An organisation with a SAP item, a buyer and a viewer key, and one drafted requisition."""
    org_id = make_org(database, "erp-api")
    with database.session_scope(org_id) as session:
        item = factories.item(session, org_id, code="STEEL-1", unit="kg")
        factories.item_alias(
            session, org_id, item_id=item.id, system="sap", external_code="MAT-1", erp_unit="KG"
        )
        ctx = ToolContext(session=session, org_id=org_id, as_of=AS_OF, actor="agent:buyer")
        draft = draft_requisition(
            ctx,
            DraftRequisitionInput(item="STEEL-1", quantity=Decimal(40), unit_price=Decimal("2.5")),
        )
    return {
        "org_id": org_id,
        "action_id": draft.id,
        "buyer": auth(create_key(database, org_id, "buyer")),
        "viewer": auth(create_key(database, org_id, "viewer")),
    }


def _approve(database: Database, org_id: uuid.UUID, action_id: int) -> None:
    with database.session_scope(org_id) as session:
        ctx = ToolContext(session=session, org_id=org_id, actor="buyer")
        decide_erp_action(ctx, action_id, ApprovalDecision(approved=True, by="buyer"))


class DownThenUp(FakeConnector):
    """An ERP that is down for the first write."""

    down: bool = True

    def create_requisition(self, draft: RequisitionDraft) -> WriteResult:
        if self.down:
            self.down = False
            raise ExternalServiceError("SAP is unreachable: ConnectError")
        return super().create_requisition(draft)


def test_actions_are_listed_and_shown_to_their_organisation_only(
    client: TestClient, erp_org: dict[str, Any], other_key: str
):
    action_id = erp_org["action_id"]
    listed = client.get("/api/v1/erp/actions", headers=erp_org["viewer"])
    assert listed.status_code == 200
    assert [(a["id"], a["status"]) for a in listed.json()] == [(action_id, "pending_approval")]
    one = client.get(f"/api/v1/erp/actions/{action_id}", headers=erp_org["viewer"]).json()
    assert (one["erp_item_code"], one["quantity"], one["erp_unit"]) == ("MAT-1", "40", "KG")
    assert one["price"] == {"amount": "2.5", "currency": "USD", "unit": "kg"}

    other = client.get(f"/api/v1/erp/actions/{action_id}", headers=auth(other_key))
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/erp/actions", headers=auth(other_key)).json() == []
    bad = client.get("/api/v1/erp/actions?status=lost", headers=erp_org["viewer"])
    assert bad.status_code == 422


def test_a_failed_write_is_sent_again_by_a_buyer_only(
    client: TestClient,
    app: FastAPI,
    database: Database,
    erp_org: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
):
    erp = DownThenUp(system="sap")
    monkeypatch.setattr(app.state.services, "erp_connectors", lambda system: erp)
    action_id, buyer = erp_org["action_id"], erp_org["buyer"]
    url = f"/api/v1/erp/actions/{action_id}/send"

    waiting = client.post(url, headers=buyer)
    assert waiting.status_code == 409
    assert "pending_approval" in waiting.json()["detail"]
    _approve(database, erp_org["org_id"], action_id)

    failed = client.post(url, headers=buyer)
    assert failed.status_code == 200
    assert failed.json()["status"] == "failed"
    assert failed.json()["error"] == (
        "SAP S/4HANA did not take the write: SAP is unreachable: ConnectError"
    )

    refused = client.post(url, headers=erp_org["viewer"])
    assert refused.status_code == 403
    assert erp.written == []

    sent = client.post(url, headers=buyer, json={"force": False})
    assert sent.status_code == 200
    assert (sent.json()["status"], sent.json()["external_id"]) == ("sent", "10000001")
    assert [w.item_code for w in erp.written] == ["MAT-1"]
    again = client.post(url, headers=buyer)
    assert again.status_code == 409
    assert len(erp.written) == 1
    assert client.post(url, headers=buyer, json={"force": "yes please"}).status_code == 422
