"""The ERP sync: read a connector since each entity's watermark and write one price memory.

Every write is an upsert by (system, external key): suppliers and items through their
alias tables, purchase orders by (system, PO number) and their lines by line number,
contracts by (system, contract number). A re-run, or a run resumed after a crash half
way, therefore writes no duplicate; and the watermark of an entity moves only once all
of it is stored, so nothing is skipped either.

Items from different systems become one item when their codes are mapped (an alias, or
the same code) or when the match is confident: every word of the ERP description found
in exactly one store item of the same unit dimension. A weaker match creates the item as
its own and lists the candidate for a person to confirm; nothing is merged silently.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.errors import PricingAgentError
from integrations.base import (
    ContractPriceRecord,
    Entity,
    ERPConnector,
    PriceRecord,
    PurchaseOrderLineRecord,
    Rejected,
    SupplierRecord,
)
from integrations.sync_batch import (
    Batch,
    Counts,
    ItemIndex,
    SkipRecord,
    aliased_supplier,
    count,
    currency_of,
    item_id_of,
    supplier_id_of,
    unit_of,
)
from integrations.sync_items import write_item
from store import locks
from store.db import Database
from store.models import (
    Contract,
    ContractPrice,
    Currency,
    ErpRejection,
    ErpSyncRun,
    ErpWatermark,
    ItemAlias,
    Supplier,
    SupplierAlias,
)
from store.suppliers import supplier_key
from store.units import UnitCatalog

log = logging.getLogger(__name__)
ORDER: tuple[Entity, ...] = (
    Entity.SUPPLIERS,
    Entity.ITEMS,
    Entity.PURCHASE_ORDERS,
    Entity.CONTRACTS,
    Entity.PRICE_RECORDS,
)
BATCH = 500
R = TypeVar("R")


@dataclass
class SyncReport:
    """What a sync did, by entity."""

    run_id: int
    system: str
    counts: dict[str, Counts] = field(default_factory=dict)
    seconds: float = 0.0
    candidates: int = 0


def sync_erp(
    *,
    database: Database,
    org_id: uuid.UUID,
    connector: ERPConnector,
    entities: Iterable[Entity] = ORDER,
    since: dt.datetime | None = None,
    actor: str = "sync",
    batch_size: int = BATCH,
    on_batch: Callable[[Entity, int], None] | None = None,
) -> SyncReport:
    """Read ``connector`` into the organisation's store; return the run's report.

    ``since`` overrides the stored watermarks (a full re-read from that time).
    ``on_batch`` is called after each committed batch (progress, and tests that stop a
    run half way).
    """
    system = connector.system
    # Scheduled runs (cron, CronJobs) can start while a long one is still going: the
    # second is refused at once.
    with locks.exclusive(
        database,
        f"erp-sync:{org_id}:{system}",
        f"a sync of {system} is already running for this organisation",
    ):
        return _run(database, org_id, connector, set(entities), since, actor, batch_size, on_batch)


def _run(
    database: Database,
    org_id: uuid.UUID,
    connector: ERPConnector,
    wanted: set[Entity],
    since: dt.datetime | None,
    actor: str,
    batch_size: int,
    on_batch: Callable[[Entity, int], None] | None,
) -> SyncReport:
    system = connector.system
    started = time.perf_counter()
    with database.session_scope(org_id) as session:
        run = ErpSyncRun(org_id=org_id, system=system, since=since, actor=actor)
        session.add(run)
        session.flush()
        run_id = run.id
    report = SyncReport(run_id=run_id, system=system)
    seq = itertools.count(1)
    try:
        for entity in (e for e in ORDER if e in wanted):
            counts = report.counts.setdefault(entity.value, Counts())
            _sync_entity(
                database,
                org_id,
                connector,
                entity,
                since,
                counts,
                run_id,
                seq,
                batch_size,
                on_batch,
                report,
            )
    except Exception as exc:
        _finish(database, org_id, report, started, error=f"{type(exc).__name__}: {exc}")
        raise
    _finish(database, org_id, report, started, error=None)
    return report


def _finish(
    database: Database, org_id: uuid.UUID, report: SyncReport, started: float, error: str | None
) -> None:
    report.seconds = time.perf_counter() - started
    with database.session_scope(org_id) as session:
        session.execute(
            update(ErpSyncRun)
            .where(ErpSyncRun.org_id == org_id, ErpSyncRun.id == report.run_id)
            .values(
                status="failed" if error else "finished",
                finished_at=func.now(),
                seconds=report.seconds,
                counts={k: c.as_dict() for k, c in report.counts.items()}
                | {"match_candidates": report.candidates},
                error=error,
            )
        )


def _batches(records: Iterable[R], size: int) -> Iterator[list[R]]:
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _sync_entity(
    database: Database,
    org_id: uuid.UUID,
    connector: ERPConnector,
    entity: Entity,
    since: dt.datetime | None,
    counts: Counts,
    run_id: int,
    seq: Iterator[int],
    batch_size: int,
    on_batch: Callable[[Entity, int], None] | None,
    report: SyncReport,
) -> None:
    system = connector.system
    with database.session_scope(org_id) as session:
        mark = since or session.scalar(
            select(ErpWatermark.watermark).where(
                ErpWatermark.org_id == org_id,
                ErpWatermark.system == system,
                ErpWatermark.entity == entity.value,
            )
        )
        units = UnitCatalog.load(session)
        currencies = set(session.scalars(select(Currency.code)))
        supplier_ids, item_ids = _alias_maps(session, org_id, system, entity)
        items = ItemIndex.load(session, org_id, system) if entity is Entity.ITEMS else None
    reader = _READERS[entity](connector, mark)
    writer = _WRITERS.get(entity)  # purchase orders are stored per batch instead
    newest = mark
    for n, chunk in enumerate(_batches(reader, batch_size), start=1):
        with database.session_scope(org_id) as session:
            work = Batch(
                session,
                org_id,
                system,
                units,
                currencies,
                counts,
                run_id,
                seq,
                [],
                supplier_ids,
                item_ids,
                items,
            )
            orders = _OrderLines()
            for record in chunk:
                counts.read += 1
                if isinstance(record, Rejected):
                    _reject(work, entity, record.key, record.reason, record.raw)
                    continue
                try:
                    if entity is Entity.PURCHASE_ORDERS:
                        # Every refusal is raised while validating, before any write: the
                        # batch's lines are then stored set-wise, without savepoints.
                        _take_po_line(work, record, orders)
                    elif entity is Entity.ITEMS:
                        write_item(work, record)  # refusals, too, come before any write
                    else:
                        assert writer is not None
                        with session.begin_nested():
                            writer(work, record)
                except SkipRecord as exc:
                    _reject(work, entity, _key(record), str(exc), _raw(record))
                    continue
                changed = getattr(record, "changed_at", None)
                if changed is not None and (newest is None or changed > newest):
                    newest = changed
            _store_po_lines(work, orders)
            report.candidates += len(work.candidates)
        if on_batch is not None:
            on_batch(entity, n)
    if newest is not None and newest != mark:
        with database.session_scope(org_id) as session:
            statement = insert(ErpWatermark).values(
                org_id=org_id, system=system, entity=entity.value, watermark=newest
            )
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=[ErpWatermark.org_id, ErpWatermark.system, ErpWatermark.entity],
                    set_={"watermark": newest, "updated_at": func.now()},
                )
            )


def _alias_maps(
    session: Session, org_id: uuid.UUID, system: str, entity: Entity
) -> tuple[dict[str, int], dict[str, int]]:
    if entity in (Entity.SUPPLIERS, Entity.ITEMS):
        return {}, {}
    suppliers = session.execute(
        select(SupplierAlias.external_code, SupplierAlias.supplier_id).where(
            SupplierAlias.org_id == org_id, SupplierAlias.system == system
        )
    ).all()
    items = session.execute(
        select(ItemAlias.external_code, ItemAlias.item_id).where(
            ItemAlias.org_id == org_id, ItemAlias.system == system
        )
    ).all()
    return {code: int(i) for code, i in suppliers}, {code: int(i) for code, i in items}


def _key(record: object) -> str | None:
    for name in ("external_key", "code", "record_key"):
        value = getattr(record, name, None)
        if value:
            return str(value)
    if isinstance(record, ContractPriceRecord):
        return f"{record.contract_number}/{record.line_number}"
    return None


def _raw(record: object) -> dict[str, Any]:
    fields = getattr(record, "__dataclass_fields__", {})
    return {name: str(getattr(record, name)) for name in fields if name != "attributes"}


def _reject(work: Batch, entity: Entity, key: str | None, reason: str, raw: dict[str, Any]) -> None:
    work.counts.rejected += 1
    work.session.add(
        ErpRejection(
            org_id=work.org_id,
            run_id=work.run_id,
            seq=next(work.seq),
            entity=entity.value,
            key=key,
            reason=reason[:2000],
            raw={k: str(v)[:500] for k, v in raw.items()},
        )
    )


# --------------------------------------------------------------------------- writers


def _write_supplier(work: Batch, record: SupplierRecord) -> None:
    if not record.code.strip() or not record.name.strip():
        raise SkipRecord("a supplier needs a code and a name")
    s, org = work.session, work.org_id
    if aliased_supplier(work, record.code) is not None:
        count(work, inserted=False, changed=False)
        return
    key = supplier_key(record.name)
    supplier_id = s.scalar(
        select(Supplier.id).where(Supplier.org_id == org, Supplier.code_key == key)
    )
    inserted = supplier_id is None
    if supplier_id is None:
        supplier = Supplier(
            org_id=org,
            code=record.code,
            code_key=key,
            name=record.name.strip(),
            attributes={"source_system": work.system, "blocked": record.blocked},
        )
        s.add(supplier)
        s.flush()
        supplier_id = supplier.id
    s.add(
        SupplierAlias(
            org_id=org, system=work.system, external_code=record.code, supplier_id=supplier_id
        )
    )
    count(work, inserted=inserted)


# Systems whose PO numbers repeat across companies (D365 legal entities, EBS operating
# units): there the company is part of the number's identity.
PER_COMPANY_NUMBERS = frozenset({"d365", "ebs"})


def _po_number(system: str, record: PurchaseOrderLineRecord) -> str:
    if system in PER_COMPANY_NUMBERS and record.company:
        return f"{record.company}/{record.po_number}"
    return record.po_number


@dataclass
class _OrderLines:
    """A batch's validated PO lines, keyed by (order number, line number); the last wins."""

    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    superseded: int = 0  # a line read twice in one batch: the later record is kept


