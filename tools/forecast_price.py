"""forecast_price: where an index or an item's price is heading, and whether to buy now."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from core.errors import InvalidInputError
from ml.forecasting import Forecaster, buy_signal, fit_forecaster
from store import history, registry
from store.models import IndexSeries
from tools.base import Evidence, ToolContext
from tools.items import resolve_item
from tools.training import FORECAST_FORMAT, item_price_series

# Item price series are short (a few years of quotes): backtest on what there is.
ITEM_MIN_TRAIN = 24
ITEM_ORIGINS = 6


class ForecastPriceInput(BaseModel):
    """What to forecast: a market index series, or an item's quoted price."""

    series: str | None = Field(default=None, description="Index series code, e.g. WPU101704.")
    item: str | None = Field(default=None, description="Item code or description.")
    horizon: int = Field(default=3, ge=1, le=12, description="Months ahead.")

    @model_validator(mode="after")
    def _one_target(self) -> ForecastPriceInput:
        if (self.series is None) == (self.item is None):
            raise ValueError("give either series or item")
        return self


class ForecastPoint(BaseModel):
    """One forecast month with its 80% interval."""

    date: dt.date
    expected: Decimal
    low: Decimal
    high: Decimal


class ForecastPriceOutput(BaseModel):
    """The forecast, the model that made it, and a plain reading."""

    target: str
    kind: Literal["index", "item"]
    unit: str
    model: str
    last_date: dt.date
    last_value: Decimal
    points: list[ForecastPoint]
    direction: Literal["rise", "fall", "flat"]
    reading: str = Field(description="Buy-now-or-wait reading in one sentence.")
    backtest_mase: float | None = Field(description="The chosen model's backtest MASE.")
    evidence: list[Evidence]


def _decimal(value: object) -> Decimal:
    return Decimal(repr(round(float(value), 4)))  # type: ignore[arg-type]


def _index_forecaster(ctx: ToolContext, code: str, horizon: int) -> tuple[Forecaster, str]:
    active = registry.active(session=ctx.session, org_id=ctx.org_id, kind="forecast")
    if active is not None and active.artifact_format == FORECAST_FORMAT:
        stored = json.loads(active.artifact)["forecasters"].get(code)
        if stored is not None:
            return Forecaster.from_json(stored), f"forecast model v{active.version}"
    obs = history.index_observations(session=ctx.session, org_id=ctx.org_id, codes=[code])
    if obs.empty:
        raise InvalidInputError(f"no index series {code!r} in the store")
    series = obs.set_index("obs_date")["value"].astype(float).sort_index()
    return fit_forecaster(series, horizon=horizon), "fitted on request (not in the registry)"


def forecast_price(ctx: ToolContext, args: ForecastPriceInput) -> ForecastPriceOutput:
    """Forecast a market index or an item's price 1-12 months ahead, with an 80% interval.

    Use it for "will steel be cheaper in three months?", "should we buy now or wait?". The
    model per series is the one that did best in a rolling backtest (random walk, seasonal
    naive, ETS or Prophet); the reading says rise, fall, or within noise.
    """
    if args.series:
        code = args.series.strip()
        forecaster, source = _index_forecaster(ctx, code, args.horizon)
        series_row = ctx.session.scalar(
            select(IndexSeries).where(IndexSeries.org_id == ctx.org_id, IndexSeries.code == code)
        )
        unit = (series_row.unit if series_row and series_row.unit else "index points") or ""
        kind: Literal["index", "item"] = "index"
        target = code
    else:
        item = resolve_item(ctx, args.item or "")
        frame = history.quote_history(session=ctx.session, org_id=ctx.org_id, until=ctx.as_of)
        series = item_price_series(frame, item.code)
        forecaster = fit_forecaster(
            series, horizon=args.horizon, origins=ITEM_ORIGINS, min_train=ITEM_MIN_TRAIN
        )
        source = "fitted on request from the item's monthly median quote"
        unit = f"USD/{item.unit}" if item.unit else "USD"
        kind, target = "item", item.code
    frame_out = forecaster.forecast(args.horizon)
    reading = buy_signal(frame_out, forecaster.last_value)
    scores = forecaster.backtest.metrics if forecaster.backtest is not None else None
    mase = (
        float(scores["mase"].astype(float)[forecaster.model_name])
        if scores is not None and forecaster.model_name in scores.index
        else None
    )
    return ForecastPriceOutput(
        target=target,
        kind=kind,
        unit=unit,
        model=forecaster.model_name,
        last_date=forecaster.last_date.date(),
        last_value=_decimal(forecaster.last_value),
        points=[
            ForecastPoint(
                date=pd.Timestamp(str(day)).date(),
                expected=_decimal(mean),
                low=_decimal(low),
                high=_decimal(high),
            )
            for day, mean, low, high in zip(
                frame_out["date"].tolist(),
                frame_out["mean"].tolist(),
                frame_out["lower"].tolist(),
                frame_out["upper"].tolist(),
                strict=True,
            )
        ],
        direction=reading["direction"],
        reading=reading["summary"],
        backtest_mase=mase,
        evidence=[Evidence(kind="model", detail=f"{forecaster.model_name}, {source}")],
    )
