"""Listing and fetching the organisation's master data and sourcing events.

What the API's list and get endpoints show: suppliers, items, RFQs and quotes, each with
the counts a buyer scans a list for. Every query filters on ``org_id`` explicitly, on top of
row-level security. Lists are ordered by a key that ends in the row id, so ``limit`` and
``offset`` pages never overlap or skip a row. Look-ups by code raise ``NotFoundError``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.orm import Session

from core.errors import NotFoundError
from store.models import Item, ItemAlias, Quote, QuoteLine, Rfq, RfqLine, Supplier
from store.suppliers import supplier_key

# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class SupplierRow:
    """A supplier with what it has quoted."""

    id: int
    code: str
    name: str
    country: str | None
    quotes: int
    first_quote_date: dt.date | None
    last_quote_date: dt.date | None


@dataclass(frozen=True, slots=True)
class SupplierDetail:
    """A supplier with its attributes and quoting activity."""

    id: int
    code: str
    name: str
    country: str | None
    attributes: dict[str, Any]
    quotes: int
    quote_lines: int
    rfqs: int
    items: int
    first_quote_date: dt.date | None
    last_quote_date: dt.date | None


@dataclass(frozen=True, slots=True)
class AliasRow:
    """The item's code in another system."""

    system: str
    external_code: str


@dataclass(frozen=True, slots=True)
class ItemDetail:
    """An item with its aliases and how often it has been quoted."""

    id: int
    code: str
    name: str
    description: str | None
    category: str | None
    unit: str | None
    attributes: dict[str, Any]
    aliases: list[AliasRow]
    quote_lines: int
    suppliers: int
    first_quote_date: dt.date | None
    last_quote_date: dt.date | None


@dataclass(frozen=True, slots=True)
class RfqRow:
    """An RFQ with its number of lines and of quotes received."""

    id: int
    code: str
    title: str | None
    issued_date: dt.date | None
    source: str | None
    lines: int
    quotes: int


@dataclass(frozen=True, slots=True)
class RfqLineRow:
    """One requested item and quantity, with the number of bids on it."""

    id: int
    line_code: str
    item_code: str
    item_name: str
    description: str | None
    quantity: Decimal | None
    unit: str | None
    bids: int


@dataclass(frozen=True, slots=True)
class QuoteRow:
    """A quote header with its number of lines and its total (sum of quantity x price)."""

    id: int
    supplier_code: str
    supplier_name: str
    rfq_code: str | None
    quote_date: dt.date
    currency: str
    source: str | None
    lines: int
    total: Decimal


@dataclass(frozen=True, slots=True)
class RfqDetail:
    """An RFQ with its lines and the quotes received on it."""

    id: int
    code: str
    title: str | None
    issued_date: dt.date | None
    source: str | None
    attributes: dict[str, Any]
    lines: list[RfqLineRow]
    quotes: list[QuoteRow]


@dataclass(frozen=True, slots=True)
class QuoteLineRow:
    """A quoted unit price for an item, with what came with it."""

    id: int
    rfq_line: str | None
    item_code: str
    item_name: str
    description: str | None
    quantity: Decimal
    unit: str
    unit_price: Decimal
    currency: str
    incoterm: str | None
    lead_time_days: int | None
    valid_until: dt.date | None
    awarded: bool | None
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class QuoteDetail:
    """A quote header with its attributes and lines."""

    quote: QuoteRow
    attributes: dict[str, Any]
    line_items: list[QuoteLineRow]


# --------------------------------------------------------------------------- helpers


def _page(query: Select[Any], *, limit: int, offset: int) -> Select[Any]:
    return query.limit(limit).offset(offset)


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _rfq_code_key(column: ColumnElement[str] | Any) -> ColumnElement[str]:
    return func.upper(func.regexp_replace(column, r"\s+", "", "g"))


def _rfq_matches(org_id: uuid.UUID, code: str) -> ColumnElement[bool]:
    """RFQs a code names: exactly, or ignoring case and spaces ('B-40276-A')."""
    wanted = code.strip()
    key = "".join(wanted.split()).upper()
    return and_(Rfq.org_id == org_id, or_(Rfq.code == wanted, _rfq_code_key(Rfq.code) == key))


def _supplier_matches(org_id: uuid.UUID, code: str) -> ColumnElement[bool]:
    """Suppliers a code names: exactly, or by the key near-duplicate spellings share."""
    return and_(
        Supplier.org_id == org_id,
        or_(Supplier.code == code.strip(), Supplier.code_key == supplier_key(code)),
    )


def _item_ids(org_id: uuid.UUID, code: str) -> Select[Any]:
    return select(Item.id).where(
        Item.org_id == org_id, func.upper(Item.code) == code.strip().upper()
    )


