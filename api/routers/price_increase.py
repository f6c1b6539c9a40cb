"""Price increases: is a supplier's request to raise a price justified?"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ConfigDict

from api.deps import TenantDep
from tools.check_price_increase import (
    CheckPriceIncreaseInput,
    CheckPriceIncreaseOutput,
    check_price_increase,
)

router = APIRouter(prefix="/price-increase", tags=["price increases"])

EXAMPLES: dict[str, Any] = {
    "percent": {
        "summary": "A supplier asks for +8% on epoxy-coated rebar",
        "value": {
            "supplier": "MILESTONE CONTRACTORS, L.P.",
            "item": "703-06029",
            "requested_increase_pct": "8",
        },
    },
    "new_price": {
        "summary": "A supplier quotes a new unit price",
        "value": {
            "supplier": "MILESTONE CONTRACTORS, L.P.",
            "item": "703-06029",
            "new_unit_price": "1.45",
            "currency": "USD",
            "unit": "lb",
        },
    },
}


class CheckPriceIncreaseRequest(CheckPriceIncreaseInput):
    """The supplier, the item, and the increase asked for (percent or new price)."""

    model_config = ConfigDict(extra="forbid")


@router.post("/check", summary="Judge a supplier's price increase request")
def check(
    body: Annotated[CheckPriceIncreaseRequest, Body(openapi_examples=EXAMPLES)],
    tenant: TenantDep,
) -> CheckPriceIncreaseOutput:
    """Split a requested increase into what the market index and currency explain and the rest.

    The last price paid, agreed or quoted is compared with the movement of the item's
    market index (weighted by its material share) and of the exchange rate since; the
    verdict is justified, partly justified or not justified, with a counter-proposal.
    """
    return tenant.run(check_price_increase, body)
