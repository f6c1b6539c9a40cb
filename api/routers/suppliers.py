"""Suppliers: list them, read one, and score it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import TenantDep
from api.inputs import tool_input
from api.pagination import Page, PageDep
from store import listing
from tools.supplier_scorecard import (
    SupplierScorecardInput,
    SupplierScorecardOutput,
    supplier_scorecard,
)

router = APIRouter(prefix="/suppliers", tags=["suppliers"])

# Supplier codes hold slashes (joint ventures: "WALSH/MILESTONE US 31 J/V"), so the code is
# a ``path`` parameter; /scorecard is declared first so that it stays routable.
CodePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="The supplier's code (URL-encoded; punctuation and legal form may differ).",
        examples=["MILESTONE CONTRACTORS, L.P."],
    ),
]


class SupplierSummary(BaseModel):
    """A supplier and when it quoted."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    country: str | None
    quotes: int = Field(description="Quotes (bids) received from it.")
    first_quote_date: dt.date | None
    last_quote_date: dt.date | None


class SupplierOut(SupplierSummary):
    """A supplier with its attributes and quoting activity."""

    attributes: dict[str, Any]
    quote_lines: int
    rfqs: int = Field(description="RFQs it quoted on.")
    items: int = Field(description="Distinct items it quoted.")


@router.get("", summary="List suppliers")
def list_suppliers(
    tenant: TenantDep,
    page: PageDep,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Only suppliers whose name or code contains this."),
    ] = None,
) -> Page[SupplierSummary]:
    """Return the organisation's suppliers ordered by code, optionally filtered by name."""
    rows, total = listing.list_suppliers(
        session=tenant.session, org_id=tenant.org_id, q=q, limit=page.limit, offset=page.offset
    )
    return Page[SupplierSummary].of([SupplierSummary.model_validate(r) for r in rows], total, page)


@router.get("/{code:path}/scorecard", summary="Score a supplier")
def scorecard(
    code: CodePath,
    tenant: TenantDep,
    item: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Only this item (code or description).",
            examples=["703-06029"],
        ),
    ] = None,
    category: Annotated[
        str | None, Query(max_length=200, description="Only items of this category.")
    ] = None,
    since: Annotated[
        dt.date | None,
        Query(description="First date included; default 24 months before `until`."),
    ] = None,
    until: Annotated[
        dt.date | None, Query(description="Last date included; default the as-of date.")
    ] = None,
    currency: Annotated[
        str, Query(pattern=r"^[A-Za-z]{3}$", description="Currency of the total quoted value.")
    ] = "USD",
) -> SupplierScorecardOutput:
    """Return the supplier's price competitiveness, win rate, volume, price volatility and
    delivery, with strengths and concerns that each cite a number."""
    supplier = listing.get_supplier(session=tenant.session, org_id=tenant.org_id, code=code)
    args = tool_input(
        SupplierScorecardInput,
        "query",
        supplier=supplier.code,
        item=item,
        category=category,
        since=since,
        until=until,
        currency=currency,
    )
    return tenant.run(supplier_scorecard, args)


@router.get("/{code:path}", summary="Get a supplier")
def get_supplier(code: CodePath, tenant: TenantDep) -> SupplierOut:
    """Return one supplier by its code, with its quoting activity."""
    return SupplierOut.model_validate(
        listing.get_supplier(session=tenant.session, org_id=tenant.org_id, code=code)
    )
