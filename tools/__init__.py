"""The capabilities: one typed function per job, the single implementation every face calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tools.check_price_increase import (
    CheckPriceIncreaseInput,
    CheckPriceIncreaseOutput,
    check_price_increase,
)
from tools.compare_quotes import CompareQuotesInput, CompareQuotesOutput, compare_quotes
from tools.counter_offer import CounterOfferDraft, DraftCounterOfferInput, draft_counter_offer
from tools.detect_anomalies import DetectAnomaliesInput, DetectAnomaliesOutput, detect_anomalies
from tools.erp_actions import ErpActionDraft
from tools.erp_contract_price import DraftContractPriceInput, draft_contract_price_update
from tools.erp_lookup import ErpLookupInput, ErpLookupOutput, erp_lookup
from tools.erp_requisition import DraftRequisitionInput, draft_requisition
from tools.forecast_price import ForecastPriceInput, ForecastPriceOutput, forecast_price
from tools.negotiation_advice import (
    NegotiationAdviceInput,
    NegotiationAdviceOutput,
    negotiation_advice,
)
from tools.predict_price import PredictPriceInput, PredictPriceOutput, predict_price
from tools.price_history import PriceHistoryInput, PriceHistoryOutput, price_history
from tools.search_items import SearchItemsInput, SearchItemsOutput, search_items
from tools.should_cost import ShouldCostInput, ShouldCostOutput, should_cost
from tools.supplier_scorecard import (
    SupplierScorecardInput,
    SupplierScorecardOutput,
    supplier_scorecard,
)


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
        ToolSpec("search_items", search_items, SearchItemsInput, SearchItemsOutput),
        ToolSpec("price_history", price_history, PriceHistoryInput, PriceHistoryOutput),
        ToolSpec("predict_price", predict_price, PredictPriceInput, PredictPriceOutput),
        ToolSpec("should_cost", should_cost, ShouldCostInput, ShouldCostOutput),
        ToolSpec("forecast_price", forecast_price, ForecastPriceInput, ForecastPriceOutput),
        ToolSpec("detect_anomalies", detect_anomalies, DetectAnomaliesInput, DetectAnomaliesOutput),
        ToolSpec("compare_quotes", compare_quotes, CompareQuotesInput, CompareQuotesOutput),
        ToolSpec(
            "check_price_increase",
            check_price_increase,
            CheckPriceIncreaseInput,
            CheckPriceIncreaseOutput,
        ),
        ToolSpec(
            "supplier_scorecard",
            supplier_scorecard,
            SupplierScorecardInput,
            SupplierScorecardOutput,
        ),
        ToolSpec("erp_lookup", erp_lookup, ErpLookupInput, ErpLookupOutput),
        ToolSpec(
            "negotiation_advice",
            negotiation_advice,
            NegotiationAdviceInput,
            NegotiationAdviceOutput,
        ),
        ToolSpec(
            "draft_counter_offer", draft_counter_offer, DraftCounterOfferInput, CounterOfferDraft
        ),
        ToolSpec("draft_requisition", draft_requisition, DraftRequisitionInput, ErpActionDraft),
        ToolSpec(
            "draft_contract_price_update",
            draft_contract_price_update,
            DraftContractPriceInput,
            ErpActionDraft,
        ),
    )
}
"""Every capability by name: the agent, the API and Slack all call these."""
