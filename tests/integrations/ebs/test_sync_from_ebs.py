"""End to end: the EBS connector's SQL on an EBS-shaped schema, synced into the store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from integrations.ebs import EbsConnector, EbsSettings
from integrations.sync import sync_erp
from store.db import Database
from store.models import ErpRejection, PurchaseOrder, PurchaseOrderLine
from tests.conftest import make_org
from tests.integrations.ebs import ebs_data


@pytest.fixture
def ebs(ebs_settings: EbsSettings, ebs_engine: Engine) -> Iterator[EbsConnector]:
    connector = EbsConnector(ebs_settings, engine=ebs_engine)
    yield connector
    connector.close()


def _stored(database: Database, org_id: object) -> list[tuple[object, ...]]:
    with database.session_scope(org_id) as session:  # type: ignore[arg-type]
        return [
            tuple(r)
            for r in session.execute(
                select(
                    PurchaseOrder.po_number,
                    PurchaseOrderLine.line_no,
                    PurchaseOrderLine.quantity,
                    PurchaseOrderLine.unit_price,
                )
                .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
                .where(PurchaseOrderLine.org_id == org_id)
                .order_by(PurchaseOrder.po_number, PurchaseOrderLine.line_no)
            )
        ]


def test_ebs_lines_land_in_the_store_once_with_their_prices(
    database: Database, ebs: EbsConnector, ebs_rows: ebs_data.EbsData
) -> None:
    org = make_org(database)
    report = sync_erp(database=database, org_id=org, connector=ebs)
    good, rejected = ebs_data.expected_po_lines(ebs_rows)
    counts = report.counts["purchase_orders"]
    assert counts.read == len(good) + len(rejected)
    stored = _stored(database, org)
    # Every line the connector read well is stored, unless the store refused it with a
    # recorded reason (a unit or currency it does not know).
    with database.session_scope(org) as session:
        refused = session.scalar(
            select(func.count())
            .select_from(ErpRejection)
            .where(ErpRejection.org_id == org, ErpRejection.entity == "purchase_orders")
        )
    assert len(stored) + (refused or 0) == counts.read
    # EBS numbers repeat across operating units: the store keeps "<org_id>/<number>".
    numbers = [(po.split("/", 1)[1], line, qty, price) for po, line, qty, price in stored]
    # Free-text lines (no item) are read but not stored: there is no item to price.
    priced = {key for key, line in good.items() if line["item_code"]}
    assert {f"{po}/{line}" for po, line, _, _ in numbers} == priced
    for po_number, line_no, quantity, price in numbers:
        expected = good[f"{po_number}/{line_no}"]
        assert quantity == expected["quantity"]
        assert price == expected["unit_price"]
    before = _stored(database, org)
    again = sync_erp(database=database, org_id=org, connector=ebs, since=None)
    assert _stored(database, org) == before
    assert again.counts["purchase_orders"].inserted == 0
