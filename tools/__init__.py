"""The capabilities: one typed function per job, the single implementation every face calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tools.detect_anomalies import DetectAnomaliesInput, DetectAnomaliesOutput, detect_anomalies
from tools.forecast_price import ForecastPriceInput, ForecastPriceOutput, forecast_price
from tools.predict_price import PredictPriceInput, PredictPriceOutput, predict_price
from tools.price_history import PriceHistoryInput, PriceHistoryOutput, price_history
from tools.should_cost import ShouldCostInput, ShouldCostOutput, should_cost


@dataclass(frozen=True)
class ToolSpec:
    """A capability with its input and output models."""

    name: str
    function: Callable[..., Any]
    input_model: type[BaseModel]
    output_model: type[BaseModel]

    @property
    def description(self) -> str:
        """The docstring, written for the model that picks tools."""
        return (self.function.__doc__ or "").strip()


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("price_history", price_history, PriceHistoryInput, PriceHistoryOutput),
        ToolSpec("predict_price", predict_price, PredictPriceInput, PredictPriceOutput),
        ToolSpec("should_cost", should_cost, ShouldCostInput, ShouldCostOutput),
        ToolSpec("forecast_price", forecast_price, ForecastPriceInput, ForecastPriceOutput),
        ToolSpec("detect_anomalies", detect_anomalies, DetectAnomaliesInput, DetectAnomaliesOutput),
    )
}
"""Every capability by name (more arrive with the rest of the agent issue)."""
