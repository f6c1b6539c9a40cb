"""supplier_scorecard: how a supplier prices, wins and delivers, against its peers."""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func, select

from core.errors import CurrencyConversionError, NotFoundError, UnitConversionError
from core.money import Price
from store import fx
from store.models import (
    Item,
    PurchaseOrder,
    PurchaseOrderLine,
    Quote,
    QuoteLine,
)
from store.units import UnitCatalog
from tools.base import Evidence, ToolContext
from tools.items import resolve_item
from tools.suppliers import resolve_supplier

DEFAULT_MONTHS = 24
#: Attributes that carry a bidder's rank when the source has no award flag (INDOT: bid_rank).
RANK_ATTRIBUTES = ("bid_rank", "rank")
#: Fewer compared lines than this and a statistic is reported but not judged.
MIN_LINES = 5
_MONEY = Decimal("0.01")


class SupplierScorecardInput(BaseModel):
    """The supplier, and optionally an item or a category and a period."""

    supplier: str = Field(description="Supplier code or name.")
    item: str | None = Field(default=None, description="Only this item (code or description).")
    category: str | None = Field(default=None, description="Only items of this category.")
    since: dt.date | None = Field(
        default=None, description="First date included; default 24 months before `until`."
    )
    until: dt.date | None = Field(default=None, description="Last date; default the as-of date.")
    currency: str = Field(default="USD", description="Currency of the total quoted value.")

    @model_validator(mode="after")
    def _one_scope(self) -> SupplierScorecardInput:
        if self.item and self.category:
            raise ValueError("give item or category, not both")
        return self


class Competitiveness(BaseModel):
    """The supplier's price against the other bids on the same RFQ lines."""

    compared_lines: int = Field(description="RFQ lines with at least one other bid.")
    median_ratio_to_peers: float | None = Field(
        description="Median of (its price / median of the other bids); 0.95 = 5% below peers."
    )
    lowest_share: float | None = Field(description="Share of compared lines where it was lowest.")
    lowest_lines: int


class WinRate(BaseModel):
    """How often it won: awarded where the store records it, else rank 1 in the bid tab."""

    rfqs_bid: int
    rfqs_known: int = Field(description="RFQs whose outcome is recorded.")
    rfqs_won: int
    rfq_win_rate: float | None
    lines_known: int
    lines_won: int
    line_win_rate: float | None
    basis: str


class Volume(BaseModel):
    """How much it quoted."""

    lines: int
    rfqs: int
    items: int
    total_quoted_value: Decimal = Field(description="Sum of quantity x unit price, converted.")
    currency: str
    first_date: dt.date | None
    last_date: dt.date | None
    value_skipped_lines: int = Field(description="Lines left out of the value: no FX rate.")


class Volatility(BaseModel):
    """How steady its prices are."""

    relative_price_dispersion: float | None = Field(
        description=(
            "Robust coefficient of variation of its price / peer median across RFQ lines "
            "(1.4826 x MAD of the log ratio; 0.15 = it moves about +/-15% around its usual "
            "position against peers)."
        )
    )
    price_changes: int = Field(description="Consecutive quote dates of one item compared.")
    median_abs_change_pct: float | None = Field(
        description="Median absolute change of an item's price between its consecutive quote "
        "dates (the day's median), in %."
    )


class Delivery(BaseModel):
    """Delivery performance from purchase order lines ordered in the period."""

    purchase_orders: int
    po_lines: int
    due_lines: int = Field(description="Lines with a need-by date that were received or overdue.")
    on_time_lines: int
    on_time_share: float | None = Field(description="Received on or before need-by / due lines.")
    late_received_lines: int
    overdue_open_lines: int = Field(description="Not received and past the need-by date.")
    average_days_late: float | None = Field(description="Over lines received late.")
    fill_lines: int = Field(description="Lines received, or not received but overdue.")
    fill_rate: float | None = Field(
        description="Mean of received / ordered quantity per line (over-delivery capped at 1)."
    )
    short_lines: int


class SupplierScorecardOutput(BaseModel):
    """The scorecard, with strengths and concerns that each cite a number."""

    supplier: str
    supplier_code: str
    scope: str
    since: dt.date
    until: dt.date
    competitiveness: Competitiveness
    win_rate: WinRate
    volume: Volume
    volatility: Volatility
    delivery: Delivery | None
    delivery_note: str
    strengths: list[str]
    concerns: list[str]
    evidence: list[Evidence]