def _take_po_line(work: Batch, record: PurchaseOrderLineRecord, into: _OrderLines) -> None:
    """Validate one PO line and add it (and its header) to the batch's rows."""
    if record.quantity <= 0:
        raise SkipRecord(f"quantity must be greater than zero, not {record.quantity}")
    if record.unit_price < 0:
        raise SkipRecord(f"unit price is negative: {record.unit_price}")
    supplier_id = supplier_id_of(work, record.supplier_code)
    item_id = item_id_of(work, record.item_code)
    unit = unit_of(work, record.unit)
    currency = currency_of(work, record.currency)
    number = _po_number(work.system, record)
    into.headers[number] = {
        "org_id": work.org_id,
        "source_system": work.system,
        "po_number": number,
        "supplier_id": supplier_id,
        "order_date": record.order_date,
        "currency": currency,
        "payment_terms": record.payment_terms,
        "status": record.status,
        "attributes": {"company": record.company},
    }
    key = (number, record.line_number)
    into.superseded += key in into.lines
    into.lines[key] = {
        "line_no": record.line_number,
        "item_id": item_id,
        "supplier_id": supplier_id,
        "order_date": record.order_date,
        "description": record.description,
        "quantity": record.quantity,
        "unit": unit.code,
        "unit_price": record.unit_price,
        "currency": currency,
        "need_by_date": record.need_by_date,
        "received_quantity": record.received_quantity,
    }