def _quote_stats() -> Any:
    # Lateral: computed for the rows of the page only, through the (org_id, quote_id) index.
    return (
        select(
            func.count().label("lines"),
            func.sum(QuoteLine.quantity * QuoteLine.unit_price).label("total"),
        )
        .where(QuoteLine.org_id == Quote.org_id, QuoteLine.quote_id == Quote.id)
        .correlate(Quote)
        .lateral("quote_stats")
    )


# --------------------------------------------------------------------------- suppliers


def list_suppliers(
    *, session: Session, org_id: uuid.UUID, q: str | None, limit: int, offset: int
) -> tuple[list[SupplierRow], int]:
    """Return a page of suppliers ordered by code (name or code containing ``q``), and the total."""
    query = select(Supplier.id).where(Supplier.org_id == org_id)
    if q and q.strip():
        words = q.strip()
        query = query.where(
            or_(
                Supplier.name.icontains(words, autoescape=True),
                Supplier.code.icontains(words, autoescape=True),
                Supplier.code_key.contains(supplier_key(words), autoescape=True),
            )
        )
    total = _count(session, query)
    stats = (
        select(
            func.count().label("quotes"),
            func.min(Quote.quote_date).label("first"),
            func.max(Quote.quote_date).label("last"),
        )
        .where(Quote.org_id == Supplier.org_id, Quote.supplier_id == Supplier.id)
        .correlate(Supplier)
        .lateral("supplier_stats")
    )
    rows = session.execute(
        _page(
            select(
                Supplier.id,
                Supplier.code,
                Supplier.name,
                Supplier.country,
                stats.c.quotes,
                stats.c.first,
                stats.c.last,
            )
            .join(stats, true())
            .where(Supplier.org_id == org_id, Supplier.id.in_(query))
            .order_by(Supplier.code, Supplier.id),
            limit=limit,
            offset=offset,
        )
    ).all()
    return [SupplierRow(*row) for row in rows], total


def get_supplier(*, session: Session, org_id: uuid.UUID, code: str) -> SupplierDetail:
    """Return the supplier ``code`` names (exactly, or by its key), or raise NotFoundError."""
    supplier = session.scalar(
        select(Supplier)
        .where(_supplier_matches(org_id, code))
        .order_by((Supplier.code == code.strip()).desc(), Supplier.id)
        .limit(1)
    )
    if supplier is None:
        raise NotFoundError(f"no supplier with code {code!r}")
    stats = session.execute(
        select(
            func.count(func.distinct(QuoteLine.quote_id)),
            func.count(),
            func.count(func.distinct(Quote.rfq_id)),
            func.count(func.distinct(QuoteLine.item_id)),
            func.min(QuoteLine.quote_date),
            func.max(QuoteLine.quote_date),
        )
        .select_from(QuoteLine)
        .join(Quote, (Quote.org_id == QuoteLine.org_id) & (Quote.id == QuoteLine.quote_id))
        .where(QuoteLine.org_id == org_id, QuoteLine.supplier_id == supplier.id)
    ).one()
    return SupplierDetail(
        id=supplier.id,
        code=supplier.code,
        name=supplier.name,
        country=supplier.country,
        attributes=dict(supplier.attributes or {}),
        quotes=int(stats[0]),
        quote_lines=int(stats[1]),
        rfqs=int(stats[2]),
        items=int(stats[3]),
        first_quote_date=stats[4],
        last_quote_date=stats[5],
    )


# --------------------------------------------------------------------------- items


def get_item(*, session: Session, org_id: uuid.UUID, code: str) -> ItemDetail:
    """Return the item with ``code`` (or that alias), ignoring case, or raise NotFoundError."""
    wanted = code.strip()
    item = session.scalar(
        select(Item)
        .where(Item.org_id == org_id, func.upper(Item.code) == wanted.upper())
        .order_by((Item.code == wanted).desc(), Item.id)
        .limit(1)
    )
    if item is None and wanted:
        item = session.scalar(
            select(Item)
            .join(ItemAlias, (ItemAlias.org_id == Item.org_id) & (ItemAlias.item_id == Item.id))
            .where(Item.org_id == org_id, func.upper(ItemAlias.external_code) == wanted.upper())
            .order_by(ItemAlias.system, Item.id)
            .limit(1)
        )
    if item is None:
        raise NotFoundError(f"no item with code {code!r}")
    aliases = session.execute(
        select(ItemAlias.system, ItemAlias.external_code)
        .where(ItemAlias.org_id == org_id, ItemAlias.item_id == item.id)
        .order_by(ItemAlias.system, ItemAlias.external_code)
    ).all()
    stats = session.execute(
        select(
            func.count(),
            func.count(func.distinct(QuoteLine.supplier_id)),
            func.min(QuoteLine.quote_date),
            func.max(QuoteLine.quote_date),
        ).where(QuoteLine.org_id == org_id, QuoteLine.item_id == item.id)
    ).one()
    return ItemDetail(
        id=item.id,
        code=item.code,
        name=item.name,
        description=item.description,
        category=item.category,
        unit=item.unit,
        attributes=dict(item.attributes or {}),
        aliases=[AliasRow(system, external) for system, external in aliases],
        quote_lines=int(stats[0]),
        suppliers=int(stats[1]),
        first_quote_date=stats[2],
        last_quote_date=stats[3],
    )


