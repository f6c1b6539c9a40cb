"""The ERP sync into the store: one item across systems, crash-safe re-runs, rejections."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import ConflictError, NotFoundError
from integrations.base import (
    ContractPriceRecord,
    Entity,
    ItemRecord,
    PurchaseOrderLineRecord,
    Rejected,
    SupplierRecord,
)
from integrations.fake import FakeConnector
from integrations.sync import sync_erp
from store import item_matches
from store.db import Database
from store.models import (
    ContractPrice,
    ErpRejection,
    ErpSyncRun,
    ErpWatermark,
    Item,
    ItemAlias,
    ItemMatchCandidate,
    PurchaseOrder,
    PurchaseOrderLine,
)
from tests.conftest import make_org

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def sap_system(lines: int = 60) -> FakeConnector:
    """An SAP-like ERP: two suppliers, two materials, ``lines`` PO lines, one contract."""
    return FakeConnector(
        system="sap",
        supplier_records=[
            SupplierRecord(code="100001", name="Steel Supply Co.", changed_at=at(1)),
            SupplierRecord(code="100002", name="Midwest Rebar LLC", changed_at=at(1)),
        ],
        item_records=[
            ItemRecord(
                code="MAT-REBAR-5",
                description="Reinforcing bar epoxy coated grade 60",
                unit="KG",
                changed_at=at(2),
            ),
            ItemRecord(
                code="MAT-CEM", description="Portland cement type I", unit="TO", changed_at=at(2)
            ),
        ],
        po_line_records=[
            PurchaseOrderLineRecord(
                po_number=f"45000{n // 3:05d}",
                line_number=f"{(n % 3 + 1) * 10}",
                supplier_code="100001" if n % 2 else "100002",
                item_code="MAT-REBAR-5" if n % 4 else "MAT-CEM",
                description=None,
                quantity=Decimal(1000 + n),
                unit="KG" if n % 4 else "TO",
                unit_price=Decimal("1.125") + Decimal(n) / 1000,
                currency="USD",
                order_date=dt.date(2026, 1, 1) + dt.timedelta(days=n),
                changed_at=at(10 + n),
                company="1000",
            )
            for n in range(lines)
        ],
        contract_price_records=[
            ContractPriceRecord(
                contract_number="4600000001",
                line_number="10",
                supplier_code="100001",
                item_code="MAT-REBAR-5",
                unit_price=Decimal("1.0500"),
                unit="KG",
                currency="USD",
                valid_from=dt.date(2026, 1, 1),
                valid_to=dt.date(2026, 12, 31),
                changed_at=at(3),
            )
        ],
    )


def rows(database: Database, org_id: uuid.UUID) -> dict[str, Any]:
    """What the sync wrote, in a form two runs can be compared by."""
    with database.session_scope(org_id) as session:
        lines = session.execute(
            select(
                PurchaseOrder.source_system,
                PurchaseOrder.po_number,
                PurchaseOrderLine.line_no,
                PurchaseOrderLine.quantity,
                PurchaseOrderLine.unit,
                PurchaseOrderLine.unit_price,
                PurchaseOrderLine.currency,
                PurchaseOrderLine.order_date,
                Item.code,
            )
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .join(Item, Item.id == PurchaseOrderLine.item_id)
            .where(PurchaseOrderLine.org_id == org_id)
            .order_by(PurchaseOrder.po_number, PurchaseOrderLine.line_no)
        ).all()
        aliases = session.execute(
            select(ItemAlias.system, ItemAlias.external_code, Item.code)
            .join(Item, Item.id == ItemAlias.item_id)
            .where(ItemAlias.org_id == org_id)
            .order_by(ItemAlias.system, ItemAlias.external_code)
        ).all()
        prices = session.execute(
            select(ContractPrice.line_no, ContractPrice.unit_price).where(
                ContractPrice.org_id == org_id
            )
        ).all()
    return {"lines": [tuple(r) for r in lines], "aliases": aliases, "prices": prices}


def test_a_full_sync_stores_everything_with_exact_money(database: Database) -> None:
    org = make_org(database)
    report = sync_erp(database=database, org_id=org, connector=sap_system())
    assert report.counts["purchase_orders"].inserted == 60
    assert report.counts["purchase_orders"].rejected == 0
    stored = rows(database, org)
    assert len(stored["lines"]) == 60
    first = stored["lines"][0]
    assert first[3] == Decimal(1000)
    assert first[4] == "t"  # SAP's TO is the metric tonne
    assert first[5] == Decimal("1.125")
    assert stored["prices"] == [("10", Decimal("1.0500"))]
    with database.session_scope(org) as session:
        run = session.get(ErpSyncRun, (org, report.run_id))
        assert run is not None
        assert run.status == "finished"
        assert run.counts["purchase_orders"]["read"] == 60
        marks = dict(
            session.execute(
                select(ErpWatermark.entity, ErpWatermark.watermark).where(
                    ErpWatermark.org_id == org
                )
            ).all()
        )
    assert marks["purchase_orders"] == at(69)


def test_a_re_run_writes_nothing_new_and_reads_only_what_changed(database: Database) -> None:
    org = make_org(database)
    erp = sap_system()
    sync_erp(database=database, org_id=org, connector=erp)
    before = rows(database, org)
    again = sync_erp(database=database, org_id=org, connector=erp)
    assert again.counts["purchase_orders"].read == 0  # nothing changed since the watermark
    assert rows(database, org) == before
    full = sync_erp(database=database, org_id=org, connector=erp, since=T0)
    assert full.counts["purchase_orders"].unchanged == 60
    assert full.counts["purchase_orders"].inserted == 0
    assert rows(database, org) == before


def test_a_changed_line_is_updated_and_a_line_read_twice_keeps_the_later_record(
    database: Database,
) -> None:
    org = make_org(database)
    erp = sap_system()
    sync_erp(database=database, org_id=org, connector=erp)
    old = erp.po_line_records[7]
    assert isinstance(old, PurchaseOrderLineRecord)
    changed = dataclasses.replace(
        old, unit_price=Decimal("9.99"), quantity=Decimal(5), changed_at=at(100)
    )
    erp.po_line_records.append(changed)
    later = dataclasses.replace(changed, unit_price=Decimal("8.88"), changed_at=at(101))
    erp.po_line_records.append(later)

    again = sync_erp(database=database, org_id=org, connector=erp)

    counts = again.counts["purchase_orders"]
    assert (counts.read, counts.inserted, counts.updated, counts.unchanged) == (2, 0, 1, 1)
    with database.session_scope(org) as session:
        stored = session.execute(
            select(PurchaseOrderLine.quantity, PurchaseOrderLine.unit_price)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .where(
                PurchaseOrder.org_id == org,
                PurchaseOrder.po_number == old.po_number,
                PurchaseOrderLine.line_no == old.line_number,
            )
        ).all()
    assert stored == [(Decimal(5), Decimal("8.88"))]
    # Read again from the start, the line's last record is the stored one: nothing changes.
    full = sync_erp(database=database, org_id=org, connector=erp, since=T0)
    assert (full.counts["purchase_orders"].updated, full.counts["purchase_orders"].unchanged) == (
        0,
        62,
    )


def test_a_sync_killed_half_way_and_re_run_equals_an_uninterrupted_one(
    database: Database,
) -> None:
    whole, crashed = make_org(database), make_org(database)
    sync_erp(database=database, org_id=whole, connector=sap_system(), batch_size=7)

    class KilledError(Exception):
        pass

    def kill(entity: Entity, batch: int) -> None:
        if entity is Entity.PURCHASE_ORDERS and batch == 4:
            raise KilledError

    with pytest.raises(KilledError):
        sync_erp(
            database=database, org_id=crashed, connector=sap_system(), batch_size=7, on_batch=kill
        )
    half = rows(database, crashed)
    assert 0 < len(half["lines"]) < 60
    with database.session_scope(crashed) as session:
        statuses = session.scalars(select(ErpSyncRun.status).where(ErpSyncRun.org_id == crashed))
        assert list(statuses) == ["failed"]
        mark = session.scalar(
            select(ErpWatermark.watermark).where(
                ErpWatermark.org_id == crashed, ErpWatermark.entity == "purchase_orders"
            )
        )
        assert mark is None  # the half-read entity's watermark did not move
    sync_erp(database=database, org_id=crashed, connector=sap_system(), batch_size=7)
    assert rows(database, crashed) == rows(database, whole)


def test_the_same_item_in_two_systems_is_one_item_with_two_aliases(database: Database) -> None:
    org = make_org(database)
    sync_erp(database=database, org_id=org, connector=sap_system(lines=4))
    d365 = FakeConnector(
        system="d365",
        supplier_records=[SupplierRecord(code="V-0042", name="STEEL SUPPLY CO", changed_at=at(1))],
        item_records=[
            # Same words, another code and a unit of the same dimension: a confident match.
            ItemRecord(
                code="A0042",
                description="reinforcing bar, epoxy coated, grade 60",
                unit="lb",
                changed_at=at(1),
            ),
            # Some words in common only: created as its own item, listed for a person.
            ItemRecord(
                code="A0077", description="Cement masonry type N", unit="t", changed_at=at(1)
            ),
        ],
        po_line_records=[
            PurchaseOrderLineRecord(
                po_number="PO-000777",
                line_number="1",
                supplier_code="V-0042",
                item_code="A0042",
                description="Epoxy rebar",
                quantity=Decimal(2000),
                unit="lb",
                unit_price=Decimal("0.58"),
                currency="USD",
                order_date=dt.date(2026, 2, 1),
                changed_at=at(5),
                company="usmf",
            )
        ],
    )
    report = sync_erp(database=database, org_id=org, connector=d365)
    stored = rows(database, org)
    rebar = {
        code for system, external, code in stored["aliases"] if external in ("MAT-REBAR-5", "A0042")
    }
    assert rebar == {"MAT-REBAR-5"}  # both systems' codes name one item
    with database.session_scope(org) as session:
        lines = session.scalars(
            select(PurchaseOrder.source_system).where(PurchaseOrder.org_id == org)
        ).all()
        assert set(lines) == {"sap", "d365"}
        candidates = session.execute(
            select(ItemMatchCandidate.external_code, Item.code, ItemMatchCandidate.status)
            .join(Item, Item.id == ItemMatchCandidate.item_id)
            .where(ItemMatchCandidate.org_id == org)
        ).all()
    assert ("A0077", "MAT-CEM", "pending") in candidates
    assert report.candidates >= 1
    cement_codes = {code for system, external, code in stored["aliases"] if external == "A0077"}
    assert cement_codes == {"A0077"}  # not merged with MAT-CEM without a person


def test_two_codes_of_one_erp_stay_two_items_even_with_the_same_words(
    database: Database,
) -> None:
    org = make_org(database)
    words = "Reinforcing bar epoxy coated grade 60"
    sap = FakeConnector(
        system="sap",
        item_records=[
            ItemRecord(code="MAT-1", description=words, unit="KG", changed_at=at(1)),
            # SAP keeps this one apart (another plant's material, say): so does the store.
            ItemRecord(code="MAT-2", description=words, unit="KG", changed_at=at(2)),
        ],
    )
    report = sync_erp(database=database, org_id=org, connector=sap, entities=[Entity.ITEMS])
    assert report.counts["items"].inserted == 2
    assert report.candidates == 0  # nor is one offered as the other's match
    # A second ERP's item with those words matches neither confidently: there are two.
    d365 = FakeConnector(
        system="d365",
        item_records=[ItemRecord(code="A1", description=words, unit="lb", changed_at=at(3))],
    )
    second = sync_erp(database=database, org_id=org, connector=d365, entities=[Entity.ITEMS])
    assert second.counts["items"].inserted == 1
    assert second.candidates == 2
    with database.session_scope(org) as session:
        items = dict(
            session.execute(
                select(ItemAlias.external_code, ItemAlias.item_id).where(ItemAlias.org_id == org)
            ).all()
        )
    assert len({items["MAT-1"], items["MAT-2"], items["A1"]}) == 3


def test_malformed_records_are_rejected_with_reasons_and_the_rest_kept(
    database: Database,
) -> None:
    org = make_org(database)
    erp = sap_system(lines=10)
    good = erp.po_line_records[0]
    assert isinstance(good, PurchaseOrderLineRecord)
    bad = [
        Rejected(Entity.PURCHASE_ORDERS, "4500099999/10", "NetPriceAmount is not a number: 'x'"),
        PurchaseOrderLineRecord(**{**_fields(good), "po_number": "BAD1", "unit": "BUCKETS"}),
        PurchaseOrderLineRecord(**{**_fields(good), "po_number": "BAD2", "currency": "XYZ"}),
        PurchaseOrderLineRecord(**{**_fields(good), "po_number": "BAD3", "quantity": Decimal(0)}),
        PurchaseOrderLineRecord(**{**_fields(good), "po_number": "BAD4", "supplier_code": "999"}),
        PurchaseOrderLineRecord(**{**_fields(good), "po_number": "BAD5", "item_code": None}),
    ]
    erp.po_line_records[5:5] = bad
    report = sync_erp(database=database, org_id=org, connector=erp)
    assert report.counts["purchase_orders"].inserted == 10
    assert report.counts["purchase_orders"].rejected == 6
    with database.session_scope(org) as session:
        reasons = dict(
            session.execute(
                select(ErpRejection.key, ErpRejection.reason).where(
                    ErpRejection.org_id == org, ErpRejection.run_id == report.run_id
                )
            ).all()
        )
    assert reasons["4500099999/10"] == "NetPriceAmount is not a number: 'x'"
    assert "unknown unit of measure 'BUCKETS'" in reasons["BAD1/10"]
    assert "unknown currency 'XYZ'" in reasons["BAD2/10"]
    assert "greater than zero" in reasons["BAD3/10"]
    assert "unknown supplier '999'" in reasons["BAD4/10"]
    assert "free text" in reasons["BAD5/10"]
    assert len(rows(database, org)["lines"]) == 10


def _fields(record: PurchaseOrderLineRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def test_two_syncs_of_one_system_never_overlap(database: Database) -> None:
    org = make_org(database)
    seen: list[str] = []

    def second_sync(entity: Entity, batch: int) -> None:
        if entity is Entity.SUPPLIERS and not seen:
            seen.append("tried")
            with pytest.raises(ConflictError, match="already running"):
                sync_erp(database=database, org_id=org, connector=sap_system(lines=2))
            # Another system of the same organisation is not held up.
            other = FakeConnector(system="d365")
            assert sync_erp(database=database, org_id=org, connector=other).run_id > 0

    sync_erp(database=database, org_id=org, connector=sap_system(lines=2), on_batch=second_sync)
    assert seen == ["tried"]
    # Once the first run is over, the lock is free again.
    assert sync_erp(database=database, org_id=org, connector=sap_system(lines=2)).run_id > 0


def test_a_person_confirms_a_listed_match_and_the_lines_follow(database: Database) -> None:
    org = make_org(database)
    sync_erp(database=database, org_id=org, connector=sap_system(lines=4))
    d365 = FakeConnector(
        system="d365",
        supplier_records=[SupplierRecord(code="V-1", name="Steel Supply Co.", changed_at=at(1))],
        item_records=[
            ItemRecord(
                code="A0077", description="Cement masonry type N", unit="t", changed_at=at(1)
            )
        ],
        po_line_records=[
            PurchaseOrderLineRecord(
                po_number="PO-1",
                line_number="1",
                supplier_code="V-1",
                item_code="A0077",
                description=None,
                quantity=Decimal(12),
                unit="t",
                unit_price=Decimal("150.00"),
                currency="USD",
                order_date=dt.date(2026, 3, 1),
                changed_at=at(2),
            )
        ],
    )
    sync_erp(database=database, org_id=org, connector=d365)
    with database.session_scope(org) as session:
        [match] = item_matches.pending(session=session, org_id=org)
        assert (match.external_code, match.stored_as, match.suggested) == (
            "A0077",
            "A0077",
            "MAT-CEM",
        )
        item_matches.decide(
            session=session,
            org_id=org,
            system="d365",
            external_code="A0077",
            item_code="MAT-CEM",
            confirm=True,
            actor="test",
        )
    stored = rows(database, org)
    assert ("d365", "A0077", "MAT-CEM") in stored["aliases"]
    assert [line[-1] for line in stored["lines"] if line[1] == "PO-1"] == ["MAT-CEM"]
    with database.session_scope(org) as session:
        assert item_matches.pending(session=session, org_id=org) == []
        provisional = session.scalar(
            select(Item.id).where(Item.org_id == org, Item.code == "A0077")
        )
        assert provisional is None  # nothing else referred to it, so it is gone
        with pytest.raises(NotFoundError):
            item_matches.decide(
                session=session,
                org_id=org,
                system="d365",
                external_code="A0077",
                item_code="NOPE",
                confirm=True,
                actor="test",
            )
