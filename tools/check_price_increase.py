"""check_price_increase: is a supplier's requested price increase backed by the market?

The request is compared with the last price the supplier charged, agreed or quoted for
the item, and split into what the market index of the item's category explains (only
the material share of the cost moves with it), what the exchange rate explains (when
the supplier prices in another currency than the buyer), and the unexplained rest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import (
    CurrencyConversionError,
    InvalidInputError,
    NotFoundError,
    UnitConversionError,
)
from core.money import Price
from ml.price.features import PUBLICATION_LAG
from ml.should_cost import build_up, shipped_template
from store import fx, history
from store.models import (
    Contract,
    ContractPrice,
    IndexObservation,
    IndexSeries,
    Item,
    PurchaseOrder,
    PurchaseOrderLine,
    Quote,
    QuoteLine,
    Rfq,
    Supplier,
)
from store.units import UnitCatalog
from tools.base import Evidence, Money, ToolContext
from tools.items import resolve_item
from tools.suppliers import resolve_supplier
from tools.training import template_name

#: An index value for month M counts only from M + this many days (as in the price model).
LAG = dt.timedelta(days=PUBLICATION_LAG.days)
#: A request within this many percentage points of what the evidence supports is justified.
TOLERANCE_PCT = Decimal("0.5")
_PCT = Decimal("0.01")
_PRICE = Decimal("0.0001")
_RATIO = Decimal("0.0001")
_HUNDRED = Decimal(100)
# When several sources share the latest date, a paid price beats an agreed one beats a quote.
_SOURCE_RANK = {"purchase_order": 0, "contract": 1, "quote": 2}

Source = Literal["purchase_order", "contract", "quote"]
Verdict = Literal["justified", "partly justified", "not justified"]


class CheckPriceIncreaseInput(BaseModel):
    """The supplier, the item, and what the supplier asks for."""

    supplier: str = Field(description="Supplier code or name asking for the increase.")
    item: str = Field(description="Item code, another system's code, or a description.")
    requested_increase_pct: Decimal | None = Field(
        default=None,
        gt=-100,
        le=1000,
        description="Requested change in percent (10 means +10%). Give this or new_unit_price.",
    )
    new_unit_price: Decimal | None = Field(
        default=None, ge=0, description="The new unit price asked for, instead of a percentage."
    )
    currency: str | None = Field(
        default=None, description="Currency of new_unit_price; default the last price's."
    )
    unit: str | None = Field(
        default=None, description="Unit of new_unit_price; default the last price's."
    )
    buyer_currency: str = Field(
        default="USD", description="The buyer's currency (market indexes are taken to move in it)."
    )
    as_of: dt.date | None = Field(
        default=None, description="Date of the request; default the as-of date of the question."
    )

    @model_validator(mode="after")
    def _one_request(self) -> CheckPriceIncreaseInput:
        if (self.requested_increase_pct is None) == (self.new_unit_price is None):
            raise ValueError("give either requested_increase_pct or new_unit_price")
        if self.new_unit_price is None and (self.currency or self.unit):
            raise ValueError("currency and unit describe new_unit_price; give it too")
        return self


class LastPrice(BaseModel):
    """The price the request is measured against."""

    source: Source = Field(description="purchase_order (paid), contract (agreed) or quote.")
    id: int = Field(description="Row id of the purchase order line, contract price or quote line.")
    document: str | None = Field(description="PO number, contract number or RFQ code.")
    source_system: str | None = Field(description="ERP the document came from, if any.")
    date: dt.date = Field(description="Order date, contract price start, or quote date.")
    quantity: Decimal | None
    price: Money


class IndexMovement(BaseModel):
    """The linked market index as it was known on the last price date and on the as-of date."""

    series_code: str
    series_name: str | None
    from_month: dt.date = Field(description="Index month known on the last price date.")
    from_value: Decimal
    to_month: dt.date = Field(description="Latest index month known on the as-of date.")
    to_value: Decimal
    change_pct: Decimal
    stale: bool = Field(description="The index data ends before what should be published.")
    months_behind: int = Field(description="Months between the last value used and the due one.")


class CurrencyMovement(BaseModel):
    """How the supplier's currency moved against the buyer's since the last price."""

    supplier_currency: str
    buyer_currency: str
    rate_then: Decimal = Field(description="Buyer currency per one supplier currency, then.")
    rate_then_date: dt.date
    rate_now: Decimal
    rate_now_date: dt.date
    supplier_currency_change_pct: Decimal = Field(
        description="Change of the supplier currency against the buyer's (+ = it strengthened)."
    )


class Component(BaseModel):
    """One part of the requested change, in percentage points."""

    driver: Literal["index", "currency", "unexplained"]
    pct: Decimal
    explanation: str


class CheckPriceIncreaseOutput(BaseModel):
    """The split of the request, the verdict and a counter-proposal."""

    supplier: str
    item_code: str
    item_name: str
    as_of: dt.date
    last_price: LastPrice
    requested_price: Money = Field(description="The requested price in the last price's terms.")
    requested_increase_pct: Decimal
    index: IndexMovement | None
    material_share: Decimal = Field(description="Share of the cost that moves with the index.")
    material_share_source: str
    currency: CurrencyMovement | None
    components: list[Component] = Field(description="index + currency + unexplained = request.")
    supported_increase_pct: Decimal = Field(description="The change the evidence supports.")
    verdict: Verdict
    counter_proposal: Money
    reading: str
    warnings: list[str]
    evidence: list[Evidence]


def check_price_increase(
    ctx: ToolContext, args: CheckPriceIncreaseInput
) -> CheckPriceIncreaseOutput:
    """Judge a supplier's request to raise an item's price (+N% or a new unit price).

    Use it for "supplier X wants +8% on Y, is that fair?" or "X now asks 2.10/lb for Y".
    It finds the last price the supplier was paid, agreed or quoted for the item (and says
    which), then splits the requested change into: the move of the market index linked to
    the item's category since then (values as published at each date; weighted by the
    material share of the cost when a should-cost template exists, otherwise passed through
    in full), the move of the exchange rate when the supplier prices in another currency,
    and the unexplained rest. Returns a verdict (justified / partly justified / not
    justified), the percentage the evidence supports and a counter-proposal price. Errors
    when the supplier has no earlier price for the item.
    """
    supplier = resolve_supplier(ctx, args.supplier)
    item = resolve_item(ctx, args.item)
    as_of = args.as_of or ctx.as_of
    buyer_currency = args.buyer_currency.upper()
    last = _last_price(ctx, supplier, item, as_of)
    old = last.price
    if old.amount <= 0:
        raise InvalidInputError(
            f"the last price of {item.code} from {supplier.name} ({last.source} {last.id}) is "
            f"{old.amount}: a percentage change from it means nothing"
        )
    new_amount = _requested_amount(ctx, args, old, as_of)
    requested_pct = _pct(new_amount / old.amount - 1)
    warnings: list[str] = []
    evidence = [_last_price_evidence(last, supplier, item)]

    index, index_note = _index_movement(ctx, item, last.date, as_of)
    ratio = Decimal(1)
    share, share_source = Decimal(0), "no index: nothing of the cost is explained by a market move"
    if index is not None:
        ratio = index.to_value / index.from_value
        share, share_source = _material_share(ctx, item, index.series_code, last)
        evidence.append(_index_evidence(ctx, index, last.date, as_of))
        if index.stale:
            warnings.append(
                f"index {index.series_code} is stale: the last month used is "
                f"{index.to_month:%Y-%m}, {index.months_behind} month(s) behind what should be "
                f"published by {as_of.isoformat()}; any move since is not counted"
            )
    else:
        warnings.append(index_note)
    evidence.append(Evidence(kind="template", detail=share_source))

    currency = _currency_movement(ctx, old.currency, buyer_currency, last.date, as_of, warnings)
    fx_factor = Decimal(1)
    if currency is not None:
        fx_factor = currency.rate_then / currency.rate_now
        evidence.append(
            Evidence(
                kind="fx",
                detail=(
                    f"{currency.supplier_currency}->{currency.buyer_currency} "
                    f"{currency.rate_then} on {currency.rate_then_date}, "
                    f"{currency.rate_now} on {currency.rate_now_date}"
                ),
            )
        )

    index_pct = _pct(share * (ratio - 1))
    currency_pct = _pct(share * ratio * (fx_factor - 1)) if index is not None else Decimal("0.00")
    supported = index_pct + currency_pct
    unexplained = requested_pct - supported
    components = [
        Component(driver="index", pct=index_pct, explanation=_index_text(index, share, index_note)),
        Component(
            driver="currency",
            pct=currency_pct,
            explanation=_currency_text(currency, index, old.currency, buyer_currency),
        ),
        Component(
            driver="unexplained",
            pct=unexplained,
            explanation="the part of the request no market or currency move accounts for"
            if unexplained > 0
            else "the request is within what the market and currency moves support",
        ),
    ]
    verdict = _verdict(requested_pct, supported)
    counter_pct = min(requested_pct, supported)
    counter = Money(
        amount=(old.amount * (1 + counter_pct / _HUNDRED)).quantize(_PRICE, ROUND_HALF_EVEN),
        currency=old.currency,
        unit=old.unit,
    )
    return CheckPriceIncreaseOutput(
        supplier=supplier.name,
        item_code=item.code,
        item_name=item.name,
        as_of=as_of,
        last_price=last,
        requested_price=Money(
            amount=new_amount.quantize(_PRICE, ROUND_HALF_EVEN),
            currency=old.currency,
            unit=old.unit,
        ),
        requested_increase_pct=requested_pct,
        index=index,
        material_share=share.quantize(_RATIO, ROUND_HALF_EVEN),
        material_share_source=share_source,
        currency=currency,
        components=components,
        supported_increase_pct=supported,
        verdict=verdict,
        counter_proposal=counter,
        reading=_reading(verdict, requested_pct, supported, last, counter),
        warnings=warnings,
        evidence=evidence,
    )


# --------------------------------------------------------------------------- last price


@dataclass(frozen=True)
class _Candidate:
    source: Source
    id: int
    document: str | None
    system: str | None
    date: dt.date
    quantity: Decimal | None
    amount: Decimal
    currency: str
    unit: str


def _last_price(ctx: ToolContext, supplier: Supplier, item: Item, as_of: dt.date) -> LastPrice:
    """The latest purchase order line, contract price or quote line on or before ``as_of``."""
    candidates = [
        c
        for c in (
            _last_po(ctx.session, ctx.org_id, supplier.id, item.id, as_of),
            _last_contract(ctx.session, ctx.org_id, supplier.id, item.id, as_of),
            _last_quote(ctx.session, ctx.org_id, supplier.id, item.id, as_of),
        )
        if c is not None
    ]
    if not candidates:
        raise NotFoundError(
            f"{supplier.name} has no purchase order, contract price or quote for {item.code} "
            f"({item.name}) on or before {as_of.isoformat()}, so there is no earlier price to "
            "measure the request against; check the supplier and item, or import its purchase "
            "orders or contracts first (price_history shows who has priced this item)"
        )
    best = min(candidates, key=lambda c: (-c.date.toordinal(), _SOURCE_RANK[c.source]))
    return LastPrice(
        source=best.source,
        id=best.id,
        document=best.document,
        source_system=best.system,
        date=best.date,
        quantity=best.quantity,
        price=Money(amount=best.amount, currency=best.currency, unit=best.unit),
    )


def _last_po(
    session: Session, org_id: uuid.UUID, supplier_id: int, item_id: int, as_of: dt.date
) -> _Candidate | None:
    row = session.execute(
        select(PurchaseOrderLine, PurchaseOrder.po_number, PurchaseOrder.source_system)
        .join(
            PurchaseOrder,
            (PurchaseOrder.org_id == PurchaseOrderLine.org_id)
            & (PurchaseOrder.id == PurchaseOrderLine.purchase_order_id),
        )
        .where(
            PurchaseOrderLine.org_id == org_id,
            PurchaseOrderLine.supplier_id == supplier_id,
            PurchaseOrderLine.item_id == item_id,
            PurchaseOrderLine.order_date <= as_of,
        )
        .order_by(PurchaseOrderLine.order_date.desc(), PurchaseOrderLine.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    line, number, system = row
    return _Candidate(
        "purchase_order",
        line.id,
        f"{number}/{line.line_no}",
        system,
        line.order_date,
        line.quantity,
        line.unit_price,
        line.currency,
        line.unit,
    )


def _last_contract(
    session: Session, org_id: uuid.UUID, supplier_id: int, item_id: int, as_of: dt.date
) -> _Candidate | None:
    # The base tier (smallest minimum quantity) of the latest price that had started.
    row = session.execute(
        select(ContractPrice, Contract.contract_number, Contract.source_system)
        .join(
            Contract,
            (Contract.org_id == ContractPrice.org_id) & (Contract.id == ContractPrice.contract_id),
        )
        .where(
            ContractPrice.org_id == org_id,
            Contract.supplier_id == supplier_id,
            ContractPrice.item_id == item_id,
            ContractPrice.valid_from <= as_of,
        )
        .order_by(
            ContractPrice.valid_from.desc(),
            ContractPrice.min_quantity.asc(),
            ContractPrice.id.desc(),
        )
        .limit(1)
    ).first()
    if row is None:
        return None
    price, number, system = row
    return _Candidate(
        "contract",
        price.id,
        number,
        system,
        price.valid_from,
        price.min_quantity or None,
        price.unit_price,
        price.currency,
        price.unit,
    )


def _last_quote(
    session: Session, org_id: uuid.UUID, supplier_id: int, item_id: int, as_of: dt.date
) -> _Candidate | None:
    row = session.execute(
        select(QuoteLine, Rfq.code)
        .join(Quote, (Quote.org_id == QuoteLine.org_id) & (Quote.id == QuoteLine.quote_id))
        .outerjoin(Rfq, (Rfq.org_id == Quote.org_id) & (Rfq.id == Quote.rfq_id))
        .where(
            QuoteLine.org_id == org_id,
            QuoteLine.supplier_id == supplier_id,
            QuoteLine.item_id == item_id,
            QuoteLine.quote_date <= as_of,
        )
        .order_by(QuoteLine.quote_date.desc(), QuoteLine.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    line, rfq = row
    return _Candidate(
        "quote",
        line.id,
        rfq,
        line.source,
        line.quote_date,
        line.quantity,
        line.unit_price,
        line.currency,
        line.unit,
    )


def _requested_amount(
    ctx: ToolContext, args: CheckPriceIncreaseInput, old: Money, as_of: dt.date
) -> Decimal:
    """The requested unit price in the last price's currency and unit."""
    if args.requested_increase_pct is not None:
        return old.amount * (1 + args.requested_increase_pct / _HUNDRED)
    assert args.new_unit_price is not None  # the validator guarantees one of the two
    catalog = UnitCatalog.load(ctx.session)
    price = Price(
        args.new_unit_price, (args.currency or old.currency).upper(), args.unit or old.unit
    )
    price = catalog.convert_price(price, old.unit)
    if price.currency != old.currency:
        # A new price in another currency is compared at today's rate.
        price = fx.convert_price(
            ctx.session, org_id=ctx.org_id, price=price, to_currency=old.currency, on=as_of
        )
    return price.amount