# --------------------------------------------------------------------------- RFQs


def list_rfqs(
    *,
    session: Session,
    org_id: uuid.UUID,
    q: str | None,
    item: str | None,
    supplier: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    limit: int,
    offset: int,
) -> tuple[list[RfqRow], int]:
    """Return a page of RFQs, newest issue first, and the total matching the filters.

    ``q``: part of the code; ``item``: RFQs with a line for that item code; ``supplier``:
    RFQs that supplier quoted on; dates bound the issue date (inclusive).
    """
    query = select(Rfq.id).where(Rfq.org_id == org_id)
    if q and q.strip():
        query = query.where(Rfq.code.icontains(q.strip(), autoescape=True))
    if item is not None:
        query = query.where(
            Rfq.id.in_(
                select(RfqLine.rfq_id).where(
                    RfqLine.org_id == org_id, RfqLine.item_id.in_(_item_ids(org_id, item))
                )
            )
        )
    if supplier is not None:
        query = query.where(
            Rfq.id.in_(
                select(Quote.rfq_id).where(
                    Quote.org_id == org_id,
                    Quote.rfq_id.is_not(None),
                    Quote.supplier_id.in_(
                        select(Supplier.id).where(_supplier_matches(org_id, supplier))
                    ),
                )
            )
        )
    if date_from is not None:
        query = query.where(Rfq.issued_date >= date_from)
    if date_to is not None:
        query = query.where(Rfq.issued_date <= date_to)
    total = _count(session, query)
    line_count = (
        select(func.count())
        .where(RfqLine.org_id == Rfq.org_id, RfqLine.rfq_id == Rfq.id)
        .correlate(Rfq)
        .scalar_subquery()
    )
    quote_count = (
        select(func.count())
        .where(Quote.org_id == Rfq.org_id, Quote.rfq_id == Rfq.id)
        .correlate(Rfq)
        .scalar_subquery()
    )
    rows = session.execute(
        _page(
            select(
                Rfq.id,
                Rfq.code,
                Rfq.title,
                Rfq.issued_date,
                Rfq.source,
                line_count,
                quote_count,
            )
            .where(Rfq.org_id == org_id, Rfq.id.in_(query))
            .order_by(Rfq.issued_date.desc().nulls_last(), Rfq.id.desc()),
            limit=limit,
            offset=offset,
        )
    ).all()
    return [RfqRow(*row) for row in rows], total


def get_rfq(*, session: Session, org_id: uuid.UUID, code: str) -> RfqDetail:
    """Return the RFQ ``code`` names (exactly, or ignoring case and spaces) with its lines and
    quotes, or raise NotFoundError."""
    rfq = session.scalar(
        select(Rfq)
        .where(_rfq_matches(org_id, code))
        .order_by((Rfq.code == code.strip()).desc(), Rfq.id)
        .limit(1)
    )
    if rfq is None:
        raise NotFoundError(f"no RFQ {code!r}")
    bids = (
        select(func.count())
        .where(QuoteLine.org_id == RfqLine.org_id, QuoteLine.rfq_line_id == RfqLine.id)
        .correlate(RfqLine)
        .scalar_subquery()
    )
    lines = session.execute(
        select(
            RfqLine.id,
            RfqLine.line_code,
            Item.code,
            Item.name,
            RfqLine.description,
            RfqLine.quantity,
            RfqLine.unit,
            bids,
        )
        .join(Item, (Item.org_id == RfqLine.org_id) & (Item.id == RfqLine.item_id))
        .where(RfqLine.org_id == org_id, RfqLine.rfq_id == rfq.id)
        .order_by(RfqLine.line_code, RfqLine.id)
    ).all()
    quotes = session.execute(
        _quote_select(org_id).where(Quote.rfq_id == rfq.id).order_by(Quote.quote_date, Quote.id)
    ).all()
    return RfqDetail(
        id=rfq.id,
        code=rfq.code,
        title=rfq.title,
        issued_date=rfq.issued_date,
        source=rfq.source,
        attributes=dict(rfq.attributes or {}),
        lines=[RfqLineRow(*row) for row in lines],
        quotes=[_quote_row(row) for row in quotes],
    )


# --------------------------------------------------------------------------- quotes


