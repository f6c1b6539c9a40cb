"""Currency conversion from the organisation's dated exchange-rate table.

A conversion uses the latest rate on or before the date asked for: a direct pair, its
inverse, or a cross through a pivot currency. A rate older than ``max_age_days`` is not
used: converting at a stale rate would look precise and be wrong.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import CurrencyConversionError
from core.money import Price
from store.models import FxRate

PIVOTS = ("USD", "EUR")
DEFAULT_MAX_AGE_DAYS = 31


@dataclass(frozen=True, slots=True)
class Conversion:
    """A conversion factor and the evidence behind it."""

    rate: Decimal
    rate_dates: tuple[dt.date, ...]
    path: tuple[str, ...]


def _latest(
    session: Session, org_id: uuid.UUID, base: str, quote: str, on: dt.date
) -> tuple[Decimal, dt.date] | None:
    row = session.execute(
        select(FxRate.rate, FxRate.rate_date)
        .where(
            FxRate.org_id == org_id,
            FxRate.base_currency == base,
            FxRate.quote_currency == quote,
            FxRate.rate_date <= on,
        )
        .order_by(FxRate.rate_date.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def _pair(
    session: Session, org_id: uuid.UUID, base: str, quote: str, on: dt.date
) -> tuple[Decimal, dt.date] | None:
    direct = _latest(session, org_id, base, quote, on)
    inverse = _latest(session, org_id, quote, base, on)
    candidates = [
        c for c in (direct, None if inverse is None else (1 / inverse[0], inverse[1])) if c
    ]
    # Prefer whichever quote is fresher.
    return max(candidates, key=lambda c: c[1]) if candidates else None


def conversion(
    session: Session,
    *,
    org_id: uuid.UUID,
    from_currency: str,
    to_currency: str,
    on: dt.date,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
) -> Conversion:
    """Find the factor that turns an amount in ``from_currency`` into ``to_currency``."""
    src, dst = from_currency.upper(), to_currency.upper()
    if src == dst:
        return Conversion(Decimal(1), (), (src,))
    oldest_ok = on - dt.timedelta(days=max_age_days)
    found = _pair(session, org_id, src, dst, on)
    if found and found[1] >= oldest_ok:
        return Conversion(found[0], (found[1],), (src, dst))
    for pivot in PIVOTS:
        if pivot in (src, dst):
            continue
        leg1 = _pair(session, org_id, src, pivot, on)
        leg2 = _pair(session, org_id, pivot, dst, on)
        if leg1 and leg2 and min(leg1[1], leg2[1]) >= oldest_ok:
            return Conversion(leg1[0] * leg2[0], (leg1[1], leg2[1]), (src, pivot, dst))
    stale = f" (latest {found[1]:%Y-%m-%d} is older than {max_age_days} days)" if found else ""
    raise CurrencyConversionError(
        f"no exchange rate {src}->{dst} on or before {on:%Y-%m-%d}{stale}; import rates first"
    )


def convert_price(
    session: Session, *, org_id: uuid.UUID, price: Price, to_currency: str, on: dt.date
) -> Price:
    """Re-express a unit price in another currency at the rate of ``on``."""
    factor = conversion(
        session, org_id=org_id, from_currency=price.currency, to_currency=to_currency, on=on
    )
    return Price(amount=price.amount * factor.rate, currency=to_currency.upper(), unit=price.unit)
