"""Fair-price predictions: one line, or a batch of up to 10,000."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import TenantDep
from tools.predict_price import Driver, PredictPriceInput, PredictPriceOutput, predict_price

router = APIRouter(prefix="/predictions", tags=["predictions"])


class PriceRequest(BaseModel):
    """One line to price."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"item": "703-06029", "quantity": 5000, "unit": "lb", "supplier": None}]
        },
    )

    item: str = Field(
        min_length=1,
        max_length=200,
        description="Item code, another system's code for it, or a description.",
    )
    quantity: Decimal | None = Field(
        default=None,
        gt=0,
        le=Decimal("1e12"),
        description="Quantity in `unit`; default the item's median quoted quantity.",
    )
    unit: str | None = Field(
        default=None, max_length=32, description="Unit of the quantity and the answer."
    )
    supplier: str | None = Field(
        default=None, max_length=200, description="Supplier code or name, if known."
    )
    date: dt.date | None = Field(default=None, description="Quote date; default the as-of date.")
    currency: str = Field(
        default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of the answer."
    )

    def tool_input(self) -> PredictPriceInput:
        """The capability's input."""
        return PredictPriceInput(**self.model_dump())


class PricePrediction(BaseModel):
    """The fair-price band per unit: 80% of real quotes fell inside P10–P90 in testing."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "item": "703-06029",
                    "item_name": "REINFORCING BARS, EPOXY COATED",
                    "quantity": "5000",
                    "p10": "0.9800",
                    "p50": "1.1400",
                    "p90": "1.3900",
                    "currency": "USD",
                    "unit": "lb",
                    "model_version": 3,
                    "history_lines": 1212,
                    "drivers": [],
                }
            ]
        }
    )

    item: str
    item_name: str
    quantity: Decimal
    p10: Decimal
    p50: Decimal
    p90: Decimal
    currency: str
    unit: str
    model_version: int
    history_lines: int = Field(description="Earlier quote lines of the item the model drew on.")
    drivers: list[Driver]

    @classmethod
    def of(cls, out: PredictPriceOutput) -> PricePrediction:
        """From the capability's output."""
        return cls(
            item=out.item_code,
            item_name=out.item_name,
            quantity=out.quantity,
            p10=out.p10.amount,
            p50=out.p50.amount,
            p90=out.p90.amount,
            currency=out.p50.currency,
            unit=out.p50.unit,
            model_version=out.model_version,
            history_lines=out.history_lines,
            drivers=out.drivers,
        )


@router.post("/price", summary="Predict the fair price of one line")
def predict_one(body: PriceRequest, tenant: TenantDep) -> PricePrediction:
    """Return the P10/P50/P90 unit price for an item, quantity, supplier and date."""
    return PricePrediction.of(tenant.run(predict_price, body.tool_input()))