_LINE_VALUES = (
    "item_id",
    "supplier_id",
    "order_date",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "currency",
    "need_by_date",
    "received_quantity",
)


# A batch goes in as columns of arrays: one statement of fixed text each for headers and
# lines (parsed and planned once per connection), one round trip each. A line is rewritten
# only when a value differs, so a re-run changes no line; ``xmax = 0`` marks a new row.
# The header upsert has no WHERE on purpose: RETURNING must give every header's id.
_UPSERT_HEADERS = text(
    """
    INSERT INTO purchase_orders AS o
        (org_id, source_system, po_number, supplier_id, order_date, currency,
         payment_terms, status, attributes)
    SELECT CAST(:org_id AS uuid), CAST(:system AS text), h.*
    FROM unnest(
        CAST(:po_number AS text[]), CAST(:supplier_id AS bigint[]),
        CAST(:order_date AS date[]), CAST(:currency AS text[]),
        CAST(:payment_terms AS text[]), CAST(:status AS text[]),
        CAST(CAST(:attributes AS text[]) AS jsonb[])
    ) AS h
    ON CONFLICT (org_id, source_system, po_number) DO UPDATE SET
        supplier_id = EXCLUDED.supplier_id, order_date = EXCLUDED.order_date,
        currency = EXCLUDED.currency, status = EXCLUDED.status,
        payment_terms = EXCLUDED.payment_terms, updated_at = now()
    RETURNING o.po_number, o.id
    """
)
_UPSERT_LINES = text(
    """
    INSERT INTO purchase_order_lines AS l
        (org_id, purchase_order_id, line_no, item_id, supplier_id, order_date, description,
         quantity, unit, unit_price, currency, need_by_date, received_quantity)
    SELECT CAST(:org_id AS uuid), r.*
    FROM unnest(
        CAST(:purchase_order_id AS bigint[]), CAST(:line_no AS text[]),
        CAST(:item_id AS bigint[]), CAST(:supplier_id AS bigint[]),
        CAST(:order_date AS date[]), CAST(:description AS text[]),
        CAST(:quantity AS numeric[]), CAST(:unit AS text[]), CAST(:unit_price AS numeric[]),
        CAST(:currency AS text[]), CAST(:need_by_date AS date[]),
        CAST(:received_quantity AS numeric[])
    ) AS r
    ON CONFLICT (org_id, purchase_order_id, line_no) DO UPDATE SET
        item_id = EXCLUDED.item_id, supplier_id = EXCLUDED.supplier_id,
        order_date = EXCLUDED.order_date, description = EXCLUDED.description,
        quantity = EXCLUDED.quantity, unit = EXCLUDED.unit, unit_price = EXCLUDED.unit_price,
        currency = EXCLUDED.currency, need_by_date = EXCLUDED.need_by_date,
        received_quantity = EXCLUDED.received_quantity
    WHERE (l.item_id, l.supplier_id, l.order_date, l.description, l.quantity, l.unit,
           l.unit_price, l.currency, l.need_by_date, l.received_quantity)
        IS DISTINCT FROM
          (EXCLUDED.item_id, EXCLUDED.supplier_id, EXCLUDED.order_date, EXCLUDED.description,
           EXCLUDED.quantity, EXCLUDED.unit, EXCLUDED.unit_price, EXCLUDED.currency,
           EXCLUDED.need_by_date, EXCLUDED.received_quantity)
    RETURNING xmax = 0
    """
)


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


