"""negotiation_advice: opening offer, target and walk-away price, with the arguments for each.

Every number is a unit price in the answer's currency and unit, on the same basis as the
supplier's quoted price (so it can go straight into a counter-offer). The rules:

* BATNA (the buyer's best alternative), in order of preference: the best other clean bid
  on the same RFQ line (complete landed cost, not flagged as suspicious; from
  ``compare_quotes``), else the should-cost build-up (``should_cost``), else the model's
  P50 (``predict_price``).
* Walk-away = min(P90, BATNA landed per unit - this supplier's extra costs per unit).
  Above the P90 the price is dearer than nine in ten comparable quotes; above the BATNA
  less this supplier's own freight, MOQ-excess and payment-term costs per unit, the
  alternative is cheaper all costs counted. A should-cost or P50 BATNA is an estimate,
  not an offer: reaching it means re-tendering, which should fetch about the P50, so the
  alternative is then max(P50, estimate).
* Target = min(fair price, walk-away, current offer). The fair price is the median of the
  other bids when there are at least two; else the model's P50, pulled down to the
  should-cost when that is credible (within 1.5x of the P50) and lower, but not below the
  P10; else the should-cost. Never aim above what is already on the table.
* Opening = target x (1 - 5%), but not below the lowest figure the buyer can put on the
  table (the P10, the lowest other clean bid, a credible should-cost), and never above
  the target: room to concede in a step or two, without an anchor the supplier can
  dismiss.

So opening <= target <= walk-away (<= P90 when there is a band) always holds.

Confidence (0..1) = 0.35 x history depth + 0.35 x band tightness + 0.30 x competition:
depth = min(1, log10(1 + earlier quotes of the item) / 3) (1,000 quotes -> 1),
tightness = 1 / (1 + (P90 - P10) / P50), competition = min(1, (bids - 1) / 3) (four bids
-> 1). Labels: high >= 0.65, medium >= 0.40, else low.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from core.errors import InvalidInputError, NotFoundError
from core.money import Price
from store import fx
from store.models import Item, QuoteLine, Rfq, RfqLine, Supplier
from store.suppliers import supplier_key
from store.units import UnitCatalog
from tools.base import Evidence, Money, ToolContext
from tools.compare_quotes import (
    DEFAULT_DISCOUNT_RATE,
    LIST_LIMIT,
    SHOULD_COST_MARKET_SPREAD,
    CompareQuotesInput,
    LeveledQuote,
    LineComparison,
    QuoteOffer,
    compare_quotes,
    disqualifying_flag,
    find_rfq,
)
from tools.items import resolve_item
from tools.predict_price import PredictPriceInput, predict_price
from tools.price_history import PriceHistoryInput, price_history
from tools.should_cost import ShouldCostInput, should_cost
from tools.suppliers import resolve_supplier

OPENING_DISCOUNT = Decimal("0.05")
"""The opening offer sits this far under the target: room for one or two concessions."""
HISTORY_DAYS = 365
"""Price history and the default quantity look back one year."""
PLACES = 4


class NegotiationAdviceInput(BaseModel):
    """What to negotiate: an item (with quantity), an RFQ (and line), or one quote line."""

    item: str | None = Field(default=None, description="Item code or description.")
    quantity: Decimal | None = Field(
        default=None, gt=0, description="Quantity, in ``unit``; default the RFQ line's or usual."
    )
    unit: str | None = Field(default=None, description="Unit of the answer; default the item's.")
    supplier: str | None = Field(default=None, description="The supplier you negotiate with.")
    rfq: str | None = Field(default=None, description="RFQ code: negotiate against its bids.")
    line: str | None = Field(default=None, description="With rfq: the line code or item.")
    quote_line_id: int | None = Field(default=None, description="A quote line to answer.")
    currency: str = Field(default="USD", description="Currency of the answer.")
    as_of: dt.date | None = Field(default=None, description="Pricing date; default today.")
    discount_rate: Decimal = Field(default=DEFAULT_DISCOUNT_RATE, ge=0, le=1)

    @model_validator(mode="after")
    def _one_subject(self) -> NegotiationAdviceInput:
        given = [v for v in (self.item, self.rfq, self.quote_line_id) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of item, rfq, quote_line_id")
        if self.line is not None and self.rfq is None:
            raise ValueError("line goes with rfq")
        return self


class Batna(BaseModel):
    """The buyer's best alternative to agreeing with this supplier."""

    kind: Literal["next_best_bid", "should_cost", "model_p50"]
    price: Money = Field(description="Per unit, landed (all costs counted) for a bid.")
    supplier: str | None = None
    quote_line_id: int | None = None
    detail: str


