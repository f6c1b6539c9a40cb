"""Currency conversion from the organisation's dated exchange-rate table."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import CurrencyConversionError
from core.money import Price
from store import fx
from store.db import Database
from tests import factories
from tests.conftest import make_org

D = dt.date


def _conv(
    session: Session, org_id: uuid.UUID, src: str, dst: str, on: dt.date, **kw: int
) -> fx.Conversion:
    return fx.conversion(session, org_id=org_id, from_currency=src, to_currency=dst, on=on, **kw)


def test_direct_rate(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.0823", on=D(2024, 3, 1))
    got = _conv(session, org_id, "EUR", "USD", D(2024, 3, 5))
    assert got.rate == Decimal("1.0823")
    assert isinstance(got.rate, Decimal)
    assert got.path == ("EUR", "USD")
    assert got.rate_dates == (D(2024, 3, 1),)


def test_inverse_rate(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.25", on=D(2024, 3, 1))
    got = _conv(session, org_id, "USD", "EUR", D(2024, 3, 1))
    assert got.rate == Decimal("0.8")
    assert isinstance(got.rate, Decimal)
    assert got.path == ("USD", "EUR")


def test_fresher_of_direct_and_inverse_wins(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.25", on=D(2024, 3, 1))
    factories.fx_rate(session, org_id, base="USD", quote="EUR", rate="0.5", on=D(2024, 3, 4))
    got = _conv(session, org_id, "EUR", "USD", D(2024, 3, 5))
    assert got.rate == Decimal("2")
    assert got.rate_dates == (D(2024, 3, 4),)


def test_cross_rate_through_usd(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.25", on=D(2024, 3, 1))
    factories.fx_rate(session, org_id, base="USD", quote="JPY", rate="150", on=D(2024, 3, 2))
    got = _conv(session, org_id, "EUR", "JPY", D(2024, 3, 3))
    assert got.rate == Decimal("187.5")
    assert got.path == ("EUR", "USD", "JPY")
    assert got.rate_dates == (D(2024, 3, 1), D(2024, 3, 2))


def test_cross_rate_with_inverted_legs(session: Session, org_id: uuid.UUID) -> None:
    # GBP->USD is stored as USD->GBP 0.8; USD->CAD is stored as CAD->USD 0.75.
    factories.fx_rate(session, org_id, base="USD", quote="GBP", rate="0.8", on=D(2024, 3, 1))
    factories.fx_rate(session, org_id, base="CAD", quote="USD", rate="0.75", on=D(2024, 3, 1))
    got = _conv(session, org_id, "GBP", "CAD", D(2024, 3, 1))
    assert got.path == ("GBP", "USD", "CAD")
    assert abs(got.rate - Decimal("1.25") / Decimal("0.75")) < Decimal("1e-25")
    assert got.rate.quantize(Decimal("0.000001")) == Decimal("1.666667")


def test_latest_rate_on_or_before_the_date_is_used(session: Session, org_id: uuid.UUID) -> None:
    for day, rate in ((1, "1.10"), (10, "1.20"), (20, "1.30")):
        factories.fx_rate(session, org_id, base="EUR", quote="USD", rate=rate, on=D(2024, 5, day))
    assert _conv(session, org_id, "EUR", "USD", D(2024, 5, 15)).rate == Decimal("1.20")
    assert _conv(session, org_id, "EUR", "USD", D(2024, 5, 10)).rate == Decimal("1.20")
    assert _conv(session, org_id, "EUR", "USD", D(2024, 5, 9)).rate == Decimal("1.10")
    assert _conv(session, org_id, "EUR", "USD", D(2024, 5, 20)).rate == Decimal("1.30")


def test_no_rate_before_the_date(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.1", on=D(2024, 5, 10))
    with pytest.raises(CurrencyConversionError, match=r"EUR->USD on or before 2024-05-09"):
        _conv(session, org_id, "EUR", "USD", D(2024, 5, 9))


def test_stale_rate_is_refused_with_a_clear_message(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.1", on=D(2024, 1, 1))
    # Exactly max_age_days old is still usable ...
    ok = _conv(session, org_id, "EUR", "USD", D(2024, 2, 1), max_age_days=31)
    assert ok.rate == Decimal("1.1")
    # ... one day more is not.
    with pytest.raises(CurrencyConversionError) as caught:
        _conv(session, org_id, "EUR", "USD", D(2024, 2, 2), max_age_days=31)
    message = str(caught.value)
    assert "EUR->USD" in message
    assert "2024-02-02" in message
    assert "latest 2024-01-01" in message
    assert "older than 31 days" in message


def test_stale_leg_blocks_a_cross_rate(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.25", on=D(2024, 1, 1))
    factories.fx_rate(session, org_id, base="USD", quote="JPY", rate="150", on=D(2024, 6, 1))
    with pytest.raises(CurrencyConversionError, match="EUR->JPY"):
        _conv(session, org_id, "EUR", "JPY", D(2024, 6, 2))


def test_default_max_age_applies(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.1", on=D(2024, 1, 1))
    late = D(2024, 1, 1) + dt.timedelta(days=fx.DEFAULT_MAX_AGE_DAYS + 1)
    with pytest.raises(CurrencyConversionError, match="older than"):
        _conv(session, org_id, "EUR", "USD", late)


def test_same_currency_is_one_without_any_rate(session: Session, org_id: uuid.UUID) -> None:
    got = _conv(session, org_id, "usd", "USD", D(2024, 1, 1))
    assert got.rate == Decimal(1)
    assert isinstance(got.rate, Decimal)
    assert got.rate_dates == ()


def test_currency_codes_are_case_insensitive(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.1", on=D(2024, 1, 1))
    assert _conv(session, org_id, "eur", "usd", D(2024, 1, 1)).rate == Decimal("1.1")


def test_convert_price_keeps_decimal_and_unit(session: Session, org_id: uuid.UUID) -> None:
    factories.fx_rate(session, org_id, base="EUR", quote="USD", rate="1.0823", on=D(2024, 3, 1))
    price = Price(Decimal("12.50"), "EUR", "yd2")
    got = fx.convert_price(session, org_id=org_id, price=price, to_currency="usd", on=D(2024, 3, 1))
    assert got == Price(Decimal("13.52875"), "USD", "yd2")
    assert isinstance(got.amount, Decimal)
    assert str(got.amount) == "13.528750"


def test_rates_of_another_org_are_not_used(
    database: Database, session: Session, org_id: uuid.UUID
) -> None:
    other = make_org(database, prefix="fx-other")
    try:
        with database.session_scope(other) as theirs:
            factories.fx_rate(theirs, other, base="EUR", quote="USD", rate="9", on=D(2024, 3, 1))
        with pytest.raises(CurrencyConversionError):
            _conv(session, org_id, "EUR", "USD", D(2024, 3, 1))
        # Even naming the other org explicitly, this tenant's session cannot read its rates.
        with pytest.raises(CurrencyConversionError):
            _conv(session, other, "EUR", "USD", D(2024, 3, 1))
    finally:
        with database.owner_session() as owner:
            owner.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": other})