@dataclass(frozen=True)
class _Line:
    id: int
    rfq_id: int | None
    rfq_line_id: int | None
    item_id: int
    date: dt.date
    quantity: Decimal
    unit: str
    price: Decimal
    currency: str
    awarded: bool | None
    attributes: dict[str, Any]


def supplier_scorecard(ctx: ToolContext, args: SupplierScorecardInput) -> SupplierScorecardOutput:
    """Score a supplier: price competitiveness, win rate, quote volume, price volatility and
    delivery performance, with strengths and concerns that each cite a number.

    Use it for "how good is supplier X?", "is X usually cheap on asphalt?", or before
    choosing whom to invite or negotiate with. Competitiveness compares its bid on each RFQ
    line with the other bids on that same line (median ratio, share of lines where it was
    lowest). Wins count quote lines marked awarded, or rank 1 where the bid tab records a
    rank. Delivery comes from purchase orders (on-time share against need-by dates, fill
    rate) and says so when there are none. Default period: the 24 months to the as-of date.
    """
    supplier = resolve_supplier(ctx, args.supplier)
    until = args.until or ctx.as_of
    since = args.since or _months_back(until, DEFAULT_MONTHS)
    item_ids, scope = _scope(ctx, args)
    mine = _quote_lines(ctx, supplier.id, since, until, item_ids)
    catalog = UnitCatalog.load(ctx.session)
    ratios, lowest = _peer_ratios(ctx, catalog, supplier.id, mine)
    competitiveness = Competitiveness(
        compared_lines=len(ratios),
        median_ratio_to_peers=_round(statistics.median(ratios)) if ratios else None,
        lowest_share=_round(lowest / len(ratios)) if ratios else None,
        lowest_lines=lowest,
    )
    win = _win_rate(mine)
    volume = _volume(ctx, mine, args.currency.upper())
    volatility = Volatility(
        relative_price_dispersion=_dispersion(ratios),
        **_changes(catalog, mine),
    )
    delivery, po_line_ids = _delivery(ctx, supplier.id, since, until, item_ids)
    delivery_note = (
        f"{delivery.po_lines} purchase order lines on {delivery.purchase_orders} orders"
        if delivery
        else f"no purchase orders from {supplier.name} in the period: delivery not scored"
    )
    strengths, concerns = _judge(competitiveness, win, volume, volatility, delivery)
    evidence = [
        Evidence(
            kind="quotes",
            detail=f"{len(mine)} quote lines of {supplier.name} {scope}, {since} to {until}",
            ids=[line.id for line in mine][:50],
        ),
        Evidence(
            kind="purchase_orders",
            detail=f"{len(po_line_ids)} purchase order lines of {supplier.name} {scope}",
            ids=po_line_ids[:50],
        ),
    ]
    return SupplierScorecardOutput(
        supplier=supplier.name,
        supplier_code=supplier.code,
        scope=scope,
        since=since,
        until=until,
        competitiveness=competitiveness,
        win_rate=win,
        volume=volume,
        volatility=volatility,
        delivery=delivery,
        delivery_note=delivery_note,
        strengths=strengths,
        concerns=concerns,
        evidence=evidence,
    )


# --------------------------------------------------------------------------- scope and data