class NegotiationAdviceOutput(BaseModel):
    """Three prices with their rules, the alternative, the arguments and how sure we are."""

    item_code: str
    item_name: str
    supplier: str | None = Field(description="The supplier negotiated with, if known.")
    rfq: str | None
    rfq_line: str | None
    quantity: Decimal
    unit: str
    currency: str
    pricing_date: dt.date
    current_offer: Money | None = Field(description="The supplier's price on the table.")
    current_offer_landed: Money | None = Field(description="Its landed cost per unit.")
    opening_offer: Money
    target_price: Money
    walk_away_price: Money
    opening_rule: str
    target_rule: str
    walk_away_rule: str
    batna: Batna
    p10: Money | None
    p50: Money | None
    p90: Money | None
    model_version: int | None
    peer_median: Money | None = Field(description="Median of the other bids' prices.")
    should_cost: Money | None
    history_median: Money | None = Field(description="The item's median quote, last 12 months.")
    history_count: int
    bids: int = Field(description="Bids on the RFQ line, this supplier's included.")
    potential_saving: Decimal | None = Field(
        description="(current offer - target) x quantity, in ``currency``."
    )
    leverage: list[str]
    talking_points: list[str]
    confidence: float = Field(ge=0, le=1)
    confidence_label: Literal["low", "medium", "high"]
    confidence_reason: str
    caveats: list[str]
    evidence: list[Evidence]


# --------------------------------------------------------------------------- facts


@dataclass
class _Facts:
    """Everything the numbers are derived from, unrounded, per unit of the answer."""

    item: Item
    quantity: Decimal
    unit: str
    currency: str
    on: dt.date
    supplier: str | None = None
    rfq: str | None = None
    rfq_line: str | None = None
    offer: Decimal | None = None
    offer_landed: Decimal | None = None
    extras: Decimal = Decimal(0)
    offer_notes: list[str] = field(default_factory=list)
    p10: Decimal | None = None
    p50: Decimal | None = None
    p90: Decimal | None = None
    model_version: int | None = None
    history_lines: int = 0
    peer_median: Decimal | None = None
    peers: int = 0
    lowest_bid: Decimal | None = None
    should_cost: Decimal | None = None
    bids: int = 0
    batna: Batna | None = None
    history_median: Decimal | None = None
    history_count: int = 0
    typical_quantity: Decimal | None = None
    caveats: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


def _money(value: Decimal, facts: _Facts) -> Money:
    amount = value.quantize(Decimal(1).scaleb(-PLACES), rounding=ROUND_HALF_EVEN)
    return Money(amount=amount, currency=facts.currency, unit=facts.unit)


def _qty(value: Decimal) -> str:
    normal = value.normalize()
    plain = normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal
    return f"{plain:,f}"


def _fmt(value: Decimal, facts: _Facts) -> str:
    return f"{facts.currency} {value:,.{PLACES}f}/{facts.unit}"


def _pct(a: Decimal, b: Decimal) -> str:
    """a relative to b in words: '12% above' / '8% below'."""
    ratio = (a / b - 1) * 100
    return f"{abs(ratio):.0f}% {'above' if ratio >= 0 else 'below'}"


def _usable_should_cost(value: Decimal | None, market: Decimal | None) -> bool:
    """The should-cost counts only where it agrees with the market (as compare_quotes)."""
    if value is None or value <= 0:
        return False
    if market is None or market <= 0:
        return True
    return 1 / SHOULD_COST_MARKET_SPREAD <= value / market <= SHOULD_COST_MARKET_SPREAD


