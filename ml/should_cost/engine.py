"""The should-cost build-up: a template, a date and a quantity in; priced lines out.

Order of the build-up (every amount per one template unit, rounded to 4 decimals per line,
and the unit total is the exact sum of the rounded lines):

1. ``material``: quantity_per_unit x price_at(on), where
   price_at(on) = base x index(on) / index(base month), using the latest index observation
   on or before the date (indices publish with a lag; a quote can only know what was out).
   If the index has no value on or before either date, the base price is used and the
   line's ``source`` says so.
2. ``conversion`` / ``labour`` / ``equipment``: hours_per_unit x rate x ``scale``.
3. ``price_break`` (if one applies): minus discount_pct of the variable cost (1 + 2) for
   the largest break whose min_quantity is at most the quantity.
4. ``setup``: setup_cost / quantity, so small orders cost more per unit.
   Direct cost = 1 + 2 + 3 + 4.
5. ``overhead``: overhead_pct of the direct cost.
6. ``sga``: sga_pct of (direct cost + overhead).
7. ``margin``: margin_pct of (direct cost + overhead + SG&A), the running total.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.errors import InvalidInputError
from core.money import Price
from ml.should_cost.indexes import IndexTable, Observation
from ml.should_cost.template import MaterialInput, PriceBreak, Template

#: Line amounts are rounded to this quantum (currency per template unit).
QUANTUM = Decimal("0.0001")
#: An index observation older than this many months before the date is flagged as stale.
STALE_MONTHS = 2
_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class CostLine:
    """One line of a build-up: an amount per template unit and where it came from."""

    group: str
    name: str
    amount: Decimal
    currency: str
    unit: str
    source: str

    @property
    def price(self) -> Price:
        """The line as a Price per template unit."""
        return Price(self.amount, self.currency, self.unit)


@dataclass(frozen=True, slots=True)
class ShouldCost:
    """A priced build-up: lines, the unit total they sum to, and the total for the quantity."""

    category: str
    currency: str
    unit: str
    on: date
    quantity: Decimal
    lines: tuple[CostLine, ...]
    unit_total: Decimal
    total: Decimal
    warnings: tuple[str, ...]
    template_source: str

    def __post_init__(self) -> None:
        self.check()

    @property
    def unit_price(self) -> Price:
        """The unit total as a Price."""
        return Price(self.unit_total, self.currency, self.unit)

    def check(self) -> None:
        """Raise ValueError unless the lines sum exactly to the unit total and total."""
        line_sum = sum((line.amount for line in self.lines), Decimal(0))
        if line_sum != self.unit_total:
            raise ValueError(f"lines sum to {line_sum}, unit total is {self.unit_total}")
        if _exact_product(self.unit_total, self.quantity) != self.total:
            raise ValueError(f"{self.unit_total} x {self.quantity} is not {self.total}")

    def by_group(self) -> dict[str, Decimal]:
        """Sum the line amounts per group, in build-up order."""
        out: dict[str, Decimal] = {}
        for line in self.lines:
            out[line.group] = out.get(line.group, Decimal(0)) + line.amount
        return out

    def to_frame(self) -> pd.DataFrame:
        """Return the lines as a DataFrame (amounts stay Decimal)."""
        return pd.DataFrame(
            [
                {
                    "group": x.group,
                    "name": x.name,
                    "amount": x.amount,
                    "currency": x.currency,
                    "unit": x.unit,
                    "source": x.source,
                }
                for x in self.lines
            ]
        )


def build_up(
    template: Template,
    *,
    quantity: Decimal | int | float,
    on: date,
    index_values: pd.DataFrame | IndexTable,
    params: Mapping[str, float | Decimal] | None = None,
) -> ShouldCost:
    """Price a template on a date for a quantity, line by line."""
    qty = _quantity(quantity)
    if params:
        template = template.with_params(params, note="set by caller")
    table = index_values if isinstance(index_values, IndexTable) else IndexTable(index_values)
    cur, unit = template.currency, template.unit
    lines: list[CostLine] = []
    warnings: list[str] = []

    def add(group: str, name: str, amount: Decimal, source: str) -> Decimal:
        rounded = amount.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
        lines.append(CostLine(group, name, rounded, cur, unit, source))
        return rounded

    variable = Decimal(0)
    for m in template.material:
        ratio, index_note, warning = _material_ratio(m, table, on)
        if warning:
            warnings.append(warning)
        prov = _prov(
            template,
            f"material.{m.name}.quantity_per_unit",
            f"material.{m.name}.base",
            default="template price",
        )
        what = f"{m.quantity_per_unit} x {m.base} {m.unit_note or cur}".rstrip()
        variable += add(
            "material",
            m.name,
            m.quantity_per_unit * m.base * ratio,
            f"{index_note}; {what} ({prov})",
        )
    scale_prov = _prov(template, "scale")
    for p in template.process_lines:
        base = f"{p.group}.{p.name}"
        prov = _prov(template, f"{base}.hours_per_unit", f"{base}.rate")
        scale_note = "" if template.scale == 1 else f" x scale {template.scale} ({scale_prov})"
        variable += add(
            p.group,
            p.name,
            p.hours_per_unit * p.rate * template.scale,
            f"{prov}: {p.hours_per_unit} h x {p.rate} {cur}/h{scale_note}",
        )
    direct = variable
    brk = _price_break(template.price_breaks, qty)
    if brk is not None:
        direct += add(
            "price_break",
            f"from_{brk.min_quantity}",
            -variable * brk.discount_pct / _HUNDRED,
            f"{brk.discount_pct}% off variable cost {variable} for quantity >= "
            f"{brk.min_quantity} {unit} (template price break)",
        )
    if template.setup_cost:
        direct += add(
            "setup",
            "setup",
            template.setup_cost / qty,
            f"{template.setup_cost} {cur} per order spread over {qty} {unit}"
            f" ({_prov(template, 'setup_cost', default='template value')})",
        )
    running = direct
    for group, pct, basis in (
        ("overhead", template.overhead_pct, "direct cost"),
        ("sga", template.sga_pct, "direct cost + overhead"),
        ("margin", template.margin_pct, "running total"),
    ):
        running += add(
            group,
            group,
            running * pct / _HUNDRED,
            f"{pct}% of {basis} {running} ({_prov(template, f'{group}_pct')})",
        )
    unit_total = sum((x.amount for x in lines), Decimal(0))
    return ShouldCost(
        category=template.category,
        currency=cur,
        unit=unit,
        on=on,
        quantity=qty,
        lines=tuple(lines),
        unit_total=unit_total,
        total=_exact_product(unit_total, qty),
        warnings=tuple(dict.fromkeys(warnings)),
        template_source=template.source,
    )


def _exact_product(a: Decimal, b: Decimal) -> Decimal:
    # Enough digits that the product of two finite Decimals is never rounded.
    with localcontext() as ctx:
        ctx.prec = len(a.as_tuple().digits) + len(b.as_tuple().digits) + 2
        return a * b


def _quantity(quantity: Decimal | int | float) -> Decimal:
    if isinstance(quantity, bool) or not isinstance(quantity, Decimal | int | float):
        raise InvalidInputError(f"quantity must be a number, got {quantity!r}")
    qty = quantity if isinstance(quantity, Decimal) else Decimal(str(quantity))
    if not qty.is_finite() or qty <= 0:
        raise InvalidInputError(f"quantity must be > 0, got {quantity!r}")
    return qty


def _prov(template: Template, *paths: str, default: str = "template rate") -> str:
    notes = [template.provenance[p] for p in paths if p in template.provenance]
    return "; ".join(dict.fromkeys(notes)) if notes else default


def _price_break(breaks: tuple[PriceBreak, ...], qty: Decimal) -> PriceBreak | None:
    applicable = [b for b in breaks if b.min_quantity <= qty]
    return applicable[-1] if applicable else None


def _month_end(first: date) -> date:
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def _material_ratio(
    m: MaterialInput, table: IndexTable, on: date
) -> tuple[Decimal, str, str | None]:
    """Return (index ratio, source text, warning or None) for one material on a date."""
    if m.index is None or m.index_base_date is None:
        return Decimal(1), "fixed template price (no index)", None
    base_label = f"{m.index_base_date:%Y-%m}"
    now = table.as_of(m.index, on)
    base = table.as_of(m.index, _month_end(m.index_base_date))
    if now is None or base is None:
        missing = f"on or before {on.isoformat()}" if now is None else f"for base {base_label}"
        text = f"no {m.index} value {missing}: base price used unchanged"
        return Decimal(1), text, f"{m.name}: {text}"
    ratio = Decimal(repr(now.value)) / Decimal(repr(base.value))
    text = f"{m.index} at {now.obs_date:%Y-%m} = {_fmt(now)} vs base {base_label} = {_fmt(base)}"
    gap = _months_between(now.obs_date, on)
    if gap > STALE_MONTHS:
        stale = f"latest {m.index} value is {gap} months before {on.isoformat()}"
        return ratio, f"{text} ({stale})", f"{m.name}: {stale}"
    return ratio, text, None


def _fmt(obs: Observation) -> str:
    return f"{obs.value:.6g}"


def index_ratios(
    template: Template, table: IndexTable, dates: npt.NDArray[np.datetime64]
) -> dict[str, npt.NDArray[np.float64]]:
    """Return each material's index ratio per date (1.0 where the index is missing)."""
    out: dict[str, npt.NDArray[np.float64]] = {}
    for m in template.material:
        if m.index is None or m.index_base_date is None:
            out[m.name] = np.ones(len(dates))
            continue
        base = table.as_of(m.index, _month_end(m.index_base_date))
        now = table.as_of_many(m.index, dates)
        ratio = now / base.value if base is not None else np.full(len(dates), np.nan)
        out[m.name] = np.where(np.isfinite(ratio), ratio, 1.0)
    return out


def unit_cost_vector(
    template: Template,
    ratios: Mapping[str, npt.NDArray[np.float64]],
    quantity: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Return the unit total per row in floats, the same build-up without rounding."""
    material = sum(
        (float(m.quantity_per_unit * m.base) * ratios[m.name] for m in template.material),
        np.zeros(len(quantity)),
    )
    process = float(template.scale) * sum(
        (float(p.hours_per_unit * p.rate) for p in template.process_lines), 0.0
    )
    variable = material + process
    discount = np.zeros(len(quantity))
    for brk in template.price_breaks:
        discount = np.where(quantity >= float(brk.min_quantity), float(brk.discount_pct), discount)
    direct = variable * (1 - discount / 100) + float(template.setup_cost) / quantity
    markup = (
        (1 + float(template.overhead_pct) / 100)
        * (1 + float(template.sga_pct) / 100)
        * (1 + float(template.margin_pct) / 100)
    )
    result: npt.NDArray[np.float64] = direct * markup
    return result
