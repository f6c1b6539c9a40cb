"""Negotiation: opening offer, target and walk-away price, with the arguments for them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ConfigDict, Field

from api.deps import TenantDep
from api.inputs import MAX_ID
from tools.negotiation_advice import (
    NegotiationAdviceInput,
    NegotiationAdviceOutput,
    negotiation_advice,
)

router = APIRouter(prefix="/negotiation", tags=["negotiation"])

EXAMPLES: dict[str, Any] = {
    "rfq_line": {
        "summary": "Negotiate with a bidder on one RFQ line",
        "value": {"rfq": "B -43801-A", "line": "703-06029", "supplier": "E & B PAVING, INC."},
    },
    "item": {
        "summary": "An item and quantity with a known supplier",
        "value": {
            "item": "703-06029",
            "quantity": "20000",
            "supplier": "MILESTONE CONTRACTORS, L.P.",
        },
    },
}


class NegotiationAdviceRequest(NegotiationAdviceInput):
    """What to negotiate: exactly one of an item, an RFQ (and line), or a quote line."""

    model_config = ConfigDict(extra="forbid")

    quote_line_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="A quote line to answer."
    )


@router.post("/advice", summary="Advise how to negotiate a price")
def advise(
    body: Annotated[NegotiationAdviceRequest, Body(openapi_examples=EXAMPLES)],
    tenant: TenantDep,
) -> NegotiationAdviceOutput:
    """Return the opening offer, target and walk-away price, the BATNA and the talking points.

    Each number states the rule that produced it (model band, other bids, should-cost,
    history); leverage and talking points each cite a number; confidence says how much
    evidence there is.
    """
    return tenant.run(negotiation_advice, body)
