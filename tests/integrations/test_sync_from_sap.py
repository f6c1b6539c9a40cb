"""End to end: SAP over the loopback OData v2 server (real EDMX), synced into the store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from integrations.base import PurchaseOrderLineRecord, Rejected
from integrations.sap.connector import SapConnector
from integrations.sap.settings import load_sap_settings
from integrations.sync import sync_erp
from store.db import Database
from store.models import ErpRejection, PurchaseOrder, PurchaseOrderLine
from tests.conftest import make_org
from tests.integrations.sap.conftest import SERVICES, generate
from tests.integrations.sap.sap_server import SapServer, SapState, load_service


@pytest.fixture(scope="module")
def sap() -> Iterator[SapConnector]:
    state = SapState(data=generate(), services={name: load_service(name) for name in SERVICES})
    server = SapServer(state).start()
    settings = load_sap_settings(
        base_url=server.url,
        user=state.user,
        password=state.password,
        timeout_seconds=10,
        _env_file=None,
    )
    connector = SapConnector(settings)
    yield connector
    connector.close()
    server.stop()


def test_sap_orders_land_in_the_store_once_with_exact_prices(
    database: Database, sap: SapConnector
) -> None:
    org = make_org(database)
    read = [r for r in sap.purchase_order_lines() if isinstance(r, PurchaseOrderLineRecord)]
    rejected = [r for r in sap.purchase_order_lines() if isinstance(r, Rejected)]
    report = sync_erp(database=database, org_id=org, connector=sap)
    counts = report.counts["purchase_orders"]
    assert counts.read == len(read) + len(rejected)
    with database.session_scope(org) as session:
        stored = {
            (po, line): (qty, price)
            for po, line, qty, price in session.execute(
                select(
                    PurchaseOrder.po_number,
                    PurchaseOrderLine.line_no,
                    PurchaseOrderLine.quantity,
                    PurchaseOrderLine.unit_price,
                )
                .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
                .where(PurchaseOrderLine.org_id == org)
            )
        }
        refused = session.scalar(
            select(func.count())
            .select_from(ErpRejection)
            .where(ErpRejection.org_id == org, ErpRejection.entity == "purchase_orders")
        )
    assert len(stored) + refused == counts.read
    assert len(stored) > len(read) * 0.8
    for record in read:
        got = stored.get((record.po_number, record.line_number))
        if got is not None:
            assert got == (record.quantity, record.unit_price)
    again = sync_erp(database=database, org_id=org, connector=sap)
    assert again.counts["purchase_orders"].inserted == 0
