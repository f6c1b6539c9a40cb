"""Units of measure: resolve spellings and convert quantities and prices exactly.

The catalogue is the ``units`` and ``unit_aliases`` reference tables; conversions stay
within one dimension (mass, length, area, volume, count, time) and use Decimal factors,
so a price per ``S.Y.`` converts to a price per ``m2`` without float rounding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import UnitConversionError
from core.money import Price
from store.models import Unit, UnitAlias

_STRIP = re.compile(r"[\s._\-]+")
_REMEMBERED = 4096


def alias_key(spelling: str) -> str:
    """Normalise a unit spelling for look-up: upper case, no spaces, dots, dashes."""
    return _STRIP.sub("", spelling.upper())


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """One unit of the catalogue."""

    code: str
    name: str
    dimension: str
    to_base: Decimal


class UnitCatalog:
    """The unit catalogue in memory: small, immutable reference data."""

    def __init__(self, units: list[UnitInfo], aliases: dict[str, str]) -> None:
        self._units = {u.code: u for u in units}
        self._aliases = dict(aliases)
        for code in self._units:
            self._aliases.setdefault(alias_key(code), code)
        self._resolved: dict[str, UnitInfo] = {}

    @classmethod
    def load(cls, session: Session) -> UnitCatalog:
        """Read the catalogue from the store."""
        units = [
            UnitInfo(u.code, u.name, u.dimension, u.to_base)
            for u in session.scalars(select(Unit)).all()
        ]
        aliases = {a.alias: a.unit_code for a in session.scalars(select(UnitAlias)).all()}
        return cls(units, aliases)

    def resolve(self, spelling: str) -> UnitInfo | None:
        """Return the unit a spelling names (``S.Y.``, ``sys`` → yd2), or None."""
        found = self._resolved.get(spelling)
        if found is not None:
            return found
        code = self._aliases.get(alias_key(spelling))
        found = self._units.get(code) if code else None
        # The catalogue never changes: remember spellings that name a unit (a bounded
        # number of them, since spellings come from outside).
        if found is not None and len(self._resolved) < _REMEMBERED:
            self._resolved[spelling] = found
        return found

    def get(self, spelling: str) -> UnitInfo:
        """Return the unit a spelling names, or raise UnitConversionError."""
        unit = self.resolve(spelling)
        if unit is None:
            raise UnitConversionError(f"unknown unit of measure {spelling!r}")
        return unit

    def factor(self, from_unit: str, to_unit: str) -> Decimal:
        """Return how many ``to_unit`` make one ``from_unit``."""
        src, dst = self.get(from_unit), self.get(to_unit)
        if src.dimension != dst.dimension:
            raise UnitConversionError(
                f"cannot convert {src.code} ({src.dimension}) to {dst.code} ({dst.dimension})"
            )
        return src.to_base / dst.to_base

    def convert_quantity(self, quantity: Decimal, from_unit: str, to_unit: str) -> Decimal:
        """Convert a quantity between units of one dimension."""
        return quantity * self.factor(from_unit, to_unit)

    def convert_price(self, price: Price, to_unit: str) -> Price:
        """Re-express a unit price per another unit (price per ton → price per lb)."""
        target = self.get(to_unit)
        amount = price.amount / self.factor(price.unit, target.code)
        return Price(amount=amount, currency=price.currency, unit=target.code)
