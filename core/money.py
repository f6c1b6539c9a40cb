"""Money as the domain speaks it: a Decimal amount with its currency and unit of measure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Price:
    """A unit price: ``amount`` of ``currency`` per one ``unit``."""

    amount: Decimal
    currency: str
    unit: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Price amount must be Decimal, not {type(self.amount).__name__}")
        if not self.amount.is_finite():
            raise ValueError(f"Price amount must be finite, got {self.amount}")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}/{self.unit}"


def format_unit_price(amount: Decimal) -> str:
    """Show a unit price with its cents, and up to four decimals where they carry meaning."""
    exact = amount.quantize(Decimal("0.0001")).normalize()
    places = max(2, -int(exact.as_tuple().exponent)) if exact != exact.to_integral() else 2
    return f"{amount:,.{min(places, 4)}f}"