def _months_back(day: dt.date, months: int) -> dt.date:
    """The day after the same date ``months`` earlier (clamped to the month's end)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last_day)) + dt.timedelta(days=1)


def _scope(ctx: ToolContext, args: SupplierScorecardInput) -> tuple[list[int] | None, str]:
    if args.item:
        item = resolve_item(ctx, args.item)
        return [item.id], f"for item {item.code}"
    if args.category:
        ids = list(
            ctx.session.scalars(
                select(Item.id).where(
                    Item.org_id == ctx.org_id,
                    func.lower(Item.category) == args.category.strip().lower(),
                )
            )
        )
        if not ids:
            raise NotFoundError(f"no items of category {args.category!r}")
        return ids, f"for category {args.category.strip().lower()}"
    return None, "for all items"


def _quote_lines(
    ctx: ToolContext,
    supplier_id: int,
    since: dt.date,
    until: dt.date,
    item_ids: list[int] | None,
) -> list[_Line]:
    query = (
        select(QuoteLine, Quote.rfq_id)
        .join(Quote, (Quote.org_id == QuoteLine.org_id) & (Quote.id == QuoteLine.quote_id))
        .where(
            QuoteLine.org_id == ctx.org_id,
            QuoteLine.supplier_id == supplier_id,
            QuoteLine.quote_date >= since,
            QuoteLine.quote_date <= until,
        )
        .order_by(QuoteLine.quote_date, QuoteLine.id)
    )
    if item_ids is not None:
        query = query.where(QuoteLine.item_id.in_(item_ids))
    return [
        _Line(
            id=ql.id,
            rfq_id=rfq_id,
            rfq_line_id=ql.rfq_line_id,
            item_id=ql.item_id,
            date=ql.quote_date,
            quantity=ql.quantity,
            unit=ql.unit,
            price=ql.unit_price,
            currency=ql.currency,
            awarded=ql.awarded,
            attributes=ql.attributes or {},
        )
        for ql, rfq_id in ctx.session.execute(query)
    ]


def _peer_ratios(
    ctx: ToolContext, catalog: UnitCatalog, supplier_id: int, mine: list[_Line]
) -> tuple[list[float], int]:
    """Its price / the median of the other bids, per RFQ line; and how often it was lowest."""
    by_rfq_line: dict[int, _Line] = {
        line.rfq_line_id: line for line in mine if line.rfq_line_id is not None
    }
    if not by_rfq_line:
        return [], 0
    peers: dict[int, list[Decimal]] = defaultdict(list)
    rows = ctx.session.execute(
        select(
            QuoteLine.rfq_line_id,
            QuoteLine.unit_price,
            QuoteLine.currency,
            QuoteLine.unit,
            QuoteLine.quote_date,
        ).where(
            QuoteLine.org_id == ctx.org_id,
            QuoteLine.rfq_line_id.in_(list(by_rfq_line)),
            QuoteLine.supplier_id != supplier_id,
        )
    )
    for rfq_line_id, amount, currency, unit, day in rows:
        if rfq_line_id is None:
            continue
        own = by_rfq_line[rfq_line_id]
        try:
            peer = _in_terms(ctx, catalog, amount, currency, unit, own, day)
        except (UnitConversionError, CurrencyConversionError):
            continue  # a bid that cannot be put in the same terms is no comparison
        peers[rfq_line_id].append(peer)
    ratios: list[float] = []
    lowest = 0
    for rfq_line_id, others in peers.items():
        own = by_rfq_line[rfq_line_id]
        median = statistics.median(others)
        if median <= 0:
            continue
        ratios.append(float(own.price / median))
        lowest += own.price <= min(others)
    return ratios, lowest


def _in_terms(
    ctx: ToolContext,
    catalog: UnitCatalog,
    amount: Decimal,
    currency: str,
    unit: str,
    own: _Line,
    day: dt.date,
) -> Decimal:
    if unit == own.unit and currency == own.currency:
        return amount
    price = catalog.convert_price(Price(amount, currency, unit), own.unit)
    return fx.convert_price(
        ctx.session, org_id=ctx.org_id, price=price, to_currency=own.currency, on=day
    ).amount


# --------------------------------------------------------------------------- measures


def won(line: _Line) -> bool | None:
    """Whether a quote line won: ``awarded`` where recorded, else a rank attribute of 1."""
    if line.awarded is not None:
        return line.awarded
    for key in RANK_ATTRIBUTES:
        value = line.attributes.get(key)
        if value is None:
            continue
        try:
            return int(value) == 1
        except (TypeError, ValueError):
            return None
    return None


def _win_rate(mine: list[_Line]) -> WinRate:
    outcomes = [(line, won(line)) for line in mine]
    known = [(line, w) for line, w in outcomes if w is not None]
    by_rfq: dict[int, bool] = {}
    for line, w in known:
        if line.rfq_id is not None:
            by_rfq[line.rfq_id] = by_rfq.get(line.rfq_id, False) or bool(w)
    lines_won = sum(1 for _, w in known if w)
    rfqs_won = sum(by_rfq.values())
    return WinRate(
        rfqs_bid=len({line.rfq_id for line in mine if line.rfq_id is not None}),
        rfqs_known=len(by_rfq),
        rfqs_won=rfqs_won,
        rfq_win_rate=_round(rfqs_won / len(by_rfq)) if by_rfq else None,
        lines_known=len(known),
        lines_won=lines_won,
        line_win_rate=_round(lines_won / len(known)) if known else None,
        basis=(
            "quote_lines.awarded where set, otherwise bid rank 1 "
            f"({' or '.join(RANK_ATTRIBUTES)} attribute); an RFQ is won if any of its lines is"
        ),
    )


def _volume(ctx: ToolContext, mine: list[_Line], currency: str) -> Volume:
    total = Decimal(0)
    skipped = 0
    rates: dict[tuple[str, dt.date], Decimal] = {}
    for line in mine:
        key = (line.currency, line.date)
        if key not in rates:
            try:
                rates[key] = fx.conversion(
                    ctx.session,
                    org_id=ctx.org_id,
                    from_currency=line.currency,
                    to_currency=currency,
                    on=line.date,
                ).rate
            except CurrencyConversionError:
                rates[key] = Decimal(-1)
        if rates[key] < 0:
            skipped += 1
            continue
        total += line.quantity * line.price * rates[key]
    return Volume(
        lines=len(mine),
        rfqs=len({line.rfq_id for line in mine if line.rfq_id is not None}),
        items=len({line.item_id for line in mine}),
        total_quoted_value=total.quantize(_MONEY, ROUND_HALF_EVEN),
        currency=currency,
        first_date=mine[0].date if mine else None,
        last_date=mine[-1].date if mine else None,
        value_skipped_lines=skipped,
    )


def _changes(catalog: UnitCatalog, mine: list[_Line]) -> dict[str, Any]:
    """Absolute log changes of an item's median price between consecutive quote dates."""
    by_item: dict[tuple[int, str], dict[dt.date, list[Decimal]]] = defaultdict(
        lambda: defaultdict(list)
    )
    units: dict[tuple[int, str], str] = {}
    for line in mine:
        if line.price <= 0:
            continue
        key = (line.item_id, line.currency)
        unit = units.setdefault(key, line.unit)
        try:
            price = catalog.convert_price(Price(line.price, line.currency, line.unit), unit)
        except UnitConversionError:
            continue
        by_item[key][line.date].append(price.amount)
    changes: list[float] = []
    for dated in by_item.values():
        # One price per date (the median of that day's lines): one bid tab often holds the
        # same item several times at very different quantities.
        medians = [statistics.median(dated[day]) for day in sorted(dated)]
        changes.extend(abs(math.log(b / a)) for a, b in itertools.pairwise(medians))
    median = statistics.median(changes) if changes else None
    return {
        "price_changes": len(changes),
        "median_abs_change_pct": _round(100 * math.expm1(median)) if median is not None else None,
    }