def _store_po_lines(work: Batch, batch: _OrderLines) -> None:
    """Upsert the batch's headers, then its lines, in one statement each."""
    if not batch.lines:
        return
    headers = list(batch.headers.values())
    header_columns = _columns(
        headers,
        ("po_number", "supplier_id", "order_date", "currency", "payment_terms", "status"),
    )
    header_columns["attributes"] = [json.dumps(h["attributes"]) for h in headers]
    ids = {
        number: int(po_id)
        for number, po_id in work.session.execute(
            _UPSERT_HEADERS, {"org_id": work.org_id, "system": work.system, **header_columns}
        )
    }
    rows = [
        {"purchase_order_id": ids[number], **values} for (number, _), values in batch.lines.items()
    ]
    line_columns = _columns(rows, ("purchase_order_id", "line_no", *_LINE_VALUES))
    written = [
        bool(flag)
        for flag in work.session.execute(
            _UPSERT_LINES, {"org_id": work.org_id, **line_columns}
        ).scalars()
    ]
    new = sum(written)
    work.counts.inserted += new
    work.counts.updated += len(written) - new
    # A record superseded by a later one for the same line in this batch wrote nothing.
    work.counts.unchanged += len(rows) - len(written) + batch.superseded


def _contract_id(
    work: Batch,
    number: str,
    supplier_id: int,
    currency: str,
    kind: str,
    valid_from: dt.date | None,
    valid_to: dt.date | None,
) -> int:
    statement = insert(Contract).values(
        org_id=work.org_id,
        source_system=work.system,
        contract_number=number,
        supplier_id=supplier_id,
        valid_from=valid_from,
        valid_to=valid_to,
        currency=currency,
        attributes={"kind": kind},
    )
    return int(
        work.session.scalar(  # type: ignore[arg-type]  # RETURNING of an upsert is one row
            statement.on_conflict_do_update(
                index_elements=[Contract.org_id, Contract.source_system, Contract.contract_number],
                set_={
                    "supplier_id": statement.excluded.supplier_id,
                    "valid_from": statement.excluded.valid_from,
                    "valid_to": statement.excluded.valid_to,
                    "currency": statement.excluded.currency,
                },
            ).returning(Contract.id)
        )
    )


