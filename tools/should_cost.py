"""should_cost: what an item ought to cost, built up line by line from a category template."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field

from core.errors import InvalidInputError
from core.money import Price
from ml.should_cost import build_up, calibrate, shipped_template
from store import history
from store.models import Item
from store.units import UnitCatalog
from tools.base import Evidence, Money, ToolContext
from tools.items import resolve_item
from tools.training import category_quotes, template_name


class ShouldCostInput(BaseModel):
    """The item (or category) and quantity to cost."""

    item: str = Field(description="Item code or description; its category picks the template.")
    quantity: Decimal | None = Field(
        default=None,
        gt=0,
        description="Quantity, in ``unit``; default the median quantity quoted for the item.",
    )
    unit: str | None = Field(
        default=None, description="Unit of the quantity; default the template's."
    )
    date: dt.date | None = Field(default=None, description="Cost date; default the as-of date.")
    calibrated: bool = Field(
        default=True, description="Fit the template to the organisation's past quotes first."
    )


class CostLineOut(BaseModel):
    """One line of the build-up, per unit, with where its number comes from."""

    group: str
    name: str
    amount: Money
    source: str


class ShouldCostOutput(BaseModel):
    """The build-up, its unit total and the total for the quantity."""

    item_code: str
    category: str
    template: str
    quantity: Decimal
    unit: str
    lines: list[CostLineOut]
    unit_total: Money
    total: Decimal
    currency: str
    warnings: list[str]
    calibration: str
    evidence: list[Evidence]


def _typical_quantity(ctx: ToolContext, item: Item, unit: str, when: dt.date) -> Decimal:
    catalog = UnitCatalog.load(ctx.session)
    item_unit = catalog.get(item.unit or unit).code
    typical = history.typical_quantity(
        session=ctx.session, org_id=ctx.org_id, item_id=item.id, unit=item_unit, until=when
    )
    if typical is None:
        raise InvalidInputError(f"give a quantity: {item.code} has no earlier quotes to size from")
    return catalog.convert_quantity(typical, item_unit, unit)


def should_cost(ctx: ToolContext, args: ShouldCostInput) -> ShouldCostOutput:
    """Build up what an item should cost: materials at index-linked prices, labour and
    equipment, overhead, SG&A and margin, each line with its source.

    Use it for "what should this cost to make/place?", or as the buyer's fallback when bids
    are few. Templates exist for rebar, structural steel, ready-mix concrete, asphalt and
    aggregate; they are calibrated on the organisation's own quotes unless told not to.
    """
    item = resolve_item(ctx, args.item)
    if not item.category:
        raise InvalidInputError(f"item {item.code} has no category to pick a cost template")
    try:
        template = shipped_template(template_name(item.category))
    except InvalidInputError:
        raise InvalidInputError(
            f"no should-cost template for category {item.category!r} of item {item.code}"
        ) from None
    catalog = UnitCatalog.load(ctx.session)
    unit = catalog.get(args.unit).code if args.unit else template.unit
    when = args.date or ctx.as_of
    asked = args.quantity or _typical_quantity(ctx, item, unit, when)
    quantity = catalog.convert_quantity(asked, unit, template.unit)
    codes = sorted({m.index for m in template.material if m.index})
    index_obs = history.index_observations(
        session=ctx.session, org_id=ctx.org_id, codes=codes or None
    )
    note = "template values, not calibrated"
    if args.calibrated:
        quotes, items, _ = category_quotes(
            session=ctx.session,
            org_id=ctx.org_id,
            category=item.category,
            unit=template.unit,
            until=when,
        )
        fitted = calibrate(template, quotes, index_obs)
        template = fitted.template
        note = (
            f"calibrated on {fitted.n_quotes:,} quotes of {len(items)} item(s); held-out median "
            f"error {fitted.calibrated_held_out.mdape:.0%}"
        )
    built = build_up(template, quantity=quantity, on=when, index_values=index_obs)

    def per_unit(amount: Decimal) -> Money:
        price = catalog.convert_price(
            Price(amount, built.currency, template.unit),
            unit,
        )
        return Money.of(price)

    return ShouldCostOutput(
        item_code=item.code,
        category=item.category,
        template=template_name(item.category),
        quantity=asked,
        unit=unit,
        lines=[
            CostLineOut(
                group=line.group, name=line.name, amount=per_unit(line.amount), source=line.source
            )
            for line in built.lines
        ],
        unit_total=per_unit(built.unit_total),
        total=built.total,
        currency=built.currency,
        warnings=list(built.warnings),
        calibration=note,
        evidence=[Evidence(kind="template", detail=f"{template_name(item.category)}: {note}")],
    )
