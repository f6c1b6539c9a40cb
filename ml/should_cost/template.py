"""Should-cost templates: the editable YAML recipe of a category's unit cost.

A template is a small YAML file (one per category, shipped in ``templates/``; a user may
load their own). Its numbers are *starting points* for calibration, not facts.

Schema (every amount is in the template's ``currency`` per one template ``unit``)::

    category: rebar                       # required, free text
    unit: lb                              # required, a canonical unit code of the store
    currency: USD                         # required, ISO 4217
    description: ...                      # optional
    material:                             # input materials, each index-linked or fixed
      - name: epoxy_coated_bar            # unique in its group, no dots
        quantity_per_unit: 1.03           # input units per template unit (>= 0)
        price:
          base: 0.62                      # price of one input unit at index_base_date (> 0)
          unit_note: USD per lb of bar    # what ``base`` is per (free text, optional)
          index: WPU101704                # optional market index series code
          index_base_date: 2022-01        # YYYY-MM, required with ``index``
    conversion: [{name, hours_per_unit, rate}]   # process time x machine/labour rate
    labour:     [{name, hours_per_unit, rate}]   # crew hours x crew rate
    equipment:  [{name, hours_per_unit, rate}]   # equipment hours x hourly rate
    scale: 1.0                            # optional multiplier on conversion+labour+equipment
    setup_cost: 0                         # optional fixed cost per order, spread over quantity
    price_breaks:                         # optional volume discounts on the variable cost
      - {min_quantity: 100000, discount_pct: 3}
    overhead_pct: 12                      # percent of direct cost
    sga_pct: 6                            # percent of direct cost + overhead
    margin_pct: 10                        # percent of the running total
    free:                                 # calibratable parameters and their bounds
      scale: [0.2, 5]
      setup_cost: [0, 20000]
      labour.hours_per_unit: [0.05, 5]    # group shorthand when the group has one line
      material.epoxy_coated_bar.base: [0.3, 1.5]

Parameter paths (used by ``free``, ``build_up(params=...)`` and calibration):
``overhead_pct``, ``sga_pct``, ``margin_pct``, ``setup_cost``, ``scale``,
``material.<name>.quantity_per_unit``, ``material.<name>.base``,
``<conversion|labour|equipment>.<name>.hours_per_unit`` / ``.rate``, and the shorthand
``<group>.<field>`` when that group has exactly one line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from core.errors import InvalidInputError

#: Unit codes of the store's unit catalogue (store/migrations reference data).
CANONICAL_UNITS = frozenset(
    {
        "kg", "g", "mg", "t", "lb", "oz", "ton", "lton", "cwt",
        "m", "mm", "cm", "km", "in", "ft", "yd", "mi",
        "m2", "cm2", "mm2", "in2", "ft2", "yd2", "sq", "acre", "ha",
        "m3", "l", "ml", "in3", "ft3", "yd3", "gal", "bf", "mbf",
        "ea", "pr", "dz", "hun", "th", "ls", "h", "day", "wk",
    }
)  # fmt: skip

PROCESS_GROUPS = ("conversion", "labour", "equipment")
PCT_FIELDS = ("overhead_pct", "sga_pct", "margin_pct")
_TOP_KEYS = frozenset(
    {
        "category",
        "unit",
        "currency",
        "description",
        "material",
        *PROCESS_GROUPS,
        *PCT_FIELDS,
        "scale",
        "setup_cost",
        "price_breaks",
        "free",
    }
)
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class MaterialInput:
    """One input material: ``quantity_per_unit`` input units at an index-linked price."""

    name: str
    quantity_per_unit: Decimal
    base: Decimal
    unit_note: str = ""
    index: str | None = None
    index_base_date: date | None = None


@dataclass(frozen=True, slots=True)
class ProcessLine:
    """Time on a process, crew or machine per template unit, at an hourly rate."""

    group: str
    name: str
    hours_per_unit: Decimal
    rate: Decimal


@dataclass(frozen=True, slots=True)
class PriceBreak:
    """A volume discount on the variable direct cost from ``min_quantity`` upwards."""

    min_quantity: Decimal
    discount_pct: Decimal


@dataclass(frozen=True, slots=True)
class Template:
    """A validated should-cost template; build one with ``load_template`` or ``parse_template``."""

    category: str
    unit: str
    currency: str
    material: tuple[MaterialInput, ...]
    conversion: tuple[ProcessLine, ...]
    labour: tuple[ProcessLine, ...]
    equipment: tuple[ProcessLine, ...]
    overhead_pct: Decimal
    sga_pct: Decimal
    margin_pct: Decimal
    scale: Decimal = Decimal(1)
    setup_cost: Decimal = Decimal(0)
    price_breaks: tuple[PriceBreak, ...] = ()
    free: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    description: str = ""
    source: str = "<template>"
    #: Where a parameter's value came from, by canonical path (e.g. "calibrated on 1,715 quotes").
    provenance: Mapping[str, str] = field(default_factory=dict)

    @property
    def process_lines(self) -> tuple[ProcessLine, ...]:
        """Conversion, labour and equipment lines in that order."""
        return self.conversion + self.labour + self.equipment

    def canonical_path(self, path: str) -> str:
        """Resolve a parameter path (or group shorthand) to ``group.name.field`` form."""
        parts = path.split(".")
        if len(parts) == 1 and parts[0] in (*PCT_FIELDS, "scale", "setup_cost"):
            return path
        if len(parts) in (2, 3) and parts[0] in ("material", *PROCESS_GROUPS):
            group, fld = parts[0], parts[-1]
            allowed = (
                ("quantity_per_unit", "base") if group == "material" else ("hours_per_unit", "rate")
            )
            if fld not in allowed:
                raise KeyError(f"{path}: field must be one of {', '.join(allowed)}")
            names = [line.name for line in self._group(group)]
            if len(parts) == 2:
                if len(names) != 1:
                    raise KeyError(
                        f"{path}: shorthand needs exactly one {group} line, found {len(names)};"
                        f" use {group}.<name>.{fld}"
                    )
                return f"{group}.{names[0]}.{fld}"
            if parts[1] not in names:
                raise KeyError(f"{path}: no {group} line named {parts[1]!r}")
            return path
        raise KeyError(f"{path}: not a parameter path")

    def get_param(self, path: str) -> Decimal:
        """Return the current value of a parameter path."""
        canon = self.canonical_path(path)
        parts = canon.split(".")
        if len(parts) == 1:
            value: Decimal = getattr(self, canon)
            return value
        line = next(x for x in self._group(parts[0]) if x.name == parts[1])
        value = getattr(line, parts[2])
        return value

    def with_params(self, params: Mapping[str, float | Decimal], *, note: str) -> Template:
        """Return a copy with parameters set; ``note`` records where the values came from."""
        out = self
        provenance = dict(self.provenance)
        for path, raw in params.items():
            try:
                canon = self.canonical_path(path)
            except KeyError as exc:
                raise InvalidInputError(f"{self.source}: params: {exc.args[0]}") from None
            value = _param_decimal(raw, f"{self.source}: params: {path}")
            _check_param_domain(canon, value, f"{self.source}: params: {path}")
            out = out._set(canon, value)
            provenance[canon] = note
        return replace(out, provenance=provenance)

    def free_start(self) -> dict[str, float]:
        """Return the template's own values of the free parameters."""
        return {path: float(self.get_param(path)) for path in self.free}

    def _group(self, group: str) -> tuple[MaterialInput, ...] | tuple[ProcessLine, ...]:
        lines: tuple[MaterialInput, ...] | tuple[ProcessLine, ...] = getattr(self, group)
        return lines

    def _set(self, canon: str, value: Decimal) -> Template:
        parts = canon.split(".")
        if len(parts) == 1:
            return _set_top(self, canon, value)
        group, name, fld = parts
        if group == "material":
            material = tuple(
                _set_material(m, fld, value) if m.name == name else m for m in self.material
            )
            return replace(self, material=material)
        lines = tuple(
            _set_process(p, fld, value) if p.name == name else p
            for p in self.process_lines
            if p.group == group
        )
        if group == "conversion":
            return replace(self, conversion=lines)
        if group == "labour":
            return replace(self, labour=lines)
        return replace(self, equipment=lines)


