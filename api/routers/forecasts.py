"""Forecasts: where a market index or an item's price is heading."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ConfigDict

from api.deps import TenantDep
from tools.forecast_price import ForecastPriceInput, ForecastPriceOutput, forecast_price

router = APIRouter(prefix="/forecasts", tags=["forecasts"])

EXAMPLES: dict[str, Any] = {
    "index": {
        "summary": "A market index: BLS PPI for ready-mix concrete, 3 months",
        "value": {"series": "WPU1333", "horizon": 3},
    },
    "item": {
        "summary": "An item's quoted price: common excavation, 3 months",
        "value": {"item": "203-02000", "horizon": 3},
    },
}


class ForecastRequest(ForecastPriceInput):
    """What to forecast: an index series or an item, and how many months ahead."""

    model_config = ConfigDict(extra="forbid")


@router.post("", summary="Forecast an index or an item's price")
def forecast(
    body: Annotated[ForecastRequest, Body(openapi_examples=EXAMPLES)], tenant: TenantDep
) -> ForecastPriceOutput:
    """Return the monthly forecast with an 80% interval, and whether to buy now or wait.

    The model per series is the one that did best in a rolling backtest (random walk,
    seasonal naive, ETS or Prophet); an index uses the organisation's trained forecast model
    when it has one and is fitted on request otherwise.
    """
    return tenant.run(forecast_price, body)
