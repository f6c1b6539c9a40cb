"""predict_price: the fair-price band for an item, quantity, supplier and date, with drivers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from pydantic import BaseModel, Field

from core.errors import InvalidInputError, PricingAgentError
from ml.price.features import TargetLine, dates_ns
from store import fx
from store.models import Item, Supplier
from tools import price_cache
from tools.base import EARLIEST_DATE, LATEST_DATE, Evidence, Money, ToolContext, money_amount
from tools.items import resolve_item, resolve_items
from tools.price_cache import CachedModel, ItemRef, PredictionSnapshot
from tools.suppliers import resolve_supplier

MAX_BATCH_LINES = 10_000
"""Lines one ``predict_prices`` call may carry."""
_ONE_THREAD_ROWS = 2048
"""Up to this many rows, LightGBM runs on the calling thread (threads cost more than
they save on a few rows, and a server's request threads already share the cores)."""


class PredictPriceInput(BaseModel):
    """What to price."""

    item: str = Field(description="Item code, another system's code, or a description.")
    quantity: Decimal | None = Field(
        default=None,
        gt=0,
        description="Quantity, in ``unit``; default the median quantity quoted for the item.",
    )
    unit: str | None = Field(default=None, description="Unit of the quantity and the price.")
    supplier: str | None = Field(default=None, description="Supplier quoting, if known.")
    date: dt.date | None = Field(
        default=None,
        ge=EARLIEST_DATE,
        le=LATEST_DATE,
        description="Quote date; default the as-of date.",
    )
    currency: str = Field(default="USD", description="Currency of the answer.")


class Driver(BaseModel):
    """One reason the price is where it is."""

    driver: str
    effect_pct: float = Field(description="Effect on the P50 in percent.")
    direction: str


class PredictPriceOutput(BaseModel):
    """The band and what moves it."""

    item_code: str
    item_name: str
    quantity: Decimal
    p10: Money
    p50: Money
    p90: Money
    drivers: list[Driver]
    model_version: int
    history_lines: int = Field(description="Earlier quote lines the features could draw on.")
    evidence: list[Evidence]


def predict_price(
    ctx: ToolContext, args: PredictPriceInput, *, explain: bool = True
) -> PredictPriceOutput:
    """Predict what an item should cost: the P10/P50/P90 band per unit, and its main drivers.

    Use it for "what should X cost", "is N per unit fair for X", or a target price. The 80%
    band (P10 to P90) covered about 80% of real held-out quotes when the model was measured.
    """
    # Developers: ``explain=False`` leaves ``drivers`` empty and saves the SHAP pass (about
    # 7 ms of CPU per new feature row); the band is the same either way.
    state = price_cache.read_state(session=ctx.session, org_id=ctx.org_id)
    snap = price_cache.snapshot(session=ctx.session, org_id=ctx.org_id, state=state)
    # An item code is found in the snapshot (its generation covers items); anything else
    # goes through resolve_item (aliases, then search).
    item = snap.item_by_code(args.item) or ItemRef.of(resolve_item(ctx, args.item))
    line = _prepare(ctx, snap, args, item, lambda text: resolve_supplier(ctx, text))
    cached = price_cache.active_model(session=ctx.session, org_id=ctx.org_id, state=state)
    if not snap.any_lines_before(line.when_ns):
        raise InvalidInputError("no quote history to price against")
    result = _price(ctx, snap, cached, [line], explain=explain)[0]
    if isinstance(result, PricingAgentError):
        raise result
    return result


class PredictPricesInput(BaseModel):
    """Lines to price in one call."""

    lines: list[PredictPriceInput] = Field(
        min_length=1,
        max_length=MAX_BATCH_LINES,
        description=f"Up to {MAX_BATCH_LINES:,} lines, each as predict_price takes it.",
    )
    explain: bool = Field(
        default=False,
        description="Add each line's drivers (about 7 ms of CPU per distinct line).",
    )


class LineError(BaseModel):
    """Why one line could not be priced."""

    kind: str = Field(description="The error's title, e.g. 'Not found' or 'Invalid input'.")
    message: str


class LinePrediction(BaseModel):
    """One line's outcome: its prediction, or the error that stopped it."""

    index: int = Field(description="Position of the line in the request, from 0.")
    prediction: PredictPriceOutput | None = None
    error: LineError | None = None


class PredictPricesOutput(BaseModel):
    """One result per line, in the order the lines came."""

    results: list[LinePrediction]
    priced: int
    failed: int
    model_version: int


def predict_prices(ctx: ToolContext, args: PredictPricesInput) -> PredictPricesOutput:
    """Price many lines at once: for each, what predict_price answers, or why it cannot.

    A line that cannot be priced (unknown item or supplier, a unit that does not convert,
    no quantity and no earlier quote to take one from) gets an error of its own; the other
    lines are priced all the same, with exactly the numbers predict_price gives them.
    """
    # One snapshot, one model and one feature matrix serve every line: a batch costs
    # little more than its distinct item and supplier look-ups plus the boosters. Without
    # an active model no line can be priced, so that error is the whole call's.
    state = price_cache.read_state(session=ctx.session, org_id=ctx.org_id)
    cached = price_cache.active_model(session=ctx.session, org_id=ctx.org_id, state=state)
    snap = price_cache.snapshot(session=ctx.session, org_id=ctx.org_id, state=state)
    known = {line.item: snap.item_by_code(line.item) for line in args.lines}
    others = resolve_items(ctx, [text for text, item in known.items() if item is None])
    items: dict[str, ItemRef | PricingAgentError] = {
        text: item if item is not None else _item_ref(others[text]) for text, item in known.items()
    }
    suppliers: dict[str, Supplier | PricingAgentError] = {}

    def supplier(text: str) -> Supplier:
        if text not in suppliers:
            try:
                suppliers[text] = resolve_supplier(ctx, text)
            except PricingAgentError as exc:
                suppliers[text] = exc
        found = suppliers[text]
        if isinstance(found, PricingAgentError):
            raise type(found)(found.message)
        return found

    outcomes: dict[int, PredictPriceOutput | PricingAgentError] = {}
    ready: list[tuple[int, _Line]] = []
    for index, line_args in enumerate(args.lines):
        item = items[line_args.item]
        if isinstance(item, PricingAgentError):
            outcomes[index] = item
            continue
        try:
            line = _prepare(ctx, snap, line_args, item, supplier)
            if not snap.any_lines_before(line.when_ns):
                raise InvalidInputError("no quote history to price against")
        except PricingAgentError as exc:
            outcomes[index] = exc
            continue
        ready.append((index, line))
    priced = _price(ctx, snap, cached, [line for _, line in ready], explain=args.explain)
    outcomes.update(zip([index for index, _ in ready], priced, strict=True))
    results = [_result(index, outcomes[index]) for index in range(len(args.lines))]
    failed = sum(1 for r in results if r.error is not None)
    return PredictPricesOutput(
        results=results,
        priced=len(results) - failed,
        failed=failed,
        model_version=cached.version,
    )


def _item_ref(found: Item | PricingAgentError) -> ItemRef | PricingAgentError:
    return found if isinstance(found, PricingAgentError) else ItemRef.of(found)


def _result(index: int, outcome: PredictPriceOutput | PricingAgentError) -> LinePrediction:
    if isinstance(outcome, PricingAgentError):
        return LinePrediction(
            index=index, error=LineError(kind=outcome.title, message=outcome.message)
        )
    return LinePrediction(index=index, prediction=outcome)


@dataclass(frozen=True)
class _Line:
    """A line checked and turned into the model's terms, with what its answer needs."""

    args: PredictPriceInput
    item: ItemRef
    item_unit: str
    unit: str
    when: dt.date
    when_ns: int
    asked: Decimal
    prior: int
    target: TargetLine


def _prepare(
    ctx: ToolContext,
    snap: PredictionSnapshot,
    args: PredictPriceInput,
    item: ItemRef,
    resolve: Callable[[str], Supplier],
) -> _Line:
    """Check one line and describe it as the model sees it (raises what stops it)."""
    catalog = snap.catalog
    item_unit = catalog.get(item.unit or args.unit or "ea").code
    unit = catalog.get(args.unit).code if args.unit else item_unit
    when = args.date or ctx.as_of
    when_ns = int(dates_ns([when])[0])
    asked = args.quantity
    if asked is None:
        typical = snap.typical_quantity(item.id, item_unit, when_ns)
        if typical is None:
            raise InvalidInputError(f"give a quantity: {item.code} has no earlier quotes")
        asked = catalog.convert_quantity(typical, item_unit, unit)
    quantity_in_item_unit = catalog.convert_quantity(asked, unit, item_unit)
    supplier = resolve(args.supplier) if args.supplier else None
    target = TargetLine(
        quote_date=when,
        item_id=item.id,
        item_code=item.code,
        category=item.category or "",
        unit=item_unit,
        quantity=float(quantity_in_item_unit),
        currency=snap.usual_currency(item.id, when_ns),
        supplier_id=supplier.id if supplier else -1,
        item_attributes=item.attributes or {},
    )
    return _Line(
        args=args,
        item=item,
        item_unit=item_unit,
        unit=unit,
        when=when,
        when_ns=when_ns,
        asked=asked,
        prior=snap.lines_before(item.id, when_ns),
        target=target,
    )


def _price(
    ctx: ToolContext,
    snap: PredictionSnapshot,
    cached: CachedModel,
    lines: list[_Line],
    *,
    explain: bool,
) -> list[PredictPriceOutput | PricingAgentError]:
    """Band, drivers and money of prepared lines, from one feature matrix."""
    if not lines:
        return []
    model, version = cached.model, cached.version
    rows = model.encode([line.target for line in lines], snap.history, snap.index)
    threads = 1 if len(lines) <= _ONE_THREAD_ROWS else None
    p10s, p50s, p90s = model.band(rows, num_threads=threads)
    drivers = cached.drivers(rows, num_threads=threads) if explain else [[] for _ in lines]
    rates: dict[tuple[str, str, dt.date], fx.Conversion | PricingAgentError] = {}

    def rate(source: str, wanted: str, on: dt.date) -> fx.Conversion:
        key = (source, wanted, on)
        if key not in rates:
            try:
                rates[key] = fx.conversion(
                    ctx.session, org_id=ctx.org_id, from_currency=source, to_currency=wanted, on=on
                )
            except PricingAgentError as exc:
                rates[key] = exc
        found = rates[key]
        if isinstance(found, PricingAgentError):
            raise type(found)(found.message)
        return found

    out: list[PredictPriceOutput | PricingAgentError] = []
    for line, p10, p50, p90, explained in zip(lines, p10s, p50s, p90s, drivers, strict=True):
        try:
            # The arithmetic of Money.from_float, UnitCatalog.convert_price and
            # fx.convert_price, with the unit factor and the exchange rate looked up once.
            per = snap.catalog.factor(line.item_unit, line.unit)
            fx_rate = rate(line.target.currency, line.args.currency, line.when).rate
            money = partial(
                _money,
                per=per,
                fx_rate=fx_rate,
                currency=line.args.currency.upper(),
                unit=line.unit,
            )
            out.append(
                PredictPriceOutput(
                    item_code=line.item.code,
                    item_name=line.item.name,
                    quantity=line.asked,
                    p10=money(p10),
                    p50=money(p50),
                    p90=money(p90),
                    drivers=[Driver(**d) for d in explained],
                    model_version=version,
                    history_lines=line.prior,
                    evidence=[
                        Evidence(kind="model", detail=f"price model v{version}", ids=[version]),
                        Evidence(
                            kind="quotes",
                            detail=f"{line.prior} earlier quote lines of {line.item.code}",
                        ),
                    ],
                )
            )
        except PricingAgentError as exc:
            out.append(exc)
    return out


def _money(value: float, *, per: Decimal, fx_rate: Decimal, currency: str, unit: str) -> Money:
    """A band value per item unit as money per ``unit`` in ``currency``."""
    amount = money_amount(value) / per * fx_rate
    return Money(amount=money_amount(float(amount)), currency=currency, unit=unit)