def _delivery(
    ctx: ToolContext,
    supplier_id: int,
    since: dt.date,
    until: dt.date,
    item_ids: list[int] | None,
) -> tuple[Delivery | None, list[int]]:
    query = select(PurchaseOrderLine).where(
        PurchaseOrderLine.org_id == ctx.org_id,
        PurchaseOrderLine.supplier_id == supplier_id,
        PurchaseOrderLine.order_date >= since,
        PurchaseOrderLine.order_date <= until,
    )
    if item_ids is not None:
        query = query.where(PurchaseOrderLine.item_id.in_(item_ids))
    lines = list(ctx.session.scalars(query.order_by(PurchaseOrderLine.id)))
    if not lines:
        return None, []
    headers = ctx.session.scalar(
        select(func.count(PurchaseOrder.id)).where(
            PurchaseOrder.org_id == ctx.org_id,
            PurchaseOrder.id.in_({line.purchase_order_id for line in lines}),
        )
    )
    due = [
        line
        for line in lines
        if line.need_by_date is not None
        and (line.received_date is not None or line.need_by_date < until)
    ]
    on_time = [
        line
        for line in due
        if line.received_date is not None
        and line.need_by_date is not None
        and line.received_date <= line.need_by_date
    ]
    late = [
        (line.received_date - line.need_by_date).days
        for line in due
        if line.received_date is not None
        and line.need_by_date is not None
        and line.received_date > line.need_by_date
    ]
    fill_set = [
        line
        for line in lines
        if line.received_quantity is not None
        or (line.need_by_date is not None and line.need_by_date < until)
    ]
    fills = [
        min(Decimal(1), (line.received_quantity or Decimal(0)) / line.quantity)
        for line in fill_set
        if line.quantity > 0
    ]
    delivery = Delivery(
        purchase_orders=int(headers or 0),
        po_lines=len(lines),
        due_lines=len(due),
        on_time_lines=len(on_time),
        on_time_share=_round(len(on_time) / len(due)) if due else None,
        late_received_lines=len(late),
        overdue_open_lines=sum(1 for line in due if line.received_date is None),
        average_days_late=_round(statistics.fmean(late)) if late else None,
        fill_lines=len(fills),
        fill_rate=_round(float(statistics.fmean(fills))) if fills else None,
        short_lines=sum(1 for f in fills if f < 1),
    )
    return delivery, [line.id for line in lines]


