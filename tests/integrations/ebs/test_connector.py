"""The EBS connector's own SQL against an EBS-shaped PostgreSQL schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, event, text

from core.errors import ConfigurationError, InvalidInputError, NotFoundError
from integrations.base import (
    ContractPriceRecord,
    ContractPriceUpdate,
    Entity,
    ERPConnector,
    ItemRecord,
    PriceRecord,
    PurchaseOrderLineRecord,
    Rejected,
    RequisitionDraft,
    SupplierRecord,
)
from integrations.ebs import EbsConnector, EbsSettings
from integrations.ebs.queries import build_statements
from tests.integrations.ebs import ebs_data
from tests.integrations.ebs.ebs_data import CUTOFF, OU_A, OU_B, EbsData

R = TypeVar("R")
UTC = dt.UTC


def split(read: Iterable[R | Rejected]) -> tuple[list[R], list[Rejected]]:
    """Separate records from rejections."""
    records: list[R] = []
    rejected: list[Rejected] = []
    for entry in read:
        (rejected if isinstance(entry, Rejected) else records).append(entry)  # type: ignore[arg-type]
    return records, rejected


def by_key(records: list[PurchaseOrderLineRecord]) -> dict[str, PurchaseOrderLineRecord]:
    """Index PO lines by their external key, refusing duplicates."""
    index = {r.external_key: r for r in records}
    assert len(index) == len(records)
    return index


@contextmanager
def counted_selects(engine: Engine) -> Iterator[list[str]]:
    """Record every SELECT the engine runs inside the block."""
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_connector_is_an_erp_connector(connector: EbsConnector) -> None:
    assert isinstance(connector, ERPConnector)
    assert connector.system == "ebs"


def test_every_statement_runs_on_the_ebs_schema(ebs_engine: Engine, ebs_schema: str) -> None:
    # The very statements the connector holds, in every variant the settings can select.
    binds: dict[str, Any] = {
        "full_read": 0,
        "since": CUTOFF,
        "after": 0,
        "page_size": 5,
        "org_ids": [OU_A],
        "master_org_id": ebs_data.MASTER_ORG,
        "document_type": "BLANKET",
        "supplier_code": "V1001",
        "contract_number": "6001",
        "line_num": 1,
        "unit_price": Decimal(1),
        "old_unit_price": Decimal(1),
        "po_line_id": 0,
        "now": CUTOFF,
        "batch_id": 1,
        "interface_source_code": "TEST",
        "org_id": OU_A,
        "preparer_id": None,
        "item_segment1": "IT-0001",
        "quantity": Decimal(1),
        "unit_of_measure": "Each",
        "currency_code": "USD",
        "suggested_vendor_id": None,
        "suggested_vendor_name": None,
        "need_by_date": None,
        "destination_organization_code": None,
        "note_to_buyer": None,
    }
    ran = 0
    for owner in (None, ebs_schema):
        for units in (False, True):
            for master in (False, True):
                settings = EbsSettings(
                    schema=owner,
                    operating_units=[OU_A] if units else [],
                    item_master_org_id=ebs_data.MASTER_ORG if master else None,
                )
                statements = EbsConnector(settings, engine=ebs_engine).statements
                built = build_statements(
                    owner=owner, filter_operating_units=units, item_master=master
                )
                assert {k: v.text for k, v in statements.all().items()} == {
                    k: v.text for k, v in built.all().items()
                }
                for name, statement in statements.all().items():
                    wanted = {k: v for k, v in binds.items() if f":{k}" in statement.text}
                    with ebs_engine.connect() as conn:
                        result = conn.execute(statement, wanted)
                        if result.returns_rows:
                            assert len(result.all()) <= 5, name
                        conn.rollback()
                    ran += 1
    assert ran == 8 * 9


def test_full_read_equals_the_data(connector: EbsConnector, ebs_rows: EbsData) -> None:
    expected, expected_rejected = ebs_data.expected_po_lines(ebs_rows)
    records, rejected = split(connector.purchase_order_lines())

    got = by_key(records)
    assert set(got) == set(expected)
    assert len(got) > 120
    for key, want in expected.items():
        record = got[key]
        for name, value in want.items():
            assert getattr(record, name) == value, (key, name)
        assert isinstance(record.unit_price, Decimal)
        assert isinstance(record.quantity, Decimal)
        assert record.status == "APPROVED"
        assert record.changed_at is not None
        assert record.changed_at.tzinfo is not None
    assert {r.key for r in rejected} == expected_rejected


def test_price_override_wins_over_the_line_price(connector: EbsConnector) -> None:
    got = by_key(split(connector.purchase_order_lines())[0])
    no_line_price = got["5901/4"]
    assert no_line_price.unit_price == Decimal("7.25")
    assert no_line_price.attributes["line_unit_price"] is None
    two_prices = got["5901/5"]
    assert two_prices.unit_price == Decimal("9.75")
    assert two_prices.attributes["line_unit_price"] == Decimal("10.00")
    assert two_prices.attributes["price_override_min"] == Decimal("9.50")


def test_incremental_read_follows_header_line_and_shipment_changes(
    connector: EbsConnector, ebs_rows: EbsData
) -> None:
    expected, expected_rejected = ebs_data.expected_po_lines(ebs_rows, since=CUTOFF)
    records, rejected = split(connector.purchase_order_lines(CUTOFF))
    got = by_key(records)
    assert set(got) == set(expected)
    assert not rejected
    assert not expected_rejected
    full, _ = ebs_data.expected_po_lines(ebs_rows)
    assert 0 < len(got) < len(full) / 2

    # Each kind of change brings a line on its own: header, line, shipment.
    headers_late = {h["po_header_id"] for h in ebs_rows.headers if h["last_update_date"] > CUTOFF}
    lines_late = {ln["po_line_id"] for ln in ebs_rows.lines if ln["last_update_date"] > CUTOFF}
    shipments_late = {s["po_line_id"] for s in ebs_rows.locations if s["last_update_date"] > CUTOFF}
    ids = {r.attributes["po_line_id"] for r in records}
    header_of = {r.attributes["po_line_id"]: r.attributes["po_header_id"] for r in records}
    assert any(header_of[i] in headers_late and i not in lines_late for i in ids)
    assert any(i in lines_late and header_of[i] not in headers_late for i in ids)
    assert any(
        i in shipments_late and i not in lines_late and header_of[i] not in headers_late
        for i in ids
    )
    for record in records:
        assert record.changed_at is not None
        assert record.changed_at > CUTOFF.replace(tzinfo=UTC)


def test_an_aware_watermark_is_read_in_the_database_zone(
    ebs_engine: Engine, ebs_rows: EbsData
) -> None:
    # The database clock runs on Berlin time; 2026-06-01 00:00 there is 05-31 22:00 UTC.
    settings = EbsSettings(time_zone="Europe/Berlin")
    ebs = EbsConnector(settings, engine=ebs_engine)
    aware = dt.datetime(2026, 5, 31, 22, 0, tzinfo=UTC)
    records, _ = split(ebs.purchase_order_lines(aware))
    expected, _ = ebs_data.expected_po_lines(ebs_rows, since=CUTOFF)
    assert {r.external_key for r in records} == set(expected)
    assert all(r.changed_at and str(r.changed_at.tzinfo) == "Europe/Berlin" for r in records)


def test_lookback_rereads_before_the_watermark(ebs_engine: Engine, ebs_rows: EbsData) -> None:
    # A watermark one minute after LATE finds nothing; a two-minute lookback finds LATE rows.
    watermark = ebs_data.LATE + dt.timedelta(minutes=1)
    plain = EbsConnector(EbsSettings(), engine=ebs_engine)
    assert split(plain.purchase_order_lines(watermark)) == ([], [])
    lookback = EbsConnector(EbsSettings(lookback_seconds=120), engine=ebs_engine)
    expected, _ = ebs_data.expected_po_lines(ebs_rows, since=CUTOFF)
    assert set(by_key(split(lookback.purchase_order_lines(watermark))[0])) == set(expected)


def test_keyset_paging_streams_in_pages(ebs_engine: Engine, ebs_rows: EbsData) -> None:
    expected, expected_rejected = ebs_data.expected_po_lines(ebs_rows)
    total = len(expected) + len(expected_rejected)
    ebs = EbsConnector(EbsSettings(fetch_size=7), engine=ebs_engine)
    with counted_selects(ebs_engine) as selects:
        read = ebs.purchase_order_lines()
        first = next(read)
        assert len(selects) == 1  # the first record comes after one page, not the whole read
        entries = [first, *read]
    assert len(entries) == total
    assert len(selects) == total // 7 + 1
    records, _ = split(entries)
    assert set(by_key(records)) == set(expected)  # no line read twice, none skipped


def test_operating_unit_filter(ebs_engine: Engine, ebs_rows: EbsData) -> None:
    ebs = EbsConnector(EbsSettings(operating_units=[OU_B], fetch_size=20), engine=ebs_engine)
    expected, expected_rejected = ebs_data.expected_po_lines(ebs_rows, org_ids=[OU_B])
    records, rejected = split(ebs.purchase_order_lines())
    assert set(by_key(records)) == set(expected)
    assert {r.company for r in records} == {str(OU_B)}
    assert not rejected
    assert not expected_rejected
    contracts, _ = split(ebs.contract_prices())
    assert contracts
    assert {c.attributes["org_id"] for c in contracts} == {OU_B}


def test_malformed_rows_are_rejected_and_the_rest_continue(connector: EbsConnector) -> None:
    records, rejected = split(connector.purchase_order_lines())
    reasons = {r.key: r.reason for r in rejected}
    assert set(reasons) == {"5900/1", "5900/2", "5901/1", "5901/2", "5901/3"}
    assert reasons["5900/1"].startswith("unknown supplier (vendor_id 99999")
    assert reasons["5901/1"].startswith("no price")
    assert reasons["5901/2"] == "quantity is negative (-5)"
    assert reasons["5901/3"].startswith("unknown item (item_id 999999")
    assert all(r.entity is Entity.PURCHASE_ORDERS for r in rejected)
    raw = next(r.raw for r in rejected if r.key == "5901/2")
    assert raw["quantity"] == "-5"
    assert raw["po_number"] == "5901"
    # Good lines of the same order still come through, after the rejected ones.
    keys = {r.external_key for r in records}
    assert {"5901/4", "5901/5"} <= keys


def test_suppliers_and_items(connector: EbsConnector, ebs_rows: EbsData) -> None:
    suppliers, rejected = split(connector.suppliers())
    assert not rejected
    assert all(isinstance(s, SupplierRecord) for s in suppliers)
    assert [s.code for s in suppliers] == [s["segment1"] for s in ebs_rows.suppliers]
    assert {s.code for s in suppliers if s.blocked} == {
        s["segment1"] for s in ebs_rows.suppliers if s["enabled_flag"] != "Y"
    }
    late = {s["segment1"] for s in ebs_rows.suppliers if s["last_update_date"] > CUTOFF}
    assert {s.code for s in split(connector.suppliers(CUTOFF))[0]} == late

    items, rejected = split(connector.items())
    assert not rejected
    assert all(isinstance(i, ItemRecord) for i in items)
    assert len(items) == 50  # each item once, though half are in two organizations
    assert {i.attributes["organization_id"] for i in items} == {ebs_data.MASTER_ORG}
    assert items[0].unit == "Ea"
    assert items[1].unit == "KG"
    late_items = {
        i["segment1"]
        for i in ebs_rows.items
        if i["organization_id"] == ebs_data.MASTER_ORG and i["last_update_date"] > CUTOFF
    }
    assert {i.code for i in split(connector.items(CUTOFF))[0]} == late_items


def test_items_of_a_named_item_master(ebs_engine: Engine) -> None:
    ebs = EbsConnector(EbsSettings(item_master_org_id=ebs_data.CHILD_ORG), engine=ebs_engine)
    items, _ = split(ebs.items())
    assert len(items) == 25
    assert {i.attributes["organization_id"] for i in items} == {ebs_data.CHILD_ORG}


def test_blanket_lines_are_contract_prices(connector: EbsConnector, ebs_rows: EbsData) -> None:
    contracts, rejected = split(connector.contract_prices())
    assert all(isinstance(c, ContractPriceRecord) for c in contracts)
    approved = {
        h["po_header_id"]
        for h in ebs_rows.headers
        if h["type_lookup_code"] == "BLANKET" and h["authorization_status"] == "APPROVED"
    }
    lines = {
        ln["po_line_id"]: ln
        for ln in ebs_rows.lines
        if ln["po_header_id"] in approved and ln["item_id"] is not None
    }
    assert {c.attributes["po_line_id"] for c in contracts} == set(lines)
    for contract in contracts:
        line = lines[contract.attributes["po_line_id"]]
        assert contract.unit_price == line["unit_price"]
        assert contract.unit == line["unit_meas_lookup_code"]
        assert contract.valid_from == dt.date(2026, 1, 1)
        assert contract.valid_to == dt.date(2026, 12, 31)
        assert contract.supplier_code.startswith("V")
    assert [r.key for r in rejected] == ["6001/4"]
    assert rejected[0].entity is Entity.CONTRACTS
    assert "free-text" in rejected[0].reason

    late = split(connector.contract_prices(CUTOFF))[0]
    assert late
    assert len(late) < len(contracts)


def test_quotations_are_price_records(connector: EbsConnector) -> None:
    prices, rejected = split(connector.price_records())
    assert not rejected
    assert len(prices) == 8
    assert all(isinstance(p, PriceRecord) for p in prices)
    assert {p.record_key.split("/")[0] for p in prices} == {"6501", "6502", "6503", "6504"}


def test_requisition_goes_to_the_open_interface(scratch_engine: Engine) -> None:
    ebs = EbsConnector(EbsSettings(operating_units=[OU_A], preparer_id=25), engine=scratch_engine)
    draft = RequisitionDraft(
        item_code="IT-0003",
        quantity=Decimal("12.5"),
        unit="Kilogram",
        unit_price=Decimal("4.125"),
        currency="USD",
        supplier_code="V1002",
        need_by_date=dt.date(2026, 12, 1),
        plant="M1",
        note="approved in chat",
    )
    result = ebs.create_requisition(draft)
    assert result.system == "ebs"
    with scratch_engine.connect() as conn:
        row = (
            conn.execute(
                text("SELECT * FROM po_requisitions_interface_all WHERE batch_id = :b"),
                {"b": int(result.document_id)},
            )
            .mappings()
            .one()
        )
    assert row["interface_source_code"] == "PRICING_AGENT"
    assert row["authorization_status"] == "APPROVED"
    assert row["source_type_code"] == "VENDOR"
    assert row["org_id"] == OU_A
    assert row["preparer_id"] == 25
    assert row["quantity"] == Decimal("12.5")
    assert row["unit_price"] == Decimal("4.125")
    assert row["suggested_vendor_id"] == 1002
    assert row["suggested_vendor_name"] == "Supplier 01 Ltd"
    assert row["need_by_date"] == dt.datetime(2026, 12, 1)
    assert row["destination_organization_code"] == "M1"

    second = ebs.create_requisition(draft)
    assert second.document_id != result.document_id
    with pytest.raises(NotFoundError):
        ebs.create_requisition(
            RequisitionDraft("IT-0003", Decimal(1), "Each", Decimal(1), "USD", "NOPE")
        )
    with pytest.raises(InvalidInputError):
        ebs.create_requisition(RequisitionDraft("IT-0003", Decimal(0), "Each", Decimal(1), "USD"))


def test_requisition_needs_an_operating_unit(scratch_engine: Engine) -> None:
    ebs = EbsConnector(EbsSettings(operating_units=[OU_A, OU_B]), engine=scratch_engine)
    with pytest.raises(ConfigurationError):
        ebs.create_requisition(RequisitionDraft("IT-0003", Decimal(1), "Each", Decimal(1), "USD"))


def test_update_contract_price(scratch_engine: Engine) -> None:
    ebs = EbsConnector(EbsSettings(), engine=scratch_engine)
    before = {(c.contract_number, c.line_number): c for c in split(ebs.contract_prices())[0]}
    target = before[("6002", "2")]
    result = ebs.update_contract_price(
        ContractPriceUpdate(
            "6002", "2", Decimal("123.4567"), target.currency, target.unit, dt.date(2026, 9, 1)
        )
    )
    assert result.document_id == "6002"
    assert result.message
    assert "valid_from" in result.message

    # The change is a line change: the next incremental read brings it, nothing else.
    watermark = max(c.changed_at for c in before.values() if c.changed_at)
    changed = split(ebs.contract_prices(watermark))[0]
    assert [(c.contract_number, c.line_number, c.unit_price) for c in changed] == [
        ("6002", "2", Decimal("123.4567"))
    ]
    with pytest.raises(NotFoundError):
        ebs.update_contract_price(
            ContractPriceUpdate("6002", "99", Decimal(1), target.currency, target.unit)
        )
    with pytest.raises(InvalidInputError):
        ebs.update_contract_price(ContractPriceUpdate("6002", "2", Decimal(1), "JPY", target.unit))
    with pytest.raises(InvalidInputError):
        ebs.update_contract_price(
            ContractPriceUpdate("6002", "two", Decimal(1), target.currency, target.unit)
        )
    # A standard PO is not a contract.
    with pytest.raises(NotFoundError):
        ebs.update_contract_price(
            ContractPriceUpdate("5001", "1", Decimal(1), target.currency, target.unit)
        )


def test_owner_prefix_reaches_the_tables(database: Any, ebs_schema: str, ebs_rows: EbsData) -> None:
    # No search_path: only the schema owner in front of each table finds the rows.
    ebs = EbsConnector(EbsSettings(schema=ebs_schema), engine=database.owner_engine)
    expected, _ = ebs_data.expected_po_lines(ebs_rows)
    assert len(split(ebs.purchase_order_lines())[0]) == len(expected)
    assert "ebs_test_" in ebs.statements.po_lines.text


def test_owned_engine_from_the_url_is_disposed(
    database: Any, ebs_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database.owner_engine.url.render_as_string(hide_password=False)
    ebs = EbsConnector(EbsSettings(url=url, schema=ebs_schema, timeout_seconds=5))
    assert len(split(ebs.suppliers())[0]) == 40
    disposed: list[bool] = []
    original = ebs._engine.dispose

    def spy() -> None:
        disposed.append(True)
        original()

    monkeypatch.setattr(ebs._engine, "dispose", spy)
    ebs.close()
    assert disposed == [True]
    with pytest.raises(ConfigurationError):
        EbsConnector(EbsSettings(url=None))


def test_injected_engine_is_left_open(ebs_engine: Engine) -> None:
    ebs = EbsConnector(EbsSettings(), engine=ebs_engine)
    ebs.close()
    with ebs_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM po_headers_all")) == len(
            ebs_data.generate().headers
        )