def _set_top(template: Template, fld: str, value: Decimal) -> Template:
    if fld == "overhead_pct":
        return replace(template, overhead_pct=value)
    if fld == "sga_pct":
        return replace(template, sga_pct=value)
    if fld == "margin_pct":
        return replace(template, margin_pct=value)
    if fld == "scale":
        return replace(template, scale=value)
    return replace(template, setup_cost=value)


def _set_material(line: MaterialInput, fld: str, value: Decimal) -> MaterialInput:
    if fld == "base":
        return replace(line, base=value)
    return replace(line, quantity_per_unit=value)


def _set_process(line: ProcessLine, fld: str, value: Decimal) -> ProcessLine:
    if fld == "rate":
        return replace(line, rate=value)
    return replace(line, hours_per_unit=value)


def shipped_categories() -> list[str]:
    """List the categories that have a shipped template."""
    root = resources.files("ml.should_cost") / "templates"
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def shipped_template(category: str) -> Template:
    """Load the shipped template of a category (e.g. ``rebar``)."""
    root = resources.files("ml.should_cost") / "templates"
    resource = root / f"{category}.yaml"
    if not resource.is_file():
        raise InvalidInputError(
            f"no shipped should-cost template for {category!r};"
            f" available: {', '.join(shipped_categories())}"
        )
    return _parse_text(resource.read_text(encoding="utf-8"), source=f"templates/{category}.yaml")


