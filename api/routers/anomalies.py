"""Anomalies: quotes whose prices look wrong, with a severity and a reason each."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ConfigDict, Field

from api.deps import TenantDep
from api.inputs import MAX_ID
from tools.detect_anomalies import DetectAnomaliesInput, DetectAnomaliesOutput, detect_anomalies

router = APIRouter(prefix="/anomalies", tags=["anomalies"])

EXAMPLES: dict[str, Any] = {
    "rfq": {
        "summary": "Every bid on an RFQ, warnings and worse",
        "value": {"rfq": "B -43801-A", "min_severity": "warning"},
    },
    "supplier": {
        "summary": "A supplier's quotes of the last 90 days",
        "value": {"supplier": "MILESTONE CONTRACTORS, L.P.", "days": 90},
    },
}


class DetectAnomaliesRequest(DetectAnomaliesInput):
    """What to check: exactly one of a quote line, an RFQ, or a supplier."""

    model_config = ConfigDict(extra="forbid")

    quote_line_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="One quote line's id."
    )


@router.post("/detect", summary="Flag quotes whose prices look wrong")
def detect(
    body: Annotated[DetectAnomaliesRequest, Body(openapi_examples=EXAMPLES)], tenant: TenantDep
) -> DetectAnomaliesOutput:
    """Check a quote line, an RFQ's bids or a supplier's recent quotes for odd prices.

    A price is flagged when it falls outside the price model's 80% band, far from the other
    bids on the same RFQ line, far from the item's own recent prices, or as part of an
    unbalanced bid. Flagged lines come first, worst first.
    """
    return tenant.run(detect_anomalies, body)