def _dispersion(ratios: list[float]) -> float | None:
    # Robust: bid tabs hold unbalanced bids (a cent against thousands) that would swamp a
    # plain standard deviation.
    logs = [math.log(r) for r in ratios if r > 0]
    if len(logs) < 2:
        return None
    centre = statistics.median(logs)
    return _round(1.4826 * statistics.median(abs(x - centre) for x in logs))


def _round(value: float) -> float:
    return round(float(value), 4)


# --------------------------------------------------------------------------- judgement


def _judge(
    comp: Competitiveness,
    win: WinRate,
    volume: Volume,
    volatility: Volatility,
    delivery: Delivery | None,
) -> tuple[list[str], list[str]]:
    strengths: list[str] = []
    concerns: list[str] = []
    if volume.lines < MIN_LINES:
        concerns.append(f"little evidence: only {volume.lines} quote lines in the period")
    if comp.median_ratio_to_peers is not None and comp.compared_lines >= MIN_LINES:
        gap = comp.median_ratio_to_peers - 1
        where = f"the other bids on the same RFQ lines ({comp.compared_lines} lines)"
        if gap <= -0.03:
            strengths.append(f"prices a median {-gap:.0%} below {where}")
        elif gap >= 0.05:
            concerns.append(f"prices a median {gap:.0%} above {where}")
        share = comp.lowest_share or 0.0
        if share >= 0.5:
            strengths.append(f"lowest bid on {share:.0%} of {comp.compared_lines} compared lines")
        elif share <= 0.1:
            concerns.append(f"lowest bid on only {share:.0%} of {comp.compared_lines} lines")
    if win.rfq_win_rate is not None and win.rfqs_known >= MIN_LINES:
        if win.rfq_win_rate >= 0.4:
            strengths.append(
                f"won {win.rfqs_won} of {win.rfqs_known} RFQs ({win.rfq_win_rate:.0%})"
            )
        elif win.rfq_win_rate <= 0.1:
            concerns.append(
                f"won only {win.rfqs_won} of {win.rfqs_known} RFQs ({win.rfq_win_rate:.0%})"
            )
    _judge_volatility(volatility, comp, strengths, concerns)
    if delivery is not None:
        _judge_delivery(delivery, strengths, concerns)
    return strengths, concerns


def _judge_volatility(
    volatility: Volatility, comp: Competitiveness, strengths: list[str], concerns: list[str]
) -> None:
    spread = volatility.relative_price_dispersion
    if spread is not None and comp.compared_lines >= MIN_LINES:
        if spread >= 0.3:
            concerns.append(
                f"erratic pricing: its position against peers varies by about +/-{spread:.0%}"
            )
        elif spread <= 0.12:
            strengths.append(
                f"consistent pricing: its position against peers varies by only +/-{spread:.0%}"
            )


def _judge_delivery(delivery: Delivery, strengths: list[str], concerns: list[str]) -> None:
    if delivery.on_time_share is not None:
        text = f"{delivery.on_time_share:.0%} of {delivery.due_lines} due PO lines on time"
        if delivery.on_time_share >= 0.95:
            strengths.append(text)
        elif delivery.on_time_share < 0.85:
            late = (
                f", {delivery.average_days_late:.1f} days late on average"
                if delivery.average_days_late is not None
                else ""
            )
            concerns.append(f"only {text}{late}")
    if delivery.overdue_open_lines:
        concerns.append(f"{delivery.overdue_open_lines} PO lines overdue and not received")
    if delivery.fill_rate is not None:
        if delivery.fill_rate >= 0.99:
            strengths.append(f"fill rate {delivery.fill_rate:.0%} over {delivery.fill_lines} lines")
        elif delivery.fill_rate < 0.95:
            concerns.append(
                f"fill rate {delivery.fill_rate:.0%}: {delivery.short_lines} of "
                f"{delivery.fill_lines} lines short"
            )
