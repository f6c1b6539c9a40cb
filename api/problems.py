"""Errors at the HTTP edge: every failure becomes RFC 9457 problem+json.

Domain errors (``core.errors``) keep their status and message. Validation errors name the
field. Anything else is a bug: it is logged with its traceback and answered with a plain
500 that leaks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    AuthenticationError,
    PricingAgentError,
    StoreUnavailableError,
)

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://pricing-agent.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class RateLimitedError(PricingAgentError):
    """A key sent more requests than its rate allows."""

    title = "Too many requests"
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _slug(title: str) -> str:
    return "-".join(title.lower().split())


def problem_body(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The members of a problem document (RFC 9457)."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + _slug(title),
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return body


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build a problem+json response."""
    if instance:
        extra["instance"] = instance
    body = problem_body(status, title, detail, **extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: Sequence[Any]) -> str:
    # ("body", "lines", 3, "quantity") -> "lines[3].quantity"; the source goes separately.
    parts = list(loc[1:]) if loc and loc[0] in {"body", "query", "path", "header"} else loc
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or (str(loc[0]) if loc else "request")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc = error.get("loc", ())
        errors.append(
            {
                "field": _field(loc),
                "in": loc[0] if loc else "body",
                "message": error.get("msg", "invalid"),
            }
        )
    return errors


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(PricingAgentError)
    async def _domain(request: Request, exc: PricingAgentError) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(exc, AuthenticationError):
            headers["WWW-Authenticate"] = 'Bearer realm="pricing-agent"'
        if isinstance(exc, RateLimitedError):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, StoreUnavailableError):
            headers["Retry-After"] = "5"
            log.warning("store unavailable: %s", exc.message)
        status = exc.http_status
        if status >= 500 and not isinstance(exc, StoreUnavailableError):
            log.error("%s on %s: %s", type(exc).__name__, request.url.path, exc.message)
        return problem(
            status, exc.title, exc.message, instance=request.url.path, headers=headers or None
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem(422, "Invalid input", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {
            404: "Not found",
            405: "Method not allowed",
            413: "Request too large",
            415: "Unsupported media type",
        }
        title = titles.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        return problem(
            exc.status_code,
            title,
            detail,
            instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500,
            "Internal error",
            "the service failed on this request; it has been logged",
            instance=request.url.path,
        )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {
            MEDIA_TYPE: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                        "errors": {"type": "array", "items": {"type": "object"}},
                    },
                    "required": ["type", "title", "status", "detail"],
                }
            }
        },
    }
    for status, description in {
        401: "No valid API key.",
        403: "The key's role may not do this.",
        404: "Not found in the caller's organisation.",
        409: "Conflicts with the current state.",
        413: "Request body too large.",
        422: "Invalid input; `errors` names each field.",
        429: "Rate limit exceeded; see Retry-After.",
        503: "The store is unavailable; retry after Retry-After seconds.",
    }.items()
}
"""Documented on every route so clients (and schemathesis) know the error shape."""
