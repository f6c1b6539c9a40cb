"""End to end: Dynamics 365 over its loopback HTTPS peers (Entra ID token, OData v4), synced."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from integrations.d365 import D365Connector
from integrations.sync import sync_erp
from store.db import Database
from store.models import ErpRejection, PurchaseOrder, PurchaseOrderLine
from tests.conftest import make_org
from tests.integrations.d365.conftest import CLIENT_ID, DATA, SECRET, TENANT, make_settings
from tests.integrations.d365.peers import ODataServer, TokenServer, make_certificate


@pytest.fixture
def d365(tmp_path: Path) -> Iterator[D365Connector]:
    cert = make_certificate(tmp_path)
    tokens = TokenServer(TENANT, CLIENT_ID, SECRET, resource="").start(*cert)
    odata = ODataServer(tokens, entities=copy.deepcopy(DATA)).start(*cert)
    tokens.resource = odata.base_url
    connector = D365Connector(make_settings(tokens, odata, cert[0]), sleep=lambda _: None)
    yield connector
    connector.close()
    odata.stop()
    tokens.stop()


def test_d365_orders_land_in_the_store_once(database: Database, d365: D365Connector) -> None:
    org = make_org(database)
    report = sync_erp(database=database, org_id=org, connector=d365)
    read = report.counts["purchase_orders"]
    assert read.read > 0
    with database.session_scope(org) as session:
        stored = session.scalar(
            select(func.count())
            .select_from(PurchaseOrderLine)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .where(PurchaseOrderLine.org_id == org, PurchaseOrder.source_system == "d365")
        )
        refused = session.scalar(
            select(func.count())
            .select_from(ErpRejection)
            .where(ErpRejection.org_id == org, ErpRejection.entity == "purchase_orders")
        )
        reasons = session.scalars(select(ErpRejection.reason).where(ErpRejection.org_id == org))
        why = sorted(set(reasons))
    assert stored == read.inserted, why
    assert stored + refused == read.read
    assert stored > 0
    again = sync_erp(database=database, org_id=org, connector=d365)
    assert again.counts["purchase_orders"].inserted == 0
