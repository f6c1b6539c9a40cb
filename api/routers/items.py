"""Items: search the catalogue, read one item, and its price history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import TenantDep
from api.inputs import tool_input
from store import listing
from tools.price_history import PriceHistoryInput, PriceHistoryOutput, price_history
from tools.search_items import SearchItemsInput, SearchItemsOutput, search_items

router = APIRouter(prefix="/items", tags=["items"])

# Item codes are free text in the item master (an ERP code may hold a slash), so the code
# is a ``path`` parameter; /price-history is declared first so that it stays routable.
CodePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="The item's code (URL-encoded), or its code in another system.",
        examples=["703-06029"],
    ),
]


class AliasOut(BaseModel):
    """The item's code in another system."""

    model_config = ConfigDict(from_attributes=True)

    system: str
    external_code: str


class ItemOut(BaseModel):
    """An item of the catalogue, its aliases, and how often it has been quoted."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    description: str | None
    category: str | None
    unit: str | None = Field(description="Unit the item is bought in.")
    attributes: dict[str, Any]
    aliases: list[AliasOut]
    quote_lines: int = Field(description="Quote lines for the item.")
    suppliers: int = Field(description="Suppliers that quoted it.")
    first_quote_date: dt.date | None
    last_quote_date: dt.date | None


@router.get("", summary="Search the item catalogue")
def search(
    tenant: TenantDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=500,
            description="The buyer's words for an item, an item code or part of one, or an "
            "ERP code.",
            examples=["epoxy rebar"],
        ),
    ],
    category: Annotated[
        str | None, Query(max_length=200, description="Only items of this category.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50, description="How many items to return.")] = 5,
) -> SearchItemsOutput:
    """Return the items that best match `q`, best first: exact codes, then text and meaning."""
    args = tool_input(SearchItemsInput, "query", query=q, category=category, limit=limit)
    return tenant.run(search_items, args)


@router.get("/{code:path}/price-history", summary="Get an item's price history")
def history(
    code: CodePath,
    tenant: TenantDep,
    unit: Annotated[
        str | None,
        Query(max_length=32, description="Unit to express prices in; default the item's."),
    ] = None,
    currency: Annotated[
        str, Query(pattern=r"^[A-Za-z]{3}$", description="ISO 4217 currency of the prices.")
    ] = "USD",
    since: Annotated[dt.date | None, Query(description="First date included.")] = None,
    until: Annotated[
        dt.date | None, Query(description="Last date included; default the as-of date.")
    ] = None,
    supplier: Annotated[
        str | None, Query(max_length=200, description="Only this supplier (code or name).")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=5000, description="Most recent price points returned.")
    ] = 200,
) -> PriceHistoryOutput:
    """Return the item's quoted and purchase prices over time, by supplier, in one unit and
    currency (each price converted at its own date's exchange rate)."""
    item = listing.get_item(session=tenant.session, org_id=tenant.org_id, code=code)
    args = tool_input(
        PriceHistoryInput,
        "query",
        item=item.code,
        unit=unit,
        currency=currency,
        since=since,
        until=until,
        supplier=supplier,
        limit=limit,
    )
    return tenant.run(price_history, args)


@router.get("/{code:path}", summary="Get an item")
def get_item(code: CodePath, tenant: TenantDep) -> ItemOut:
    """Return one item by its code (or its code in another system), with its aliases."""
    return ItemOut.model_validate(
        listing.get_item(session=tenant.session, org_id=tenant.org_id, code=code)
    )
