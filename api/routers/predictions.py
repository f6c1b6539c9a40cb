"""Fair-price predictions: one line, or a batch of up to 10,000."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import TenantDep
from tools.base import EARLIEST_DATE, LATEST_DATE
from tools.predict_price import (
    MAX_BATCH_LINES,
    Driver,
    LineError,
    PredictPriceInput,
    PredictPriceOutput,
    PredictPricesInput,
    predict_price,
    predict_prices,
)

router = APIRouter(prefix="/predictions", tags=["predictions"])


class PriceLine(BaseModel):
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
    date: dt.date | None = Field(
        default=None,
        ge=EARLIEST_DATE,
        le=LATEST_DATE,
        description="Quote date; default the as-of date.",
    )
    currency: str = Field(
        default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of the answer."
    )

    def tool_input(self) -> PredictPriceInput:
        """The capability's input."""
        return PredictPriceInput(**self.model_dump(exclude={"explain"}))


class PriceRequest(PriceLine):
    """One line to price, and whether to explain the price."""

    model_config = ConfigDict(extra="forbid")

    explain: bool = Field(
        default=False,
        description="Add the drivers that move the price (about 7 ms more CPU for a line "
        "not seen before); the band is the same either way.",
    )


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


class BatchRequest(BaseModel):
    """Up to 10,000 lines to price in one call."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "lines": [
                        {"item": "703-06029", "quantity": 5000},
                        {"item": "203-02000", "quantity": 1080, "unit": "cyd"},
                        {"item": "NO-SUCH-ITEM", "quantity": 1},
                    ]
                }
            ]
        },
    )

    lines: list[PriceLine] = Field(min_length=1, max_length=MAX_BATCH_LINES)
    explain: bool = Field(default=False, description="Add each line's drivers (slower).")


class BatchResult(BaseModel):
    """One line's outcome, by its position in the request."""

    index: int
    prediction: PricePrediction | None = None
    error: LineError | None = None


class BatchResponse(BaseModel):
    """One result per line, in request order; a line that cannot be priced has an error."""

    results: list[BatchResult]
    priced: int
    failed: int
    model_version: int


@router.post("/price", summary="Predict the fair price of one line")
def predict_one(body: PriceRequest, tenant: TenantDep) -> PricePrediction:
    """Return the P10/P50/P90 unit price for an item, quantity, supplier and date."""
    out = tenant.run(predict_price, body.tool_input(), explain=body.explain)
    return PricePrediction.of(out)


@router.post("/batch", summary="Predict the fair price of up to 10,000 lines")
def predict_batch(body: BatchRequest, tenant: TenantDep) -> BatchResponse:
    """Price every line; a line that cannot be priced gets its own error, the rest are priced."""
    out = tenant.run(
        predict_prices,
        PredictPricesInput(lines=[line.tool_input() for line in body.lines], explain=body.explain),
    )
    return BatchResponse(
        results=[
            BatchResult(
                index=r.index,
                prediction=PricePrediction.of(r.prediction) if r.prediction else None,
                error=r.error,
            )
            for r in out.results
        ],
        priced=out.priced,
        failed=out.failed,
        model_version=out.model_version,
    )