def _history(ctx: ToolContext, facts: _Facts) -> None:
    """The item's last twelve months of quotes: median price and typical quantity."""
    try:
        past = price_history(
            ctx,
            PriceHistoryInput(
                item=facts.item.code,
                unit=facts.unit,
                currency=facts.currency,
                since=facts.on - dt.timedelta(days=HISTORY_DAYS),
                # Strictly before the pricing date: an RFQ's own bids are not its history.
                until=facts.on - dt.timedelta(days=1),
                limit=5000,
            ),
        )
    except InvalidInputError as exc:
        facts.caveats.append(f"no price history: {exc.message}")
        return
    facts.history_count = past.count
    if past.median is not None:
        facts.history_median = past.median.amount
    quantities = [p.quantity for p in past.points if p.source == "quote"]
    if quantities:
        facts.typical_quantity = statistics.median(quantities)
    facts.evidence.append(
        Evidence(
            kind="quotes",
            detail=f"price history of {facts.item.code}, last 12 months: {past.count} prices",
            ids=[p.id for p in past.points if p.source == "quote"][:50],
        )
    )


# --------------------------------------------------------------------------- from bids


def _counterpart(
    line: LineComparison, supplier: str | None, quote_line_id: int | None
) -> LeveledQuote:
    if not line.quotes:
        raise InvalidInputError("no bid on this line could be leveled: " + "; ".join(line.caveats))
    if quote_line_id is not None:
        for q in line.quotes:
            if q.quote_line_id == quote_line_id:
                return q
        raise NotFoundError(f"quote line {quote_line_id} is not among the bids leveled")
    if supplier:
        key = supplier_key(supplier)
        found = [q for q in line.quotes if supplier_key(q.supplier) == key]
        found = found or [q for q in line.quotes if key in supplier_key(q.supplier)]
        if not found:
            names = ", ".join(q.supplier for q in line.quotes)
            raise NotFoundError(f"{supplier!r} did not bid on this line; the bidders: {names}")
        return found[0]
    by_name = {q.supplier: q for q in line.quotes}
    if line.recommended_supplier in by_name:
        return by_name[line.recommended_supplier]
    return line.quotes[0]


def _facts_from_line(
    ctx: ToolContext, line: LineComparison, rfq: str | None, counterpart: LeveledQuote
) -> _Facts:
    if line.item_code is None:
        raise InvalidInputError("the item is not in the catalogue: no market data to negotiate on")
    facts = _Facts(
        item=resolve_item(ctx, line.item_code),
        quantity=line.quantity,
        unit=line.unit,
        currency=line.currency,
        on=line.pricing_date,
        supplier=counterpart.supplier,
        rfq=rfq,
        rfq_line=line.rfq_line,
        offer=counterpart.unit_price.amount,
        offer_landed=counterpart.landed_per_unit.amount,
        p10=line.p10.amount if line.p10 else None,
        p50=line.p50.amount if line.p50 else None,
        p90=line.p90.amount if line.p90 else None,
        model_version=line.model_version,
        history_lines=line.history_lines or 0,
        should_cost=line.should_cost.amount if line.should_cost else None,
        bids=len(line.quotes),
        caveats=list(line.caveats),
        evidence=list(line.evidence),
    )
    facts.extras = counterpart.landed_per_unit.amount - counterpart.unit_price.amount
    facts.offer_notes = [f.reason for f in counterpart.flags] + counterpart.notes
    others = [q for q in line.quotes if q.supplier != counterpart.supplier]
    prices = [q.unit_price.amount for q in others if q.unit_price.amount > 0]
    facts.peers = len(prices)
    facts.peer_median = statistics.median(prices) if prices else None
    clean = [q for q in others if q.landed_cost_complete and disqualifying_flag(q.flags) is None]
    if clean:
        facts.lowest_bid = min(q.unit_price.amount for q in clean)
        best = min(clean, key=lambda q: q.landed_per_unit.amount)
        facts.batna = Batna(
            kind="next_best_bid",
            price=best.landed_per_unit,
            supplier=best.supplier,
            quote_line_id=best.quote_line_id,
            detail=(
                f"the best other clean bid, {best.supplier}, lands at "
                f"{_fmt(best.landed_per_unit.amount, facts)} all costs counted"
            ),
        )
    elif others:
        facts.caveats.append(
            "the other bids are incomplete or flagged, so none is a credible alternative"
        )
    if counterpart.landed_cost_complete is False:
        facts.caveats.append(
            f"{counterpart.supplier}'s freight is not quoted: its landed cost is a lower bound"
        )
    return facts


