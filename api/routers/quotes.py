"""Quotes: level and compare bids, list quotes, read one quote with its lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import TenantDep
from api.inputs import MAX_ID
from api.pagination import Page, PageDep
from store import listing
from tools.base import Money
from tools.compare_quotes import CompareQuotesInput, CompareQuotesOutput, compare_quotes

router = APIRouter(prefix="/quotes", tags=["quotes"])

EXAMPLES: dict[str, Any] = {
    "rfq_line": {
        "summary": "One line of an RFQ in the store",
        "value": {"rfq": "B -43801-A", "line": "703-06029"},
    },
    "rfq": {
        "summary": "A whole RFQ: its largest lines and the whole bids",
        "value": {"rfq": "B -43801-A", "max_lines": 2},
    },
    "quotes": {
        "summary": "Quotes given here, for a quantity of an item",
        "value": {
            "item": "703-06029",
            "quantity": "8000",
            "quotes": [
                {
                    "supplier": "Acme Rebar",
                    "unit_price": "1.05",
                    "unit": "lb",
                    "incoterm": "DAP",
                    "payment_terms": "net 30",
                },
                {
                    "supplier": "Midwest Steel Supply",
                    "unit_price": "0.97",
                    "unit": "lb",
                    "incoterm": "FCA",
                    "freight": {"amount": "450"},
                    "payment_terms": "2/10 net 30",
                    "moq": "10000",
                },
            ],
        },
    },
}


class CompareQuotesRequest(CompareQuotesInput):
    """Which quotes to level: an RFQ's bids from the store, or quotes given here."""

    model_config = ConfigDict(extra="forbid")


class QuoteSummary(BaseModel):
    """A quote header: who quoted, on which RFQ, when, and its total."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The quote's id: GET /quotes/{id} for its lines.")
    supplier_code: str
    supplier_name: str
    rfq_code: str | None
    quote_date: dt.date
    currency: str
    source: str | None
    lines: int = Field(description="Quote lines.")
    total: Decimal = Field(
        description="Sum of quantity x unit price over the lines, in `currency`."
    )


class QuoteLineOut(BaseModel):
    """A quoted unit price for an item, with its terms."""

    id: int = Field(description="The quote line's id (detect_anomalies, negotiation advice).")
    rfq_line: str | None = Field(description="The RFQ line it answers.")
    item_code: str
    item_name: str
    description: str | None
    quantity: Decimal
    unit: str
    unit_price: Money = Field(description="Price per one `unit`, in the quote's currency.")
    line_total: Decimal = Field(description="quantity x unit price, in the quote's currency.")
    incoterm: str | None
    lead_time_days: int | None
    valid_until: dt.date | None
    awarded: bool | None
    attributes: dict[str, Any] = Field(description="What the source recorded besides.")


class QuoteOut(QuoteSummary):
    """A quote with its attributes and every line."""

    attributes: dict[str, Any]
    line_items: list[QuoteLineOut]

    @classmethod
    def of(cls, detail: listing.QuoteDetail) -> QuoteOut:
        """From the store's quote."""
        return cls(
            **QuoteSummary.model_validate(detail.quote).model_dump(),
            attributes=detail.attributes,
            line_items=[
                QuoteLineOut(
                    id=line.id,
                    rfq_line=line.rfq_line,
                    item_code=line.item_code,
                    item_name=line.item_name,
                    description=line.description,
                    quantity=line.quantity,
                    unit=line.unit,
                    unit_price=Money(
                        amount=line.unit_price, currency=line.currency, unit=line.unit
                    ),
                    line_total=line.quantity * line.unit_price,
                    incoterm=line.incoterm,
                    lead_time_days=line.lead_time_days,
                    valid_until=line.valid_until,
                    awarded=line.awarded,
                    attributes=line.attributes,
                )
                for line in detail.line_items
            ],
        )


@router.post("/compare", summary="Level quotes and recommend which to award")
def compare(
    body: Annotated[CompareQuotesRequest, Body(openapi_examples=EXAMPLES)], tenant: TenantDep
) -> CompareQuotesOutput:
    """Level an RFQ's bids (or quotes given here) on landed cost, flag outliers and recommend one.

    Give `rfq` (and optionally `line`, an RFQ line code or item code) to level bids from the
    store, or `quotes` with the `item` and `quantity` needed. Every quote is converted to one
    unit and currency, price breaks, minimum orders, Incoterm freight and payment terms are
    counted, and each quote is judged against the price model's band, the other quotes and the
    should-cost. Whole RFQs are also totalled per bidder (`bid_totals`).
    """
    return tenant.run(compare_quotes, body)


@router.get("", summary="List quotes")
def list_quotes(
    tenant: TenantDep,
    page: PageDep,
    rfq: Annotated[
        str | None,
        Query(
            max_length=200, description="Only quotes on this RFQ (code).", examples=["B -43801-A"]
        ),
    ] = None,
    supplier: Annotated[
        str | None,
        Query(max_length=200, description="Only this supplier's quotes (code)."),
    ] = None,
    item: Annotated[
        str | None,
        Query(max_length=200, description="Only quotes with a line for this item (code)."),
    ] = None,
    date_from: Annotated[dt.date | None, Query(description="Quoted on or after this date.")] = None,
    date_to: Annotated[dt.date | None, Query(description="Quoted on or before this date.")] = None,
) -> Page[QuoteSummary]:
    """Return the organisation's quotes, newest first, filtered by RFQ, supplier, item and date."""
    rows, total = listing.list_quotes(
        session=tenant.session,
        org_id=tenant.org_id,
        rfq=rfq,
        supplier=supplier,
        item=item,
        date_from=date_from,
        date_to=date_to,
        limit=page.limit,
        offset=page.offset,
    )
    return Page[QuoteSummary].of([QuoteSummary.model_validate(r) for r in rows], total, page)


@router.get("/{quote_id}", summary="Get a quote with its lines")
def get_quote(
    quote_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The quote's id.")],
    tenant: TenantDep,
) -> QuoteOut:
    """Return one quote: supplier, RFQ, date, currency, total and every line's unit price."""
    return QuoteOut.of(
        listing.get_quote(session=tenant.session, org_id=tenant.org_id, quote_id=quote_id)
    )
