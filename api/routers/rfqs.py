"""RFQs: list them, and read one with its lines and the quotes received."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import TenantDep
from api.pagination import Page, PageDep
from api.routers.quotes import QuoteSummary
from store import listing

router = APIRouter(prefix="/rfqs", tags=["rfqs"])


class RfqSummary(BaseModel):
    """An RFQ with its number of lines and of quotes received."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    title: str | None
    issued_date: dt.date | None
    source: str | None
    lines: int = Field(description="Requested lines.")
    quotes: int = Field(description="Quotes (bids) received.")


class RfqLineOut(BaseModel):
    """One requested item and quantity."""

    model_config = ConfigDict(from_attributes=True)

    line_code: str = Field(description="The line's code (`line` of compare and negotiation).")
    item_code: str
    item_name: str
    description: str | None
    quantity: Decimal | None
    unit: str | None
    bids: int = Field(description="Quote lines received for it.")


class RfqOut(BaseModel):
    """An RFQ with its lines and the quotes received on it."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    title: str | None
    issued_date: dt.date | None
    source: str | None
    attributes: dict[str, Any]
    lines: list[RfqLineOut]
    quotes: list[QuoteSummary] = Field(description="Quotes received, oldest first.")


@router.get("", summary="List RFQs")
def list_rfqs(
    tenant: TenantDep,
    page: PageDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Only RFQs whose code contains this.")
    ] = None,
    item: Annotated[
        str | None,
        Query(max_length=200, description="Only RFQs with a line for this item (code)."),
    ] = None,
    supplier: Annotated[
        str | None,
        Query(max_length=200, description="Only RFQs this supplier quoted on (code)."),
    ] = None,
    date_from: Annotated[dt.date | None, Query(description="Issued on or after this date.")] = None,
    date_to: Annotated[dt.date | None, Query(description="Issued on or before this date.")] = None,
) -> Page[RfqSummary]:
    """Return the organisation's RFQs, newest first, filtered by code, item, supplier and date."""
    rows, total = listing.list_rfqs(
        session=tenant.session,
        org_id=tenant.org_id,
        q=q,
        item=item,
        supplier=supplier,
        date_from=date_from,
        date_to=date_to,
        limit=page.limit,
        offset=page.offset,
    )
    return Page[RfqSummary].of([RfqSummary.model_validate(r) for r in rows], total, page)


# RFQ codes hold spaces ("B -43801-A") and may hold slashes in other systems: a ``path``
# parameter takes them URL-encoded.
@router.get("/{code:path}", summary="Get an RFQ with its lines and quotes")
def get_rfq(
    code: Annotated[
        str,
        Path(
            min_length=1,
            max_length=200,
            description="The RFQ's code, URL-encoded (case and spaces may differ).",
            examples=["B -43801-A"],
        ),
    ],
    tenant: TenantDep,
) -> RfqOut:
    """Return one RFQ: its requested lines (with the number of bids on each) and its quotes."""
    return RfqOut.model_validate(
        listing.get_rfq(session=tenant.session, org_id=tenant.org_id, code=code)
    )