def _quoted_lines(ctx: ToolContext, code: str) -> list[str]:
    """The RFQ's lines that received quotes (code and description)."""
    rfq = find_rfq(ctx, code)
    rows = ctx.session.execute(
        select(RfqLine.line_code, RfqLine.description)
        .where(
            RfqLine.org_id == ctx.org_id,
            RfqLine.rfq_id == rfq.id,
            select(QuoteLine.id)
            .where(QuoteLine.org_id == RfqLine.org_id, QuoteLine.rfq_line_id == RfqLine.id)
            .exists(),
        )
        .order_by(RfqLine.line_code)
    ).all()
    return [f"{c} ({d})" if d else str(c) for c, d in rows]


def _from_rfq(ctx: ToolContext, args: NegotiationAdviceInput) -> _Facts:
    if args.line is None:
        lines = _quoted_lines(ctx, args.rfq or "")
        if len(lines) > 1:
            shown = ", ".join(lines[:LIST_LIMIT]) + (" ..." if len(lines) > LIST_LIMIT else "")
            raise InvalidInputError(
                f"RFQ {args.rfq} has {len(lines)} quoted lines: say which to negotiate "
                f"(`line`): {shown}"
            )
    result = compare_quotes(
        ctx,
        CompareQuotesInput(
            rfq=args.rfq,
            line=args.line,
            quantity=args.quantity,
            quantity_unit=args.unit if args.quantity is not None else None,
            currency=args.currency,
            unit=args.unit,
            as_of=args.as_of,
            discount_rate=args.discount_rate,
        ),
    )
    line = result.lines[0]
    return _facts_from_line(ctx, line, result.rfq, _counterpart(line, args.supplier, None))