def _upsert_price(
    work: Batch, contract_id: int, line: str, item_id: int, values: dict[str, Any]
) -> None:
    existing = work.session.execute(
        select(ContractPrice).where(
            ContractPrice.org_id == work.org_id,
            ContractPrice.contract_id == contract_id,
            ContractPrice.line_no == line,
        )
    ).scalar_one_or_none()
    if existing is None:
        work.session.add(
            ContractPrice(
                org_id=work.org_id,
                contract_id=contract_id,
                item_id=item_id,
                line_no=line,
                **values,
            )
        )
        count(work, inserted=True)
        return
    changed = any(getattr(existing, k) != v for k, v in values.items()) or (
        existing.item_id != item_id
    )
    if changed:
        existing.item_id = item_id
        for k, v in values.items():
            setattr(existing, k, v)
    count(work, inserted=False, changed=changed)


def _write_agreed_price(
    work: Batch,
    record: ContractPriceRecord | PriceRecord,
    *,
    number: str,
    line: str,
    kind: str,
    min_quantity: Decimal,
) -> None:
    if record.unit_price < 0:
        raise SkipRecord(f"unit price is negative: {record.unit_price}")
    supplier_id = supplier_id_of(work, record.supplier_code)
    item_id = item_id_of(work, record.item_code)
    unit = unit_of(work, record.unit)
    currency = currency_of(work, record.currency)
    valid_from = record.valid_from or (record.changed_at or dt.datetime.now(dt.UTC)).date()
    contract_id = _contract_id(
        work, number, supplier_id, currency, kind, record.valid_from, record.valid_to
    )
    _upsert_price(
        work,
        contract_id,
        line,
        item_id,
        {
            "unit_price": record.unit_price,
            "currency": currency,
            "unit": unit.code,
            "erp_unit": record.unit,
            "min_quantity": min_quantity,
            "valid_from": valid_from,
            "valid_to": record.valid_to,
        },
    )


def _write_contract_price(work: Batch, record: ContractPriceRecord) -> None:
    _write_agreed_price(
        work,
        record,
        number=record.contract_number,
        line=record.line_number,
        kind="contract",
        min_quantity=record.min_quantity,
    )


def _write_price_record(work: Batch, record: PriceRecord) -> None:
    # A standing supplier price is kept as a one-line agreement of kind "price_record".
    _write_agreed_price(
        work,
        record,
        number=f"PRICE:{record.record_key}",
        line="1",
        kind="price_record",
        min_quantity=Decimal(0),
    )


_READERS: dict[Entity, Callable[[ERPConnector, dt.datetime | None], Iterable[Any]]] = {
    Entity.SUPPLIERS: lambda c, since: c.suppliers(since),
    Entity.ITEMS: lambda c, since: c.items(since),
    Entity.PURCHASE_ORDERS: lambda c, since: c.purchase_order_lines(since),
    Entity.CONTRACTS: lambda c, since: c.contract_prices(since),
    Entity.PRICE_RECORDS: lambda c, since: c.price_records(since),
}
_WRITERS: dict[Entity, Callable[[Batch, Any], None]] = {
    Entity.SUPPLIERS: _write_supplier,
    Entity.ITEMS: write_item,
    Entity.CONTRACTS: _write_contract_price,
    Entity.PRICE_RECORDS: _write_price_record,
}

__all__ = ["ORDER", "Counts", "PricingAgentError", "SyncReport", "sync_erp"]
