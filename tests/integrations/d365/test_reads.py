"""Reads against the loopback OData service: records, paging, companies, increments, rejects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from integrations.base import (
    ContractPriceRecord,
    Entity,
    ERPConnector,
    ItemRecord,
    PriceRecord,
    PurchaseOrderLineRecord,
    Rejected,
    SupplierRecord,
)
from integrations.d365 import D365Connector
from tests.integrations.d365.conftest import FINE_PRICE, make_settings
from tests.integrations.d365.peers import ODataServer, TokenServer

D = Decimal
T = TypeVar("T")
UTC = dt.UTC


def _split(read: list[T | Rejected]) -> tuple[list[T], list[Rejected]]:
    records = [r for r in read if not isinstance(r, Rejected)]
    rejected = [r for r in read if isinstance(r, Rejected)]
    return records, rejected


def test_connector_meets_the_protocol(connector: D365Connector) -> None:
    assert isinstance(connector, ERPConnector)
    assert connector.system == "d365"


def test_suppliers_full_read_with_a_rejected_row(connector: D365Connector) -> None:
    records, rejected = _split(list(connector.suppliers()))
    assert [(r.code, r.name, r.blocked, r.attributes["company"]) for r in records] == [
        ("V-001", "Acme Steel", False, "usmf"),
        ("V-002", "Beta Cement", True, "usmf"),
        ("V-100", "Delta GmbH", False, "demf"),
    ]
    assert all(isinstance(r, SupplierRecord) for r in records)
    assert records[2].attributes["currency"] == "EUR"
    assert len(rejected) == 1
    assert rejected[0].entity is Entity.SUPPLIERS
    assert rejected[0].reason == "VendorAccountNumber is missing"
    assert rejected[0].raw["VendorOrganizationName"] == "Nameless"


def test_items_full_read(connector: D365Connector) -> None:
    records, rejected = _split(list(connector.items()))
    assert records == [
        ItemRecord(
            code=code,
            description=f"Product {code}",
            unit=unit,
            group="BUILD",
            attributes={
                "company": company,
                "product_number": code,
                "product_type": "Item",
                **({"primary_vendor": vendor} if vendor else {}),
                "unit_cost": D("1.5"),
            },
        )
        for company, code, unit, vendor in [
            ("usmf", "I-100", "t", "V-001"),
            ("usmf", "I-200", "bag", "V-002"),
            ("demf", "I-300", "pcs", "V-100"),
            ("usmf", "I-500", "ea", "V-999"),
        ]
    ]
    assert [(r.key, r.reason) for r in rejected] == [
        ("usmf/I-400", "PurchaseUnitSymbol is missing")
    ]


def test_purchase_order_lines_join_headers_with_exact_decimals(
    connector: D365Connector, odata_server: ODataServer
) -> None:
    records, rejected = _split(list(connector.purchase_order_lines()))
    by_key = {(r.company, r.po_number, r.line_number): r for r in records}
    assert set(by_key) == {
        ("usmf", "PO-1", "1"),
        ("usmf", "PO-1", "2"),
        ("usmf", "PO-2", "2"),
        ("demf", "PO-1", "1"),
    }  # PO-3 is canceled and left out
    fine = by_key[("usmf", "PO-1", "1")]
    assert fine == PurchaseOrderLineRecord(
        po_number="PO-1",
        line_number="1",
        supplier_code="V-001",
        item_code="I-100",
        description="PO-1 line 1",
        quantity=D("20.5"),
        unit="t",
        unit_price=FINE_PRICE,  # every digit kept: no float on the way
        currency="USD",
        order_date=dt.date(2024, 1, 15),
        changed_at=dt.datetime(2024, 1, 15, tzinfo=UTC),
        company="usmf",
        status="Backorder",
        need_by_date=dt.date(2024, 4, 30),
        attributes={
            "quoted_price": FINE_PRICE,
            "price_quantity": D(1),
            "line_amount": D(0),
            "line_discount_amount": D(0),
            "category": "Steel",
            "order_name": "Order PO-1",
            "approval_status": "Approved",
        },
    )
    # Quoted per 100 bags: 1250.00 / 100 per bag.
    per_hundred = by_key[("usmf", "PO-1", "2")]
    assert per_hundred.unit_price == D("12.5")
    assert per_hundred.attributes["price_quantity"] == D(100)
    free_text = by_key[("usmf", "PO-2", "2")]
    assert free_text.item_code is None
    assert free_text.supplier_code == "V-002"
    assert free_text.changed_at == dt.datetime(2024, 3, 10, 8, 30, tzinfo=UTC)
    euro = by_key[("demf", "PO-1", "1")]
    assert (euro.currency, euro.supplier_code, euro.unit_price) == ("EUR", "V-100", D("7.25"))
    assert sorted((r.key, r.reason) for r in rejected) == [
        ("demf/PO-1/2", "PurchasePriceQuantity must be positive, got 0"),
        ("usmf/PO-2/1", "PurchasePrice is not a number: 'abc'"),
        ("usmf/PO-4/1", "header has no AccountingDate"),
    ]
    assert all(r.entity is Entity.PURCHASE_ORDERS for r in rejected)
    # The canceled order was filtered by the service with an enum literal.
    header_query = next(
        r["query"] for r in odata_server.requests if r["path"] == "/data/PurchaseOrderHeadersV2"
    )
    assert header_query["$filter"] == (
        "PurchaseOrderStatus ne Microsoft.Dynamics.DataEntities.PurchStatus'Canceled'"
    )
    assert header_query["cross-company"] == "true"


def test_paging_follows_next_link_until_absent(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> None:
    headers = odata_server.entities["PurchaseOrderHeadersV2"]
    lines = odata_server.entities["PurchaseOrderLinesV2"]
    for n in range(60):
        po = f"BULK-{n:03d}"
        headers.append(
            {
                **headers[0],
                "PurchaseOrderNumber": po,
                "AccountingDate": f"2024-05-{1 + n % 28:02d}T00:00:00Z",
            }
        )
        lines.append({**lines[0], "PurchaseOrderNumber": po, "PurchasePrice": D(n) + D("0.01")})
    settings = make_settings(token_server, odata_server, certificate[0], page_size=7)
    with_pages = D365Connector(settings, sleep=lambda _: None)
    try:
        records, _ = _split(list(with_pages.purchase_order_lines()))
    finally:
        with_pages.close()
    bulk = sorted(
        (r for r in records if r.po_number.startswith("BULK-")), key=lambda r: r.po_number
    )
    assert [r.unit_price for r in bulk] == [D(n) + D("0.01") for n in range(60)]
    header_pages = [r for r in odata_server.requests if r["path"] == "/data/PurchaseOrderHeadersV2"]
    # 64 open headers in pages of 7: ten pages, the last nine reached through nextLink.
    assert len(header_pages) == 10
    assert [r["query"].get("$skiptoken") for r in header_pages[1:]] == [
        str(7 * k) for k in range(1, 10)
    ]
    assert {r["prefer"] for r in header_pages} == {"odata.maxpagesize=7"}


def test_company_filter_reads_only_that_company(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> None:
    settings = make_settings(token_server, odata_server, certificate[0], companies="DEMF")
    demf = D365Connector(settings, sleep=lambda _: None)
    try:
        suppliers, _ = _split(list(demf.suppliers()))
        lines, rejected = _split(list(demf.purchase_order_lines()))
    finally:
        demf.close()
    assert [s.code for s in suppliers] == ["V-100"]
    assert [(r.company, r.po_number, r.line_number) for r in lines] == [("demf", "PO-1", "1")]
    assert [r.key for r in rejected] == ["demf/PO-1/2"]
    vendor_query = next(r["query"] for r in odata_server.requests if r["path"] == "/data/VendorsV2")
    # A non-default company is reachable only with cross-company=true plus the filter.
    assert vendor_query == {
        "cross-company": "true",
        "$filter": "dataAreaId eq 'demf'",
        "$select": vendor_query["$select"],
    }


def test_incremental_read_by_accounting_date_with_look_back(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> None:
    since = dt.datetime(2024, 3, 1, tzinfo=UTC)
    no_look_back = make_settings(token_server, odata_server, certificate[0], lookback_days=0)
    conn = D365Connector(no_look_back, sleep=lambda _: None)
    try:
        recent, recent_rejected = _split(list(conn.purchase_order_lines(since)))
    finally:
        conn.close()
    assert [(r.company, r.po_number, r.line_number) for r in recent] == [("usmf", "PO-2", "2")]
    assert [r.key for r in recent_rejected] == ["usmf/PO-2/1"]
    last_header_query = [
        r["query"] for r in odata_server.requests if r["path"] == "/data/PurchaseOrderHeadersV2"
    ][-1]
    assert last_header_query["$filter"] == (
        "(AccountingDate ge 2024-03-01T00:00:00Z) and "
        "(PurchaseOrderStatus ne Microsoft.Dynamics.DataEntities.PurchStatus'Canceled')"
    )

    month_back = make_settings(token_server, odata_server, certificate[0], lookback_days=30)
    conn = D365Connector(month_back, sleep=lambda _: None)
    try:
        wider, _ = _split(list(conn.purchase_order_lines(since)))
    finally:
        conn.close()
    # 2024-01-31 onwards: the demf order of 1 February is re-read, January's is not.
    assert sorted((r.company, r.po_number, r.line_number) for r in wider) == [
        ("demf", "PO-1", "1"),
        ("usmf", "PO-2", "2"),
    ]
    assert max(r.changed_at for r in wider if r.changed_at) == dt.datetime(
        2024, 3, 10, 8, 30, tzinfo=UTC
    )


def test_contract_prices_from_trade_agreements(connector: D365Connector) -> None:
    records, rejected = _split(list(connector.contract_prices()))
    assert records == [
        ContractPriceRecord(
            contract_number="TAJ-1",
            line_number="1",
            supplier_code="V-001",
            item_code="I-100",
            unit_price=D("800.10"),
            unit="t",
            currency="USD",
            valid_from=dt.date(2024, 1, 1),
            valid_to=None,  # 1900-01-01 is D365's empty date
            min_quantity=D(0),
            attributes={"company": "usmf", "quoted_price": D("800.10"), "price_quantity": D(1)},
        ),
        ContractPriceRecord(
            contract_number="TAJ-1",
            line_number="2",
            supplier_code="V-001",
            item_code="I-100",
            unit_price=D(780),  # 78000 per 100 t
            unit="t",
            currency="USD",
            valid_from=dt.date(2024, 1, 1),
            valid_to=None,
            min_quantity=D(50),
            attributes={"company": "usmf", "quoted_price": D(78000), "price_quantity": D(100)},
        ),
    ]  # TAJ-2 names no vendor (a group agreement) and is left out
    assert [(r.entity, r.key, r.reason) for r in rejected] == [
        (Entity.CONTRACTS, "demf/TAJ-9/1", "Price is not a number: 'n/a'")
    ]


def test_price_records_from_primary_vendor_prices(connector: D365Connector) -> None:
    records, rejected = _split(list(connector.price_records()))
    assert records == [
        PriceRecord(
            record_key="usmf/I-100",
            supplier_code="V-001",
            item_code="I-100",
            unit_price=FINE_PRICE,
            unit="t",
            currency="USD",
            attributes={"company": "usmf", "quoted_price": FINE_PRICE, "price_quantity": D(1)},
        ),
        PriceRecord(
            record_key="usmf/I-200",
            supplier_code="V-002",
            item_code="I-200",
            unit_price=D("12.5"),
            unit="bag",
            currency="USD",
            attributes={"company": "usmf", "quoted_price": D("1250.00"), "price_quantity": D(100)},
        ),
    ]
    assert [(r.entity, r.key, r.reason) for r in rejected] == [
        (Entity.PRICE_RECORDS, "usmf/I-500", "primary vendor V-999 not in usmf (no currency)")
    ]


def test_non_scalar_keys_are_rejected_not_fatal(
    connector: D365Connector, odata_server: ODataServer
) -> None:
    odata_server.entities["VendorsV2"].append(
        {"dataAreaId": "usmf", "VendorAccountNumber": {"odd": 1}, "VendorOrganizationName": "X"}
    )
    odata_server.entities["PurchasePriceAgreements"].append(
        {
            "dataAreaId": "usmf",
            "TradeAgreementJournalNumber": ["TAJ-X"],
            "LineNumber": 1,
            "VendorAccountNumber": "V-001",
            "ItemNumber": "I-100",
            "Price": D(1),
            "PriceCurrencyCode": "USD",
            "QuantityUnitSymbol": "t",
        }
    )
    suppliers, rejected = _split(list(connector.suppliers()))
    assert len(suppliers) == 3
    assert [r.reason for r in rejected] == [
        "VendorAccountNumber is missing",
        "VendorAccountNumber is not a scalar: {'odd': 1}",
    ]
    prices, price_rejects = _split(list(connector.contract_prices()))
    assert len(prices) == 2
    assert price_rejects[-1].reason == "TradeAgreementJournalNumber is not a scalar: ['TAJ-X']"