def _from_quote_line(ctx: ToolContext, args: NegotiationAdviceInput) -> _Facts:
    row = ctx.session.execute(
        select(QuoteLine, Supplier.name, Item.code)
        .join(
            Supplier, (Supplier.org_id == QuoteLine.org_id) & (Supplier.id == QuoteLine.supplier_id)
        )
        .join(Item, (Item.org_id == QuoteLine.org_id) & (Item.id == QuoteLine.item_id))
        .where(QuoteLine.org_id == ctx.org_id, QuoteLine.id == args.quote_line_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no quote line {args.quote_line_id}")
    quote_line, supplier, item_code = row
    if quote_line.rfq_line_id is not None:
        found = ctx.session.execute(
            select(Rfq.code, RfqLine.line_code)
            .join(Rfq, (Rfq.org_id == RfqLine.org_id) & (Rfq.id == RfqLine.rfq_id))
            .where(RfqLine.org_id == ctx.org_id, RfqLine.id == quote_line.rfq_line_id)
        ).first()
        if found is not None:
            result = compare_quotes(
                ctx,
                CompareQuotesInput(
                    rfq=found[0],
                    line=found[1],
                    quantity=args.quantity,
                    quantity_unit=args.unit if args.quantity is not None else None,
                    currency=args.currency,
                    unit=args.unit,
                    as_of=args.as_of,
                    discount_rate=args.discount_rate,
                ),
            )
            line = result.lines[0]
            return _facts_from_line(ctx, line, result.rfq, _counterpart(line, None, quote_line.id))
    # A quote outside any RFQ: level it alone (units, currency, terms) against the market.
    result = compare_quotes(
        ctx,
        CompareQuotesInput(
            item=item_code,
            quotes=[
                QuoteOffer(
                    supplier=supplier,
                    unit_price=quote_line.unit_price,
                    currency=quote_line.currency,
                    unit=quote_line.unit,
                    incoterm=quote_line.incoterm,
                    lead_time_days=quote_line.lead_time_days,
                    valid_until=quote_line.valid_until,
                    quote_line_id=quote_line.id,
                )
            ],
            quantity=args.quantity or quote_line.quantity,
            quantity_unit=None if args.quantity else quote_line.unit,
            currency=args.currency,
            unit=args.unit,
            as_of=args.as_of or min(ctx.as_of, quote_line.quote_date),
            discount_rate=args.discount_rate,
        ),
    )
    line = result.lines[0]
    return _facts_from_line(ctx, line, None, line.quotes[0])


# --------------------------------------------------------------------------- from the item


def _from_item(ctx: ToolContext, args: NegotiationAdviceInput) -> _Facts:
    item = resolve_item(ctx, args.item or "")
    catalog = UnitCatalog.load(ctx.session)
    unit = catalog.get(args.unit or item.unit or "ea").code
    on = args.as_of or ctx.as_of
    facts = _Facts(item=item, quantity=Decimal(0), unit=unit, currency=args.currency.upper(), on=on)
    supplier = resolve_supplier(ctx, args.supplier) if args.supplier else None
    facts.supplier = supplier.name if supplier else None
    _history(ctx, facts)
    if args.quantity is not None:
        facts.quantity = args.quantity
    elif facts.typical_quantity is not None:
        facts.quantity = facts.typical_quantity
        facts.caveats.append(
            f"no quantity given: priced at the item's median quote quantity of the last "
            f"12 months, {_qty(facts.quantity)} {unit}"
        )
    else:
        raise InvalidInputError(f"give the quantity: {item.code} has no recent quotes to go by")
    try:
        band = predict_price(
            ctx,
            PredictPriceInput(
                item=item.code,
                quantity=facts.quantity,
                unit=unit,
                supplier=supplier.name if supplier else None,
                date=on,
                currency=facts.currency,
            ),
        )
        facts.p10, facts.p50, facts.p90 = band.p10.amount, band.p50.amount, band.p90.amount
        facts.model_version, facts.history_lines = band.model_version, band.history_lines
        facts.evidence.extend(band.evidence)
    except (NotFoundError, InvalidInputError) as exc:
        facts.caveats.append(f"no model band: {exc.message}")
    try:
        cost = should_cost(
            ctx, ShouldCostInput(item=item.code, quantity=facts.quantity, unit=unit, date=on)
        )
        total = fx.convert_price(
            ctx.session,
            org_id=ctx.org_id,
            price=Price(cost.unit_total.amount, cost.currency, cost.unit_total.unit),
            to_currency=facts.currency,
            on=on,
        )
        facts.should_cost = total.amount
        facts.evidence.extend(cost.evidence)
    except InvalidInputError as exc:
        facts.caveats.append(f"no should-cost: {exc.message}")
    if supplier is not None:
        _last_quote(ctx, facts, supplier.name)
    return facts


def _last_quote(ctx: ToolContext, facts: _Facts, supplier: str) -> None:
    """The supplier's latest quote for the item in the last year: the price on the table."""
    try:
        own = price_history(
            ctx,
            PriceHistoryInput(
                item=facts.item.code,
                unit=facts.unit,
                currency=facts.currency,
                supplier=supplier,
                since=facts.on - dt.timedelta(days=HISTORY_DAYS),
                until=facts.on,
                limit=1,
            ),
        )
    except InvalidInputError:
        return
    if own.points:
        last = own.points[0]
        facts.offer = facts.offer_landed = last.price.amount
        facts.offer_notes.append(f"{supplier}'s last quote, {last.date}: {last.price}")
        facts.evidence.append(
            Evidence(kind="quotes", detail=f"{supplier}'s last quote of {last.date}", ids=[last.id])
        )


# --------------------------------------------------------------------------- the numbers


def _batna(facts: _Facts) -> Batna:
    if facts.batna is not None:
        return facts.batna
    market = facts.p50 if facts.p50 is not None else facts.peer_median
    if _usable_should_cost(facts.should_cost, market) and facts.should_cost is not None:
        return Batna(
            kind="should_cost",
            price=_money(facts.should_cost, facts),
            detail=(
                f"no competing bid: the should-cost build-up, {_fmt(facts.should_cost, facts)}, "
                "is the price to re-tender or re-source at"
            ),
        )
    if facts.p50 is not None:
        return Batna(
            kind="model_p50",
            price=_money(facts.p50, facts),
            detail=(
                f"no competing bid or usable should-cost: the model's P50, "
                f"{_fmt(facts.p50, facts)}, is what the market charges for this quantity"
            ),
        )
    raise InvalidInputError(
        "nothing to negotiate against: no other bid, no model band and no should-cost"
    )


@dataclass(frozen=True)
class _Numbers:
    opening: Decimal
    target: Decimal
    walk_away: Decimal
    opening_rule: str
    target_rule: str
    walk_away_rule: str


def _walk_away(facts: _Facts, batna: Batna) -> tuple[Decimal, str]:
    """min(P90, the alternative's price less this supplier's extra costs per unit).

    A competing bid is a firm alternative. An estimate (should-cost, P50) is not: the way
    to reach it is to re-tender, which can be expected to fetch about the market's P50, so
    the alternative is then taken as max(P50, estimate).
    """
    alt = batna.price.amount - facts.extras
    alt_text = f"BATNA {_fmt(batna.price.amount, facts)}" + (
        f" less this supplier's extra costs {_fmt(facts.extras, facts)}" if facts.extras else ""
    )
    if batna.kind != "next_best_bid" and facts.p50 is not None and facts.p50 > alt:
        alt = facts.p50
        alt_text = f"re-tendering at about the P50 {_fmt(facts.p50, facts)}"
    if facts.p90 is None:
        return alt, f"{alt_text} = {_fmt(alt, facts)}"
    walk = min(facts.p90, alt)
    return walk, f"min(P90 {_fmt(facts.p90, facts)}, {alt_text}) = {_fmt(walk, facts)}"


def _fair(facts: _Facts, batna: Batna) -> tuple[Decimal, str]:
    """The price the evidence calls fair: the other bids' median, else the P50 (pulled down
    to a credible should-cost, not below the P10), else the should-cost, else the BATNA."""
    if facts.peers >= 2 and facts.peer_median is not None:
        return facts.peer_median, f"the other {facts.peers} bids' median"
    if facts.p50 is not None:
        credible = _usable_should_cost(facts.should_cost, facts.p50)
        if credible and facts.should_cost is not None and facts.should_cost < facts.p50:
            floor = facts.p10 if facts.p10 is not None else facts.should_cost
            return max(floor, facts.should_cost), "the should-cost (not below the P10)"
        return facts.p50, "the model's P50"
    if facts.should_cost is not None:
        return facts.should_cost, "the should-cost"
    return batna.price.amount, "the BATNA"


def _numbers(facts: _Facts, batna: Batna) -> _Numbers:
    walk, walk_rule = _walk_away(facts, batna)
    fair, fair_name = _fair(facts, batna)
    candidates = [(fair, fair_name), (walk, "the walk-away")]
    if facts.offer is not None and facts.offer > 0:
        candidates.append((facts.offer, "the current offer"))
    target, target_from = min(candidates, key=lambda c: c[0])
    target_rule = (
        "min(" + ", ".join(f"{name} {_fmt(v, facts)}" for v, name in candidates) + ") = "
        f"{_fmt(target, facts)} ({target_from})"
    )
    # The opening may not go below the lowest figure the buyer can show the supplier.
    evidence = [(facts.p10, "P10"), (facts.lowest_bid, "the lowest other bid")]
    market = facts.p50 if facts.p50 is not None else facts.peer_median
    if _usable_should_cost(facts.should_cost, market):
        evidence.append((facts.should_cost, "the should-cost"))
    shown = [(v, name) for v, name in evidence if v is not None and v > 0]
    anchor = target * (1 - OPENING_DISCOUNT)
    if shown:
        floor, floor_name = min(shown, key=lambda c: c[0])
    else:
        floor, floor_name = anchor, "target"
    opening = min(target, max(floor, anchor))
    opening_rule = (
        f"max({floor_name} {_fmt(floor, facts)}, target less {OPENING_DISCOUNT:.0%} "
        f"{_fmt(anchor, facts)}), capped at the target = {_fmt(opening, facts)}"
    )
    return _Numbers(opening, target, walk, opening_rule, target_rule, walk_rule)


def _confidence(facts: _Facts) -> tuple[float, str, str]:
    depth = min(1.0, math.log10(1 + facts.history_lines) / 3)
    reasons = [f"{facts.history_lines:,} earlier quotes of the item (depth {depth:.2f})"]
    tight = 0.0
    if facts.p10 is not None and facts.p50 is not None and facts.p90 is not None and facts.p50 > 0:
        width = float((facts.p90 - facts.p10) / facts.p50)
        tight = 1 / (1 + width)
        reasons.append(f"the 80% band spans {width:.0%} of the P50 (tightness {tight:.2f})")
    else:
        reasons.append("no model band (tightness 0)")
    competition = min(1.0, max(0, facts.bids - 1) / 3)
    bids = f"{facts.bids} bids on the line" if facts.bids else "no bids to compare"
    reasons.append(f"{bids} (competition {competition:.2f})")
    score = round(0.35 * depth + 0.35 * tight + 0.30 * competition, 2)
    label: Literal["low", "medium", "high"] = (
        "high" if score >= 0.65 else "medium" if score >= 0.40 else "low"
    )
    return score, label, "; ".join(reasons)


def _arguments(facts: _Facts, batna: Batna, numbers: _Numbers) -> tuple[list[str], list[str]]:
    """Leverage (why the buyer is strong) and talking points (what to say), each with a number."""
    leverage: list[str] = []
    talk: list[str] = []
    offer = facts.offer
    if batna.kind == "next_best_bid":
        leverage.append(f"a credible alternative: {batna.detail}")
        talk.append(
            f"We hold {facts.bids - 1} other bid(s) for this line; the best lands at "
            f"{_fmt(batna.price.amount, facts)} all costs counted."
        )
    if offer is not None and facts.peer_median is not None and facts.peers >= 1:
        leverage.append(
            f"the offer {_fmt(offer, facts)} is {_pct(offer, facts.peer_median)} the median of "
            f"the other {facts.peers} bid(s), {_fmt(facts.peer_median, facts)}"
        )
    if facts.p10 is not None and facts.p50 is not None and facts.p90 is not None:
        talk.append(
            f"Market data for {_qty(facts.quantity)} {facts.unit} puts this item at "
            f"{_fmt(facts.p10, facts)} to {_fmt(facts.p90, facts)} (80% of comparable quotes), "
            f"midpoint {_fmt(facts.p50, facts)}"
            + (f"; your price is {_pct(offer, facts.p50)} that midpoint." if offer else ".")
        )
        if offer is not None and offer > facts.p50:
            leverage.append(
                f"the offer is {_pct(offer, facts.p50)} the model's P50 {_fmt(facts.p50, facts)}"
            )
    market = facts.p50 if facts.p50 is not None else facts.peer_median
    if _usable_should_cost(facts.should_cost, market) and facts.should_cost is not None:
        talk.append(
            f"Our cost build-up (materials, labour, overhead and a fair margin) comes to "
            f"{_fmt(facts.should_cost, facts)}."
        )
        if offer is not None and offer > facts.should_cost:
            leverage.append(
                f"the offer is {_pct(offer, facts.should_cost)} the should-cost "
                f"{_fmt(facts.should_cost, facts)}"
            )
    if facts.history_median is not None and facts.history_count:
        leverage.append(
            f"this item's median quote over the last 12 months is "
            f"{_fmt(facts.history_median, facts)} ({facts.history_count} prices)"
        )
        if offer is not None and offer > facts.history_median:
            talk.append(
                f"Over the last year we were quoted a median of "
                f"{_fmt(facts.history_median, facts)} for this item."
            )
    if facts.typical_quantity and facts.quantity >= 2 * facts.typical_quantity:
        ratio = facts.quantity / facts.typical_quantity
        leverage.append(
            f"volume: {_qty(facts.quantity)} {facts.unit} is {ratio:.1f} times the usual quote "
            f"quantity ({_qty(facts.typical_quantity)})"
        )
        talk.append(f"This is {ratio:.1f} times our usual order size; we expect a volume price.")
    if facts.extras > 0:
        leverage.append(
            f"this supplier's freight, MOQ or payment terms add {_fmt(facts.extras, facts)} "
            "to the landed cost"
        )
        talk.append(
            f"Your terms add {_fmt(facts.extras, facts)} per unit to our cost (freight, minimum "
            "order or payment timing); we need them matched to the other bids."
        )
    if offer is not None and offer > numbers.target:
        talk.append(
            f"We can award quickly at {_fmt(numbers.opening, facts)} for the full "
            f"{_qty(facts.quantity)} {facts.unit}."
        )
    return leverage, talk


# --------------------------------------------------------------------------- the tool


def negotiation_advice(ctx: ToolContext, args: NegotiationAdviceInput) -> NegotiationAdviceOutput:
    """Advise how to negotiate a price: opening offer, target and walk-away price per unit,
    the buyer's best alternative (BATNA), leverage and talking points (each citing a
    number), a confidence with its reason, and the evidence.

    Use it for "what should I offer?", "how low can we push supplier X?", "what is my
    walk-away?". Give ONE of: `item` (+ `quantity`, optional `supplier`: their last quote is
    the offer on the table), `rfq` (+ `line`; optional `supplier`, default the recommended
    bid: negotiates against the other bids via compare_quotes), or `quote_line_id`.

    Rules: BATNA = the best other clean bid's landed cost, else the should-cost, else the
    model P50 (the answer says which). Walk-away = min(P90, BATNA less this supplier's
    extra costs per unit; without a bid, re-tendering at about the P50). Target = min(fair
    price: the other bids' median, else the P50 or a lower credible should-cost not under
    the P10; the walk-away; the current offer). Opening = target - 5%, not below the lowest
    figure you can show (P10, the lowest other bid, the should-cost), never above target.
    So opening <= target <= walk-away <= P90. Never reveal target or walk-away to the supplier.
    """
    if args.rfq is not None:
        facts = _from_rfq(ctx, args)
    elif args.quote_line_id is not None:
        facts = _from_quote_line(ctx, args)
    else:
        facts = _from_item(ctx, args)
    if args.rfq is not None or args.quote_line_id is not None:
        _history(ctx, facts)
    batna = _batna(facts)
    numbers = _numbers(facts, batna)
    leverage, talk = _arguments(facts, batna, numbers)
    score, label, reason = _confidence(facts)
    notes = [n for n in facts.offer_notes if not any(n in c for c in facts.caveats)]
    caveats = list(dict.fromkeys(facts.caveats + notes))
    if facts.offer is not None and facts.p10 is not None and facts.offer < facts.p10:
        caveats.append(
            "the offer is already below the model's P10: confirm scope and quantities before "
            "pushing further"
        )
    saving = None
    if facts.offer is not None and facts.offer > numbers.target:
        saving = ((facts.offer - numbers.target) * facts.quantity).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_EVEN
        )

    def opt(value: Decimal | None) -> Money | None:
        return _money(value, facts) if value is not None else None

    return NegotiationAdviceOutput(
        item_code=facts.item.code,
        item_name=facts.item.name,
        supplier=facts.supplier,
        rfq=facts.rfq,
        rfq_line=facts.rfq_line,
        quantity=facts.quantity,
        unit=facts.unit,
        currency=facts.currency,
        pricing_date=facts.on,
        current_offer=opt(facts.offer),
        current_offer_landed=opt(facts.offer_landed),
        opening_offer=_money(numbers.opening, facts),
        target_price=_money(numbers.target, facts),
        walk_away_price=_money(numbers.walk_away, facts),
        opening_rule=numbers.opening_rule,
        target_rule=numbers.target_rule,
        walk_away_rule=numbers.walk_away_rule,
        batna=batna,
        p10=opt(facts.p10),
        p50=opt(facts.p50),
        p90=opt(facts.p90),
        model_version=facts.model_version,
        peer_median=opt(facts.peer_median),
        should_cost=opt(facts.should_cost),
        history_median=opt(facts.history_median),
        history_count=facts.history_count,
        bids=facts.bids,
        potential_saving=saving,
        leverage=leverage,
        talking_points=talk,
        confidence=score,
        confidence_label=label,
        confidence_reason=reason,
        caveats=caveats,
        evidence=facts.evidence,
    )