def _quote_select(org_id: uuid.UUID) -> Select[Any]:
    stats = _quote_stats()
    return (
        select(
            Quote.id,
            Supplier.code,
            Supplier.name,
            Rfq.code,
            Quote.quote_date,
            Quote.currency,
            Quote.source,
            stats.c.lines,
            func.coalesce(stats.c.total, 0),
        )
        .join(Supplier, (Supplier.org_id == Quote.org_id) & (Supplier.id == Quote.supplier_id))
        .outerjoin(Rfq, (Rfq.org_id == Quote.org_id) & (Rfq.id == Quote.rfq_id))
        .join(stats, true())
        .where(Quote.org_id == org_id)
    )


def _quote_row(row: Any) -> QuoteRow:
    return QuoteRow(
        id=row[0],
        supplier_code=row[1],
        supplier_name=row[2],
        rfq_code=row[3],
        quote_date=row[4],
        currency=row[5],
        source=row[6],
        lines=int(row[7]),
        total=Decimal(row[8]),
    )


def list_quotes(
    *,
    session: Session,
    org_id: uuid.UUID,
    rfq: str | None,
    supplier: str | None,
    item: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    limit: int,
    offset: int,
) -> tuple[list[QuoteRow], int]:
    """Return a page of quotes, newest first, and the total matching the filters.

    ``rfq``, ``supplier`` and ``item`` are codes (an item filter keeps quotes with a line
    for it); dates bound the quote date (inclusive).
    """
    query = select(Quote.id).where(Quote.org_id == org_id)
    if rfq is not None:
        query = query.where(Quote.rfq_id.in_(select(Rfq.id).where(_rfq_matches(org_id, rfq))))
    if supplier is not None:
        query = query.where(
            Quote.supplier_id.in_(select(Supplier.id).where(_supplier_matches(org_id, supplier)))
        )
    if item is not None:
        query = query.where(
            Quote.id.in_(
                select(QuoteLine.quote_id).where(
                    QuoteLine.org_id == org_id, QuoteLine.item_id.in_(_item_ids(org_id, item))
                )
            )
        )
    if date_from is not None:
        query = query.where(Quote.quote_date >= date_from)
    if date_to is not None:
        query = query.where(Quote.quote_date <= date_to)
    total = _count(session, query)
    rows = session.execute(
        _page(
            _quote_select(org_id)
            .where(Quote.id.in_(query))
            .order_by(Quote.quote_date.desc(), Quote.id.desc()),
            limit=limit,
            offset=offset,
        )
    ).all()
    return [_quote_row(row) for row in rows], total


def get_quote(*, session: Session, org_id: uuid.UUID, quote_id: int) -> QuoteDetail:
    """Return the quote with its lines, or raise NotFoundError."""
    row = session.execute(_quote_select(org_id).where(Quote.id == quote_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no quote {quote_id}")
    attributes = session.scalar(
        select(Quote.attributes).where(Quote.org_id == org_id, Quote.id == quote_id)
    )
    lines = session.execute(
        select(QuoteLine, RfqLine.line_code, Item.code, Item.name)
        .join(Item, (Item.org_id == QuoteLine.org_id) & (Item.id == QuoteLine.item_id))
        .outerjoin(
            RfqLine, (RfqLine.org_id == QuoteLine.org_id) & (RfqLine.id == QuoteLine.rfq_line_id)
        )
        .where(QuoteLine.org_id == org_id, QuoteLine.quote_id == quote_id)
        .order_by(QuoteLine.id)
    ).all()
    return QuoteDetail(
        quote=_quote_row(row),
        attributes=dict(attributes or {}),
        line_items=[
            QuoteLineRow(
                id=line.id,
                rfq_line=line_code,
                item_code=item_code,
                item_name=item_name,
                description=line.description,
                quantity=line.quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                currency=line.currency,
                incoterm=line.incoterm,
                lead_time_days=line.lead_time_days,
                valid_until=line.valid_until,
                awarded=line.awarded,
                attributes=dict(line.attributes or {}),
            )
            for line, line_code, item_code, item_name in lines
        ],
    )


def import_rfq_codes(*, session: Session, org_id: uuid.UUID, run_id: int) -> list[str]:
    """Return the RFQs whose quote lines an import run wrote, by code."""
    rows = session.scalars(
        select(Rfq.code)
        .join(Quote, (Quote.org_id == Rfq.org_id) & (Quote.rfq_id == Rfq.id))
        .join(QuoteLine, (QuoteLine.org_id == Quote.org_id) & (QuoteLine.quote_id == Quote.id))
        .where(QuoteLine.org_id == org_id, QuoteLine.import_run_id == run_id)
        .distinct()
        .order_by(Rfq.code)
    )
    return list(rows)
