"""Pages of a list: ``limit``/``offset`` query parameters in, ``Page[T]`` out.

Every list endpoint orders by a key that ends in the row id, so the pages of one listing
never overlap or skip a row while the data stands still.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from api.deps import ServicesDep

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_OFFSET = 1_000_000_000
"""Past any real listing; keeps the number inside what the database takes as a bigint."""


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total and where the next page starts."""

    items: list[T]
    total: int = Field(description="Rows matching the filters, over all pages.")
    limit: int = Field(description="Most rows this page could hold.")
    offset: int = Field(description="Rows skipped before this page.")
    next_offset: int | None = Field(
        description="The `offset` of the next page; null on the last page."
    )

    @classmethod
    def of(cls, items: Sequence[T], total: int, page: PageParams) -> Page[T]:
        """Build a page from its rows and the total the filters match."""
        end = page.offset + len(items)
        return cls(
            items=list(items),
            total=total,
            limit=page.limit,
            offset=page.offset,
            next_offset=end if items and end < total else None,
        )


@dataclass(frozen=True, slots=True)
class PageParams:
    """Which slice of a list the caller asked for."""

    limit: int
    offset: int


def page_params(
    svc: ServicesDep,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            description=f"Rows per page (default {DEFAULT_LIMIT}; at most the service's "
            "page_max, 500 unless configured).",
        ),
    ] = None,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip: the previous `next_offset`.")
    ] = 0,
) -> PageParams:
    """Read ``limit`` and ``offset``; a limit above the service's page_max is a 422."""
    page_max = svc.api.page_max
    if limit is None:
        limit = min(DEFAULT_LIMIT, page_max)
    elif limit > page_max:
        # The maximum is a setting, so it is checked here rather than in the schema.
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("query", "limit"),
                    "msg": f"Input should be less than or equal to {page_max}",
                    "input": limit,
                    "ctx": {"le": page_max},
                }
            ]
        )
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]
