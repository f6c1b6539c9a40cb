"""forecast_price and should_cost on the real sample."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from core.errors import InvalidInputError
from tools.forecast_price import ForecastPriceInput, forecast_price
from tools.should_cost import ShouldCostInput, should_cost

REBAR = "703-06029"


def test_index_forecast_with_interval_and_reading(ctx):
    out = forecast_price(ctx, ForecastPriceInput(series="WPU1333", horizon=3))
    assert out.kind == "index"
    assert len(out.points) == 3
    assert all(p.low <= p.expected <= p.high for p in out.points)
    assert out.last_date.isoformat() == "2023-11-01"  # the sample's last observation
    assert out.points[0].date.isoformat() == "2023-12-01"
    assert out.direction in {"rise", "fall", "flat"}
    assert "%" in out.reading
    assert out.model in {"random_walk", "seasonal_naive", "ets", "prophet"}


def test_item_forecast_from_its_monthly_median(ctx):
    out = forecast_price(ctx, ForecastPriceInput(item="203-02000", horizon=2))
    assert out.kind == "item"
    assert out.unit == "USD/yd3"
    assert len(out.points) == 2


def test_forecast_needs_exactly_one_target():
    with pytest.raises(ValidationError):
        ForecastPriceInput(horizon=3)
    with pytest.raises(ValidationError):
        ForecastPriceInput(series="X", item="Y")


def test_should_cost_lines_sum_exactly_and_scale_with_units(ctx):
    out = should_cost(ctx, ShouldCostInput(item=REBAR, quantity=Decimal(20000)))
    assert out.template == "rebar"
    assert out.unit == "lb"
    assert sum(line.amount.amount for line in out.lines) == out.unit_total.amount
    assert out.total == out.unit_total.amount * Decimal(20000)
    assert "calibrated on" in out.calibration
    assert all(line.source for line in out.lines)
    per_ton = should_cost(ctx, ShouldCostInput(item=REBAR, quantity=Decimal(10), unit="TON"))
    assert per_ton.unit_total.unit == "ton"
    assert per_ton.unit_total.amount == out.unit_total.amount * 2000


def test_should_cost_refuses_items_without_a_template(ctx):
    with pytest.raises(InvalidInputError, match="no should-cost template"):
        should_cost(ctx, ShouldCostInput(item="203-02000", quantity=Decimal(100)))