def _last_price_evidence(last: LastPrice, supplier: Supplier, item: Item) -> Evidence:
    kind = {"purchase_order": "purchase_orders", "contract": "contracts", "quote": "quotes"}
    label = {"purchase_order": "purchase order line", "contract": "contract price"}
    return Evidence(
        kind=kind[last.source],
        detail=(
            f"last price of {item.code} from {supplier.name}: {label.get(last.source, 'quote')} "
            f"{last.document or last.id} of {last.date.isoformat()}, {last.price}"
        ),
        ids=[last.id],
    )


# --------------------------------------------------------------------------- index


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _months_between(earlier: dt.date, later: dt.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def known_index_value(
    session: Session, org_id: uuid.UUID, series_id: int, on: dt.date
) -> tuple[dt.date, Decimal] | None:
    """Return the latest observation that had been published by ``on`` (month + 45 days)."""
    row = session.execute(
        select(IndexObservation.obs_date, IndexObservation.value)
        .where(
            IndexObservation.org_id == org_id,
            IndexObservation.series_id == series_id,
            IndexObservation.obs_date <= on - LAG,
        )
        .order_by(IndexObservation.obs_date.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def _index_movement(
    ctx: ToolContext, item: Item, since: dt.date, as_of: dt.date
) -> tuple[IndexMovement | None, str]:
    """The linked index then and now, or None with the reason."""
    if not item.category:
        return None, f"item {item.code} has no category, so no market index is linked to it"
    links = history.category_links(session=ctx.session, org_id=ctx.org_id)
    code = links.get(item.category)
    if code is None:
        return None, (
            f"no market index is linked to category {item.category!r} (link one with "
            "`pricing-agent index link`), so no part of the request is explained by the market"
        )
    series = ctx.session.scalar(
        select(IndexSeries).where(IndexSeries.org_id == ctx.org_id, IndexSeries.code == code)
    )
    if series is None:
        return None, f"category {item.category!r} is linked to index {code}, which is not stored"
    then = known_index_value(ctx.session, ctx.org_id, series.id, since)
    now = known_index_value(ctx.session, ctx.org_id, series.id, as_of)
    if then is None or now is None:
        return None, (
            f"index {code} has no value published by {since.isoformat()} (the last price date), "
            "so the market move since then cannot be measured"
        )
    due = _month_start(as_of - LAG)
    behind = max(0, _months_between(now[0], due))
    return (
        IndexMovement(
            series_code=code,
            series_name=series.name,
            from_month=then[0],
            from_value=then[1],
            to_month=now[0],
            to_value=now[1],
            change_pct=_pct(now[1] / then[1] - 1),
            stale=behind >= 1,
            months_behind=behind,
        ),
        "",
    )


def _index_evidence(
    ctx: ToolContext, index: IndexMovement, since: dt.date, as_of: dt.date
) -> Evidence:
    series_id = ctx.session.scalar(
        select(IndexSeries.id).where(
            IndexSeries.org_id == ctx.org_id, IndexSeries.code == index.series_code
        )
    )
    return Evidence(
        kind="index",
        detail=(
            f"{index.series_code}: {index.from_month:%Y-%m} = {index.from_value} (published by "
            f"{since.isoformat()}) -> {index.to_month:%Y-%m} = {index.to_value} (published by "
            f"{as_of.isoformat()}), {index.change_pct:+}%"
        ),
        ids=[series_id] if series_id is not None else [],
    )


def _material_share(
    ctx: ToolContext, item: Item, series_code: str, last: LastPrice
) -> tuple[Decimal, str]:
    """Share of the cost that moves with the index: the template's materials, or all of it."""
    name = template_name(item.category or "")
    try:
        template = shipped_template(name)
    except InvalidInputError:
        return Decimal(1), (
            f"no should-cost template for category {item.category!r}: the whole price is "
            f"assumed to move with {series_code} (full pass-through)"
        )
    catalog = UnitCatalog.load(ctx.session)
    quantity: Decimal | None = None
    if last.quantity:
        try:
            quantity = catalog.convert_quantity(last.quantity, last.price.unit, template.unit)
        except UnitConversionError:
            quantity = None
    codes = sorted({m.index for m in template.material if m.index})
    index_obs = history.index_observations(
        session=ctx.session, org_id=ctx.org_id, codes=codes or None
    )
    # Built on the last price date as then published; the per-order set-up cost only
    # counts when the order quantity is known in the template's unit.
    built = build_up(template, quantity=quantity or 1, on=last.date - LAG, index_values=index_obs)
    groups = built.by_group()
    material = groups.get("material", Decimal(0))
    total = built.unit_total - (Decimal(0) if quantity else groups.get("setup", Decimal(0)))
    share = min(Decimal(1), max(Decimal(0), material / total)) if total > 0 else Decimal(1)
    at = f"at {quantity.normalize():f} {template.unit}" if quantity else "set-up cost left out"
    return share, (
        f"should-cost template {name} (uncalibrated, {at}, {last.date.isoformat()}): materials "
        f"are {share:.0%} of the cost, so {share:.0%} of the {series_code} move passes through"
    )


def _index_text(index: IndexMovement | None, share: Decimal, reason: str) -> str:
    if index is None:
        return reason
    return (
        f"{index.series_code} moved {index.change_pct:+}% from {index.from_month:%Y-%m} to "
        f"{index.to_month:%Y-%m}; x material share {share:.0%}"
    )


# --------------------------------------------------------------------------- currency


def _currency_movement(
    ctx: ToolContext,
    supplier_currency: str,
    buyer_currency: str,
    since: dt.date,
    as_of: dt.date,
    warnings: list[str],
) -> CurrencyMovement | None:
    if supplier_currency == buyer_currency:
        return None
    try:
        then = fx.conversion(
            ctx.session,
            org_id=ctx.org_id,
            from_currency=supplier_currency,
            to_currency=buyer_currency,
            on=since,
        )
        now = fx.conversion(
            ctx.session,
            org_id=ctx.org_id,
            from_currency=supplier_currency,
            to_currency=buyer_currency,
            on=as_of,
        )
    except CurrencyConversionError as exc:
        warnings.append(f"currency move not measured: {exc.message}")
        return None
    return CurrencyMovement(
        supplier_currency=supplier_currency,
        buyer_currency=buyer_currency,
        rate_then=then.rate.quantize(Decimal("0.000001")),
        rate_then_date=max(then.rate_dates),
        rate_now=now.rate.quantize(Decimal("0.000001")),
        rate_now_date=max(now.rate_dates),
        supplier_currency_change_pct=_pct(now.rate / then.rate - 1),
    )


def _currency_text(
    currency: CurrencyMovement | None,
    index: IndexMovement | None,
    supplier_currency: str,
    buyer_currency: str,
) -> str:
    if supplier_currency == buyer_currency:
        return f"the supplier prices in {buyer_currency}, the buyer's currency: no currency effect"
    if currency is None:
        return f"no {supplier_currency}->{buyer_currency} rates to measure the currency move"
    if index is None:
        return (
            "no index-tracked cost to re-price: the currency move "
            f"({currency.supplier_currency_change_pct:+}%) explains nothing on its own"
        )
    direction = "strengthened" if currency.supplier_currency_change_pct > 0 else "weakened"
    return (
        f"{supplier_currency} {direction} {abs(currency.supplier_currency_change_pct)}% against "
        f"{buyer_currency}; the index-tracked cost, priced in {buyer_currency}, costs the "
        f"supplier that much {'less' if direction == 'strengthened' else 'more'} in "
        f"{supplier_currency}"
    )


# --------------------------------------------------------------------------- verdict


def _pct(fraction: Decimal) -> Decimal:
    return (fraction * _HUNDRED).quantize(_PCT, ROUND_HALF_EVEN)


def _verdict(requested: Decimal, supported: Decimal) -> Verdict:
    if requested <= supported + TOLERANCE_PCT:
        return "justified"
    if supported > TOLERANCE_PCT:
        return "partly justified"
    return "not justified"


def _reading(
    verdict: Verdict, requested: Decimal, supported: Decimal, last: LastPrice, counter: Money
) -> str:
    basis = f"last {last.source.replace('_', ' ')} price {last.price} of {last.date.isoformat()}"
    if verdict == "justified":
        return (
            f"Justified: {requested:+}% is within the {supported:+}% the evidence supports "
            f"({basis})."
        )
    if supported < 0:
        offer = f"the evidence points to a {abs(supported)}% decrease; counter at {counter}"
    elif supported > 0:
        offer = f"counter at {supported:+}%: {counter}"
    else:
        offer = f"hold the price at {counter}"
    return (
        f"{verdict.capitalize()}: the request is {requested:+}%, the evidence supports "
        f"{supported:+}% ({basis}); {offer}."
    )
