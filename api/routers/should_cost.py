"""Should-cost: what an item ought to cost, built up from its cost drivers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import ConfigDict

from api.deps import TenantDep
from tools.should_cost import ShouldCostInput, ShouldCostOutput, should_cost

router = APIRouter(prefix="/should-cost", tags=["should-cost"])

EXAMPLES: dict[str, Any] = {
    "rebar": {
        "summary": "Epoxy-coated rebar, 20,000 lb",
        "value": {"item": "703-06029", "quantity": "20000"},
    },
    "per_ton": {
        "summary": "The same item costed per ton",
        "value": {"item": "703-06029", "quantity": "10", "unit": "ton"},
    },
}


class ShouldCostRequest(ShouldCostInput):
    """The item and quantity to cost."""

    model_config = ConfigDict(extra="forbid")


@router.post("", summary="Build up the should-cost of an item")
def cost(
    body: Annotated[ShouldCostRequest, Body(openapi_examples=EXAMPLES)], tenant: TenantDep
) -> ShouldCostOutput:
    """Return the per-unit cost build-up and the total for the quantity.

    The item's category picks a cost template (material, conversion, labour, equipment,
    set-up, overhead, SG&A and margin); material prices move with their market indexes, and
    the template is calibrated on the organisation's past quotes unless `calibrated` is
    false. An item whose category has no template is a 422.
    """
    return tenant.run(should_cost, body)
