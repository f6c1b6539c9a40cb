"""Request parameters into a capability's input model, with the API's validation errors.

A tool's input model may check more than the route's parameters say (one field or the
other, not both). Built in a route, a failure would be a bare ``ValidationError``, a 500;
this turns it into the 422 problem+json every other invalid request gets.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

MAX_ID = 2**63 - 1
"""The largest row id (bigint); a larger number in a path or body is refused, not sent."""


def tool_input(model: type[M], source: Literal["query", "path"], **values: Any) -> M:
    """Build ``model`` from request parameters; a 422 naming the parameter if they are invalid."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": (source, *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None