def load_template(path: str | Path) -> Template:
    """Load and validate a template from a YAML file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"{file}: cannot read template: {exc.strerror}") from None
    return _parse_text(text, source=str(file))


def parse_template(data: Mapping[str, Any], *, source: str = "<template>") -> Template:
    """Validate a template given as a mapping (e.g. parsed YAML)."""
    return _Parser(source).template(data)


def template_to_yaml(template: Template) -> str:
    """Render a template as YAML (e.g. to save a calibrated copy for editing)."""
    data: dict[str, Any] = {
        "category": template.category,
        "unit": template.unit,
        "currency": template.currency,
    }
    if template.description:
        data["description"] = template.description
    data["material"] = [
        {
            "name": m.name,
            "quantity_per_unit": _yaml_number(m.quantity_per_unit),
            "price": {
                "base": _yaml_number(m.base),
                **({"unit_note": m.unit_note} if m.unit_note else {}),
                **({"index": m.index} if m.index else {}),
                **(
                    {"index_base_date": m.index_base_date.strftime("%Y-%m")}
                    if m.index_base_date
                    else {}
                ),
            },
        }
        for m in template.material
    ]
    for group in PROCESS_GROUPS:
        data[group] = [
            {
                "name": p.name,
                "hours_per_unit": _yaml_number(p.hours_per_unit),
                "rate": _yaml_number(p.rate),
            }
            for p in getattr(template, group)
        ]
    data["scale"] = _yaml_number(template.scale)
    data["setup_cost"] = _yaml_number(template.setup_cost)
    if template.price_breaks:
        data["price_breaks"] = [
            {
                "min_quantity": _yaml_number(b.min_quantity),
                "discount_pct": _yaml_number(b.discount_pct),
            }
            for b in template.price_breaks
        ]
    for pct in PCT_FIELDS:
        data[pct] = _yaml_number(getattr(template, pct))
    data["free"] = {path: [lo, hi] for path, (lo, hi) in template.free.items()}
    header = "".join(f"# {path}: {note}\n" for path, note in sorted(template.provenance.items()))
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _yaml_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _parse_text(text: str, *, source: str) -> Template:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{source}: a template must be a YAML mapping")
    return parse_template(data, source=source)


def _param_decimal(raw: object, where: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        raise InvalidInputError(f"{where}: expected a number, got {raw!r}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise InvalidInputError(f"{where}: expected a number, got {raw!r}") from None
    if not value.is_finite():
        raise InvalidInputError(f"{where}: expected a finite number, got {raw!r}")
    return value


def _check_param_domain(canon: str, value: Decimal, where: str) -> None:
    fld = canon.rsplit(".", maxsplit=1)[-1]
    if fld in PCT_FIELDS and not Decimal(0) <= value < Decimal(100):
        raise InvalidInputError(f"{where}: a percentage must be in [0, 100), got {value}")
    if fld == "base" and value <= 0:
        raise InvalidInputError(f"{where}: a base price must be > 0, got {value}")
    if value < 0:
        raise InvalidInputError(f"{where}: must be >= 0, got {value}")


class _Parser:
    """Validate a template mapping, naming the file and field in every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, fld: str, problem: str) -> InvalidInputError:
        return InvalidInputError(f"{self.source}: {fld}: {problem}")

    def template(self, data: Mapping[str, Any]) -> Template:
        unknown = sorted(set(map(str, data)) - _TOP_KEYS)
        if unknown:
            raise self.fail(unknown[0], f"unknown field (allowed: {', '.join(sorted(_TOP_KEYS))})")
        unit = self.text(data, "unit", "unit")
        if unit not in CANONICAL_UNITS:
            raise self.fail("unit", f"{unit!r} is not a canonical unit code")
        currency = self.text(data, "currency", "currency")
        if not _CURRENCY.match(currency):
            raise self.fail("currency", f"{currency!r} is not an ISO 4217 code")
        material = tuple(
            self.material(item, f"material[{i}]")
            for i, item in enumerate(self.seq(data, "material"))
        )
        groups = {
            g: tuple(self.process(g, item, f"{g}[{i}]") for i, item in enumerate(self.seq(data, g)))
            for g in PROCESS_GROUPS
        }
        named: list[tuple[str, list[str]]] = [("material", [m.name for m in material])]
        named += [(g, [p.name for p in lines]) for g, lines in groups.items()]
        for group, names in named:
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise self.fail(group, f"duplicate line name {dupes[0]!r}")
        if not material and not any(groups.values()):
            raise self.fail("material", "a template needs at least one cost line")
        template = Template(
            category=self.text(data, "category", "category"),
            unit=unit,
            currency=currency,
            description=str(data.get("description") or ""),
            material=material,
            conversion=groups["conversion"],
            labour=groups["labour"],
            equipment=groups["equipment"],
            overhead_pct=self.pct(data, "overhead_pct"),
            sga_pct=self.pct(data, "sga_pct"),
            margin_pct=self.pct(data, "margin_pct"),
            scale=self.number(data, "scale", "scale", default=Decimal(1)),
            setup_cost=self.number(data, "setup_cost", "setup_cost", default=Decimal(0)),
            price_breaks=self.breaks(data),
            source=self.source,
        )
        return replace(template, free=self.free(data, template))

    def text(self, data: Mapping[str, Any], key: str, fld: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(fld, "required text is missing or empty")
        return value.strip()

    def seq(self, data: Mapping[str, Any], key: str) -> list[Any]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "expected a list")
        return value

    def mapping(self, value: object, fld: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(fld, "expected a mapping")
        return value

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        fld: str,
        *,
        default: Decimal | None = None,
        positive: bool = False,
    ) -> Decimal:
        raw = data.get(key)
        if raw is None:
            if default is None:
                raise self.fail(fld, "required number is missing")
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise self.fail(fld, f"expected a number, got {raw!r}")
        value = Decimal(str(raw))
        if not value.is_finite() or value < 0 or (positive and value == 0):
            raise self.fail(fld, f"must be {'> 0' if positive else '>= 0'}, got {raw!r}")
        return value

    def pct(self, data: Mapping[str, Any], key: str) -> Decimal:
        value = self.number(data, key, key, default=Decimal(0))
        if value >= 100:
            raise self.fail(key, f"a percentage must be in [0, 100), got {value}")
        return value

    def name(self, item: Mapping[str, Any], fld: str) -> str:
        name = self.text(item, "name", f"{fld}.name")
        if not _NAME.match(name):
            raise self.fail(f"{fld}.name", f"{name!r}: use letters, digits, _ or - only")
        return name

    def material(self, raw: object, fld: str) -> MaterialInput:
        item = self.mapping(raw, fld)
        self.only(item, fld, {"name", "quantity_per_unit", "price"})
        price = self.mapping(item.get("price"), f"{fld}.price")
        self.only(price, f"{fld}.price", {"base", "unit_note", "index", "index_base_date"})
        index = price.get("index")
        base_date: date | None = None
        if index is not None:
            if not isinstance(index, str) or not index.strip():
                raise self.fail(f"{fld}.price.index", "expected a series code")
            base_date = self.month(price.get("index_base_date"), f"{fld}.price.index_base_date")
        elif price.get("index_base_date") is not None:
            raise self.fail(f"{fld}.price.index_base_date", "given without an index")
        return MaterialInput(
            name=self.name(item, fld),
            quantity_per_unit=self.number(item, "quantity_per_unit", f"{fld}.quantity_per_unit"),
            base=self.number(price, "base", f"{fld}.price.base", positive=True),
            unit_note=str(price.get("unit_note") or ""),
            index=index.strip() if isinstance(index, str) else None,
            index_base_date=base_date,
        )

    def process(self, group: str, raw: object, fld: str) -> ProcessLine:
        item = self.mapping(raw, fld)
        self.only(item, fld, {"name", "hours_per_unit", "rate"})
        return ProcessLine(
            group=group,
            name=self.name(item, fld),
            hours_per_unit=self.number(item, "hours_per_unit", f"{fld}.hours_per_unit"),
            rate=self.number(item, "rate", f"{fld}.rate"),
        )

    def month(self, raw: object, fld: str) -> date:
        match = _MONTH.match(raw) if isinstance(raw, str) else None
        if match is None or not 1 <= int(match.group(2)) <= 12:
            raise self.fail(fld, f"expected YYYY-MM (quoted), got {raw!r}")
        return date(int(match.group(1)), int(match.group(2)), 1)

    def only(self, item: Mapping[str, Any], fld: str, allowed: set[str]) -> None:
        unknown = sorted(set(map(str, item)) - allowed)
        if unknown:
            raise self.fail(f"{fld}.{unknown[0]}", f"unknown field (allowed: {sorted(allowed)})")

    def breaks(self, data: Mapping[str, Any]) -> tuple[PriceBreak, ...]:
        out: list[PriceBreak] = []
        for i, raw in enumerate(self.seq(data, "price_breaks")):
            fld = f"price_breaks[{i}]"
            item = self.mapping(raw, fld)
            self.only(item, fld, {"min_quantity", "discount_pct"})
            pb = PriceBreak(
                min_quantity=self.number(
                    item, "min_quantity", f"{fld}.min_quantity", positive=True
                ),
                discount_pct=self.number(item, "discount_pct", f"{fld}.discount_pct"),
            )
            if pb.discount_pct >= 100:
                raise self.fail(f"{fld}.discount_pct", "a discount must be below 100")
            if out and pb.min_quantity <= out[-1].min_quantity:
                raise self.fail(f"{fld}.min_quantity", "breaks must increase in min_quantity")
            out.append(pb)
        return tuple(out)

    def free(self, data: Mapping[str, Any], template: Template) -> dict[str, tuple[float, float]]:
        raw = data.get("free")
        if raw is None:
            return {}
        free = self.mapping(raw, "free")
        out: dict[str, tuple[float, float]] = {}
        canon_seen: dict[str, str] = {}
        for path, bounds in free.items():
            fld = f"free.{path}"
            try:
                canon = template.canonical_path(str(path))
            except KeyError as exc:
                raise self.fail("free", str(exc.args[0])) from None
            if canon in canon_seen:
                raise self.fail(fld, f"same parameter as free.{canon_seen[canon]}")
            canon_seen[canon] = str(path)
            ok = (
                isinstance(bounds, list)
                and len(bounds) == 2
                and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
            )
            if not ok:
                raise self.fail(fld, f"expected [low, high], got {bounds!r}")
            lo, hi = float(bounds[0]), float(bounds[1])
            if not lo < hi:
                raise self.fail(fld, f"low must be below high, got [{lo}, {hi}]")
            try:
                _check_param_domain(canon, Decimal(str(lo)), fld)
                _check_param_domain(canon, Decimal(str(hi)), fld)
            except InvalidInputError as exc:
                raise self.fail(fld, f"bounds out of domain ({exc.message})") from None
            value = float(template.get_param(canon))
            if not lo <= value <= hi:
                raise self.fail(fld, f"template value {value} lies outside [{lo}, {hi}]")
            out[str(path)] = (lo, hi)
        return out
