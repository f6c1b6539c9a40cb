"""price_history: an item's quoted and purchased prices over time, in one unit and currency."""

from __future__ import annotations

import datetime as dt
import statistics
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from core.errors import CurrencyConversionError, UnitConversionError
from core.money import Price
from store import fx
from store.models import PurchaseOrder, PurchaseOrderLine, Quote, QuoteLine, Rfq, Supplier
from store.units import UnitCatalog
from tools.base import Evidence, Money, ToolContext
from tools.items import resolve_item


class PriceHistoryInput(BaseModel):
    """Which item's history, in which unit and currency, over which dates."""

    item: str = Field(description="Item code, another system's code, or a description.")
    unit: str | None = Field(
        default=None, description="Unit to express prices in; default the item's."
    )
    currency: str = Field(default="USD", description="Currency to express prices in.")
    since: dt.date | None = Field(default=None, description="First date included.")
    until: dt.date | None = Field(
        default=None, description="Last date included; default as-of date."
    )
    supplier: str | None = Field(default=None, description="Only this supplier (code or name).")
    limit: int = Field(default=200, ge=1, le=5000, description="Most recent points returned.")


class PricePoint(BaseModel):
    """One quoted or paid price."""

    date: dt.date
    source: Literal["quote", "purchase_order"]
    supplier: str
    quantity: Decimal
    price: Money
    reference: str | None = Field(description="RFQ or purchase order number.")
    id: int


class SupplierSummary(BaseModel):
    """A supplier's prices for the item in the period."""

    supplier: str
    count: int
    median: Money
    last: Money
    last_date: dt.date


class PriceHistoryOutput(BaseModel):
    """The history, newest first, with its summary and what was left out."""

    item_code: str
    item_name: str
    unit: str
    currency: str
    count: int
    median: Money | None
    low: Money | None
    high: Money | None
    first_date: dt.date | None
    last_date: dt.date | None
    by_supplier: list[SupplierSummary]
    points: list[PricePoint]
    skipped: list[str] = Field(description="Prices that could not be converted, and why.")
    evidence: list[Evidence]


def price_history(ctx: ToolContext, args: PriceHistoryInput) -> PriceHistoryOutput:
    """Show an item's quotes and purchase prices over time, by supplier, in one unit and currency.

    Use it for "what have we paid for X", "how have quotes for X moved", or before judging a
    quote. Prices are converted exactly into the unit and currency asked for (exchange rate
    of each price's own date).
    """
    item = resolve_item(ctx, args.item)
    catalog = UnitCatalog.load(ctx.session)
    unit = catalog.get(args.unit or item.unit or "ea").code
    if item.unit:
        catalog.factor(item.unit, unit)  # a request in an impossible unit is refused outright
    currency = args.currency.upper()
    until = args.until or ctx.as_of
    rows: list[tuple[str, int, dt.date, str, Decimal, str, Decimal, str, str | None]] = []
    quote_query = (
        select(
            QuoteLine.id,
            QuoteLine.quote_date,
            Supplier.name,
            QuoteLine.quantity,
            QuoteLine.unit,
            QuoteLine.unit_price,
            QuoteLine.currency,
            Rfq.code,
        )
        .join(
            Supplier, (Supplier.org_id == QuoteLine.org_id) & (Supplier.id == QuoteLine.supplier_id)
        )
        .join(Quote, (Quote.org_id == QuoteLine.org_id) & (Quote.id == QuoteLine.quote_id))
        .outerjoin(Rfq, (Rfq.org_id == Quote.org_id) & (Rfq.id == Quote.rfq_id))
        .where(
            QuoteLine.org_id == ctx.org_id,
            QuoteLine.item_id == item.id,
            QuoteLine.quote_date <= until,
        )
    )
    po_query = (
        select(
            PurchaseOrderLine.id,
            PurchaseOrderLine.order_date,
            Supplier.name,
            PurchaseOrderLine.quantity,
            PurchaseOrderLine.unit,
            PurchaseOrderLine.unit_price,
            PurchaseOrderLine.currency,
            PurchaseOrder.po_number,
        )
        .join(
            Supplier,
            (Supplier.org_id == PurchaseOrderLine.org_id)
            & (Supplier.id == PurchaseOrderLine.supplier_id),
        )
        .join(
            PurchaseOrder,
            (PurchaseOrder.org_id == PurchaseOrderLine.org_id)
            & (PurchaseOrder.id == PurchaseOrderLine.purchase_order_id),
        )
        .where(
            PurchaseOrderLine.org_id == ctx.org_id,
            PurchaseOrderLine.item_id == item.id,
            PurchaseOrderLine.order_date <= until,
        )
    )
    if args.since:
        quote_query = quote_query.where(QuoteLine.quote_date >= args.since)
        po_query = po_query.where(PurchaseOrderLine.order_date >= args.since)
    for source, query in (("quote", quote_query), ("purchase_order", po_query)):
        for row in ctx.session.execute(query):
            rows.append((source, row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7]))
    if args.supplier:
        wanted = args.supplier.strip().upper()
        rows = [r for r in rows if wanted in r[3].upper()]

    points: list[PricePoint] = []
    skipped: list[str] = []
    for source, row_id, day, supplier, qty, line_unit, amount, line_currency, ref in rows:
        try:
            price = catalog.convert_price(Price(amount, line_currency, line_unit), unit)
            price = fx.convert_price(
                ctx.session, org_id=ctx.org_id, price=price, to_currency=currency, on=day
            )
            quantity = catalog.convert_quantity(qty, line_unit, unit)
        except (UnitConversionError, CurrencyConversionError) as exc:
            skipped.append(f"{source} {row_id} of {day}: {exc.message}")
            continue
        points.append(
            PricePoint(
                date=day,
                source=source,
                supplier=supplier,
                quantity=quantity,
                price=Money.of(price),
                reference=ref,
                id=row_id,
            )
        )
    points.sort(key=lambda p: (p.date, p.id), reverse=True)
    amounts = [p.price.amount for p in points]

    def money(value: Decimal) -> Money:
        return Money(amount=value, currency=currency, unit=unit)

    by_supplier: dict[str, list[PricePoint]] = {}
    for point in points:
        by_supplier.setdefault(point.supplier, []).append(point)
    summaries = sorted(
        (
            SupplierSummary(
                supplier=name,
                count=len(ps),
                median=money(statistics.median(p.price.amount for p in ps)),
                last=ps[0].price,
                last_date=ps[0].date,
            )
            for name, ps in by_supplier.items()
        ),
        key=lambda s: (-s.count, s.supplier),
    )
    quote_ids = [p.id for p in points if p.source == "quote"]
    evidence = [
        Evidence(
            kind="quotes", detail=f"{len(quote_ids)} quote lines of {item.code}", ids=quote_ids[:50]
        ),
        Evidence(
            kind="purchase_orders",
            detail=f"{len(points) - len(quote_ids)} purchase order lines of {item.code}",
            ids=[p.id for p in points if p.source == "purchase_order"][:50],
        ),
    ]
    return PriceHistoryOutput(
        item_code=item.code,
        item_name=item.name,
        unit=unit,
        currency=currency,
        count=len(points),
        median=money(statistics.median(amounts)) if amounts else None,
        low=money(min(amounts)) if amounts else None,
        high=money(max(amounts)) if amounts else None,
        first_date=points[-1].date if points else None,
        last_date=points[0].date if points else None,
        by_supplier=summaries,
        points=points[: args.limit],
        skipped=skipped,
        evidence=evidence,
    )
