"""Units of measure: construction spellings resolve, conversions are exact Decimals."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import UnitConversionError
from core.money import Price
from store.units import UnitCatalog, alias_key


@pytest.fixture
def catalog(session: Session) -> UnitCatalog:
    return UnitCatalog.load(session)


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("S.Y.", "yd2"),
        ("SYS", "yd2"),
        ("s. y.", "yd2"),
        ("sys", "yd2"),
        ("SQ YD", "yd2"),
        ("C.Y.", "yd3"),
        ("c y", "yd3"),
        ("CYS", "yd3"),
        ("L.F.", "ft"),
        ("l.f.", "ft"),
        ("lin ft", "ft"),
        ("S.F.", "ft2"),
        ("TON", "ton"),
        ("tons", "ton"),
        ("LBS", "lb"),
        ("lbs", "lb"),
        ("EACH", "ea"),
        ("each", "ea"),
        ("L.S.", "ls"),
        ("l s", "ls"),
        ("Lump Sum", "ls"),
        (" GAL ", "gal"),
        ("M.B.F.", "mbf"),
        ("HR", "h"),
    ],
)
def test_construction_spellings_resolve(catalog: UnitCatalog, spelling: str, code: str) -> None:
    unit = catalog.resolve(spelling)
    assert unit is not None, spelling
    assert unit.code == code


@pytest.mark.parametrize("spelling", ["furlong", "S.Y.Z.", "", "   ", "CY2"])
def test_unknown_spellings_do_not_resolve(catalog: UnitCatalog, spelling: str) -> None:
    assert catalog.resolve(spelling) is None
    with pytest.raises(UnitConversionError, match="unknown unit"):
        catalog.get(spelling)


@pytest.mark.parametrize(
    ("from_unit", "to_unit", "factor"),
    [
        ("TON", "LBS", "2000"),
        ("lton", "lb", "2240"),
        ("cwt", "lb", "100"),
        ("lb", "oz", "16"),
        ("t", "kg", "1000"),
        ("S.Y.", "S.F.", "9"),
        ("C.Y.", "C.F.", "27"),
        ("yd", "L.F.", "3"),
        ("mi", "ft", "5280"),
        ("ft", "in", "12"),
        ("acre", "ft2", "43560"),
        ("sq", "ft2", "100"),
        ("gal", "in3", "231"),
        ("mbf", "bf", "1000"),
        ("bf", "in3", "144"),
        ("yd2", "m2", "0.83612736"),
        ("lb", "kg", "0.45359237"),
        ("dz", "EACH", "12"),
        ("wk", "h", "168"),
    ],
)
def test_factors_are_exact(catalog: UnitCatalog, from_unit: str, to_unit: str, factor: str) -> None:
    got = catalog.factor(from_unit, to_unit)
    assert isinstance(got, Decimal)
    assert got == Decimal(factor)


def test_metric_to_customary_is_precise(catalog: UnitCatalog) -> None:
    per_m2 = catalog.factor("m2", "S.Y.")
    assert isinstance(per_m2, Decimal)
    assert per_m2.quantize(Decimal("1e-15")) == Decimal("1.195990046301080")
    # And back again to within the context's 28 significant digits.
    assert abs(per_m2 * catalog.factor("yd2", "m2") - 1) < Decimal("1e-26")


def test_quantity_conversion_is_exact(catalog: UnitCatalog) -> None:
    assert catalog.convert_quantity(Decimal("1.5"), "TON", "LBS") == Decimal("3000")
    assert catalog.convert_quantity(Decimal("2"), "C.Y.", "ft3") == Decimal("54")


def test_price_per_ton_becomes_price_per_pound(catalog: UnitCatalog) -> None:
    per_lb = catalog.convert_price(Price(Decimal("90"), "USD", "TON"), "LBS")
    assert per_lb == Price(Decimal("0.045"), "USD", "lb")
    assert isinstance(per_lb.amount, Decimal)


def test_price_per_square_yard_becomes_price_per_square_foot(catalog: UnitCatalog) -> None:
    per_sf = catalog.convert_price(Price(Decimal("27.00"), "USD", "S.Y."), "SF")
    assert per_sf.amount == Decimal("3")
    assert per_sf.unit == "ft2"
    assert per_sf.currency == "USD"


@pytest.mark.parametrize(
    ("from_unit", "to_unit"),
    [
        ("TON", "C.Y."),
        ("C.Y.", "TON"),
        ("L.F.", "S.Y."),
        ("EACH", "TON"),
        ("h", "ea"),
        ("L.S.", "EACH"),
        ("EACH", "L.S."),
        ("L.S.", "S.Y."),
        ("TON", "L.S."),
    ],
)
def test_cross_dimension_conversion_is_refused(
    catalog: UnitCatalog, from_unit: str, to_unit: str
) -> None:
    with pytest.raises(UnitConversionError, match="cannot convert"):
        catalog.factor(from_unit, to_unit)
    with pytest.raises(UnitConversionError):
        catalog.convert_price(Price(Decimal("1"), "USD", from_unit), to_unit)


def test_unknown_unit_in_conversion_is_refused(catalog: UnitCatalog) -> None:
    with pytest.raises(UnitConversionError, match="'bushel'"):
        catalog.factor("bushel", "TON")
    with pytest.raises(UnitConversionError, match="'bushel'"):
        catalog.convert_price(Price(Decimal("1"), "USD", "TON"), "bushel")


def test_every_dimension_of_the_migration_has_units(session: Session, catalog: UnitCatalog) -> None:
    check = session.scalar(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'ck_units_dimension'"
        )
    )
    # Read the dimensions from the migrated CHECK constraint, not from a copy in the test.
    dimensions = set(re.findall(r"'([a-z_]+)'", check or ""))
    assert dimensions == {"mass", "length", "area", "volume", "count", "lump_sum", "time"}
    codes = {
        row.code: row.dimension
        for row in session.execute(text("SELECT code, dimension FROM units"))
    }
    for dimension in dimensions:
        units = [c for c, d in codes.items() if d == dimension]
        assert units, dimension
        # Each dimension has exactly one base unit, which every factor is relative to.
        bases = [c for c in units if catalog.get(c).to_base == 1]
        assert len(bases) == 1, (dimension, bases)


def test_stored_aliases_are_normalised_and_point_at_units(
    session: Session, catalog: UnitCatalog
) -> None:
    rows = session.execute(text("SELECT alias, unit_code FROM unit_aliases")).all()
    assert len(rows) > 100
    for alias, unit_code in rows:
        # A stored alias that is not in look-up form could never be matched.
        assert alias_key(alias) == alias, alias
        unit = catalog.resolve(alias)
        assert unit is not None
        assert unit.code == unit_code
