"""price_history and predict_price on the real sample, checked against direct SQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from core.errors import NotFoundError, UnitConversionError
from tools import TOOLS
from tools.predict_price import PredictPriceInput, predict_price
from tools.price_history import PriceHistoryInput, price_history

REBAR = "703-06029"  # REINFORCING BARS, EPOXY COATED, quoted per LBS


def _sql_median(ctx, code: str) -> Decimal:
    return ctx.session.execute(
        text(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ql.unit_price)::numeric "
            "FROM quote_lines ql JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id "
            "WHERE i.code = :code"
        ),
        {"code": code},
    ).scalar_one()


def test_price_history_matches_sql(ctx):
    out = price_history(ctx, PriceHistoryInput(item=REBAR))
    count = ctx.session.execute(
        text(
            "SELECT count(*) FROM quote_lines ql JOIN items i ON i.id = ql.item_id "
            "AND i.org_id = ql.org_id WHERE i.code = :c"
        ),
        {"c": REBAR},
    ).scalar_one()
    assert out.count == count == 1715
    assert out.unit == "lb"
    assert out.median is not None
    assert out.median.amount == _sql_median(ctx, REBAR)
    assert isinstance(out.median.amount, Decimal)
    assert out.points[0].date >= out.points[-1].date
    assert sum(s.count for s in out.by_supplier) == out.count
    assert out.evidence[0].ids


def test_price_history_converts_units_exactly(ctx):
    per_lb = price_history(ctx, PriceHistoryInput(item=REBAR))
    per_ton = price_history(ctx, PriceHistoryInput(item=REBAR, unit="TON"))
    assert per_ton.unit == "ton"
    assert per_ton.median.amount == per_lb.median.amount * 2000
    with pytest.raises(UnitConversionError):
        price_history(ctx, PriceHistoryInput(item=REBAR, unit="C.Y."))


def test_price_history_filters_and_finds_items_by_words(ctx):
    dated = price_history(
        ctx,
        PriceHistoryInput(
            item="reinforcing bars epoxy coated",
            since=dt.date(2025, 1, 1),
            until=dt.date(2025, 6, 30),
        ),
    )
    assert dated.item_code == REBAR
    assert all(dt.date(2025, 1, 1) <= p.date <= dt.date(2025, 6, 30) for p in dated.points)
    one = price_history(ctx, PriceHistoryInput(item=REBAR, supplier=dated.by_supplier[0].supplier))
    assert {p.supplier for p in one.points} == {dated.by_supplier[0].supplier}
    with pytest.raises(NotFoundError):
        price_history(ctx, PriceHistoryInput(item="unobtainium flux capacitor"))


def test_price_history_skips_what_cannot_be_converted_and_says_so(ctx):
    out = price_history(ctx, PriceHistoryInput(item=REBAR, currency="EUR"))
    assert out.count == 0
    assert out.skipped
    assert "no exchange rate USD->EUR" in out.skipped[0]


def test_predict_price_band_is_ordered_and_traced_to_the_model(ctx):
    out = predict_price(ctx, PredictPriceInput(item=REBAR, quantity=Decimal(20000)))
    assert out.p10.amount <= out.p50.amount <= out.p90.amount
    assert out.p50.unit == "lb"
    assert out.p50.currency == "USD"
    assert out.model_version == 1
    # A sane band for epoxy-coated bar: the sample's median quote is 1.80 USD/lb.
    assert Decimal("0.5") < out.p50.amount < Decimal("5")
    assert out.drivers
    assert out.history_lines > 1000


def test_predict_price_in_another_unit_scales_exactly(ctx):
    per_lb = predict_price(ctx, PredictPriceInput(item=REBAR, quantity=Decimal(20000)))
    per_ton = predict_price(ctx, PredictPriceInput(item=REBAR, quantity=Decimal(10), unit="TON"))
    assert per_ton.p50.unit == "ton"
    assert abs(per_ton.p50.amount - per_lb.p50.amount * 2000) <= Decimal("0.01")


def test_quantity_matters(ctx):
    small = predict_price(ctx, PredictPriceInput(item=REBAR, quantity=Decimal(200)))
    large = predict_price(ctx, PredictPriceInput(item=REBAR, quantity=Decimal(200000)))
    assert small.p50.amount > large.p50.amount


def test_registry_lists_typed_tools_with_model_facing_docs():
    assert {"price_history", "predict_price"} <= set(TOOLS)
    for spec in TOOLS.values():
        assert spec.description
        assert spec.input_model.model_json_schema()["properties"]
