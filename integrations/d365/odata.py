"""A small OData v4 client for Dynamics 365: paging, filters, retries and exact decimals."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import random
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urljoin

import httpx

from core.errors import (
    AuthenticationError,
    ExternalServiceError,
    NotFoundError,
    PermissionDeniedError,
    WriteOutcomeUnknownError,
)

ENUM_NAMESPACE = "Microsoft.Dynamics.DataEntities"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_STATUSES_UNPROCESSED = frozenset({429})


class TokenSource(Protocol):
    """What the client needs from the sign-in: a token, and a way to drop a refused one."""

    def token(self) -> str:
        """Return a bearer token."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget a token the service refused."""
        ...


def string_literal(value: str) -> str:
    """Quote a string for a $filter, doubling embedded quotes."""
    return "'" + value.replace("'", "''") + "'"


def enum_literal(enum_type: str, member: str) -> str:
    """Spell a D365 enum value, e.g. ``Microsoft.Dynamics.DataEntities.PurchStatus'Backorder'``."""
    return f"{ENUM_NAMESPACE}.{enum_type}{string_literal(member)}"


def datetime_literal(value: dt.datetime | dt.date) -> str:
    """Spell a DateTimeOffset literal, unquoted and in UTC: ``2024-01-01T00:00:00Z``."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # a naive watermark is taken as UTC
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_predicate(key: Mapping[str, str | int | Decimal]) -> str:
    """Spell an entity key, e.g. ``(dataAreaId='usmf',PurchaseOrderNumber='00001')``."""
    parts = []
    for name, value in key.items():
        literal = string_literal(value) if isinstance(value, str) else str(value)
        parts.append(f"{name}={literal}")
    return "(" + ",".join(parts) + ")"


def company_filter(companies: Sequence[str]) -> str | None:
    """A $filter clause restricting to the given dataAreaIds (None for every company)."""
    if not companies:
        return None
    clauses = [f"dataAreaId eq {string_literal(company)}" for company in companies]
    return clauses[0] if len(clauses) == 1 else "(" + " or ".join(clauses) + ")"


def and_filters(*clauses: str | None) -> str | None:
    """Join the present clauses with ``and``."""
    present = [clause for clause in clauses if clause]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return " and ".join(f"({clause})" for clause in present)


def parse_json(content: bytes) -> Any:
    """Parse a body keeping every non-integer number as an exact ``Decimal``."""
    return json.loads(content, parse_float=Decimal)


class ODataClient:
    """GETs with paging, POST and PATCH against ``<resource_url>/data``, with a bearer token.

    Retries 429, 5xx and transport errors with capped exponential backoff (honouring
    Retry-After); a 401 drops the token and retries once with a fresh one.
    """

    def __init__(
        self,
        *,
        service_root: str,
        tokens: TokenSource,
        page_size: int = 1000,
        timeout_seconds: float = 60.0,
        max_retries: int = 4,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 30.0,
        verify: ssl.SSLContext | bool = True,
        trust_env: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._root = service_root.rstrip("/")
        self._tokens = tokens
        self._page_size = page_size
        self._max_retries = max_retries
        self._backoff_base = backoff_base_seconds
        self._backoff_cap = backoff_cap_seconds
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=timeout_seconds, verify=verify, trust_env=trust_env, transport=transport
        )

    def url(self, entity_set: str, query: Mapping[str, str] | None = None) -> str:
        """The URL of an entity set (or a key path) with an encoded query."""
        url = f"{self._root}/{entity_set}"
        if query:
            # OData wants $ and , and ' readable; spaces as %20, not +.
            url += "?" + urlencode(query, safe="$,'()", quote_via=quote)
        return url

    def iterate(
        self,
        entity_set: str,
        *,
        filter: str | None = None,  # the OData option's name
        select: Sequence[str] | None = None,
        cross_company: bool = False,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every row of an entity set, following @odata.nextLink until it is absent."""
        query: dict[str, str] = {}
        if cross_company:
            query["cross-company"] = "true"
        if filter:
            query["$filter"] = filter
        if select:
            query["$select"] = ",".join(select)
        headers = {"Prefer": f"odata.maxpagesize={page_size or self._page_size}"}
        next_url: str | None = self.url(entity_set, query)
        while next_url is not None:
            body = self._request("GET", next_url, headers=headers)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise ExternalServiceError(
                    f"Dynamics 365 {entity_set}: answer is not an OData collection"
                )
            for row in body["value"]:
                if isinstance(row, dict):
                    yield row
            link = body.get("@odata.nextLink")
            # D365 sends an absolute nextLink; resolve a relative one against the page's URL.
            next_url = urljoin(next_url, str(link)) if link else None
            if next_url is not None and httpx.URL(next_url).host != httpx.URL(self._root).host:
                # The bearer token goes only to the service it was issued for.
                raise ExternalServiceError(
                    f"Dynamics 365 {entity_set}: nextLink points to another host"
                )

    def get(self, entity_set: str, query: Mapping[str, str] | None = None) -> Any:
        """GET one resource and return its parsed body."""
        return self._request("GET", self.url(entity_set, query))

    def post(self, entity_set: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Create an entity and return what the service answered (the created row)."""
        prefer = {"Prefer": "return=representation"}
        body = self._request("POST", self.url(entity_set), json_body=payload, headers=prefer)
        return body if isinstance(body, dict) else {}

    def patch(
        self, entity_set: str, key: Mapping[str, str | int | Decimal], payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Update an entity by key; return the answered row, or ``{}`` for 204 No Content."""
        body = self._request("PATCH", self.url(entity_set + key_predicate(key)), json_body=payload)
        return body if isinstance(body, dict) else {}

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    # -- the request loop -------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        content = None
        all_headers = {"Accept": "application/json", "OData-Version": "4.0", **(headers or {})}
        if json_body is not None:
            # Decimals go on the wire as JSON numbers, exactly as written.
            content = _dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        # GET and PATCH (a full set of new values) can be repeated; a POST only when the
        # service says it did not process it (429).
        idempotent = method in {"GET", "PATCH"}
        refreshed = False
        attempt = 0
        while True:
            token = self._tokens.token()
            all_headers["Authorization"] = f"Bearer {token}"
            try:
                response = self._client.request(method, url, content=content, headers=all_headers)
            except httpx.TransportError as exc:
                # A POST that may have reached the service is not repeated (no duplicates);
                # one that never connected is safe to send again.
                unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt >= self._max_retries or not (idempotent or unsent):
                    failure = WriteOutcomeUnknownError if not unsent else ExternalServiceError
                    raise failure(
                        f"Dynamics 365 unreachable: {method} {_path(url)} "
                        f"({type(exc).__name__}: {str(exc)[:200]}) after {attempt + 1} attempts"
                        + ("" if unsent else "; the write may or may not have been applied")
                    ) from None
                self._sleep(self._backoff(attempt, None))
                attempt += 1
                continue
            if response.status_code == 401 and not refreshed:
                # The token expired or was revoked mid-run: get a new one, once.
                self._tokens.invalidate(token)
                refreshed = True
                continue
            retryable = _RETRY_STATUSES if idempotent else _RETRY_STATUSES_UNPROCESSED
            if response.status_code in retryable and attempt < self._max_retries:
                self._sleep(self._backoff(attempt, response.headers.get("Retry-After")))
                attempt += 1
                continue
            if response.is_success:
                if response.status_code == 204 or not response.content:
                    return None
                try:
                    return parse_json(response.content)
                except ValueError:
                    raise ExternalServiceError(
                        f"Dynamics 365 {method} {_path(url)}: answer is not JSON"
                    ) from None
            raise _error(method, url, response, attempts=attempt + 1)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        waited = _retry_after_seconds(retry_after)
        if waited is None:
            # Full jitter keeps many workers from retrying in step.
            waited = self._backoff_base * (2**attempt) * (0.5 + random.random() / 2)
        return max(0.0, min(waited, self._backoff_cap))


def _dumps(payload: Mapping[str, Any]) -> str:
    """JSON text in which every Decimal is written as its exact number, never via float."""
    numbers: dict[str, str] = {}

    def prepare(value: Any) -> Any:
        if isinstance(value, Decimal):
            marker = f"\x00num{len(numbers)}\x00"
            numbers[marker] = format(value, "f")
            return marker
        if isinstance(value, dt.datetime | dt.date):
            return datetime_literal(value)
        if isinstance(value, Mapping):
            return {str(key): prepare(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [prepare(item) for item in value]
        return value

    text = json.dumps(prepare(payload), ensure_ascii=False)
    for marker, number in numbers.items():
        text = text.replace(json.dumps(marker, ensure_ascii=False), number)
    return text


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _path(url: str) -> str:
    # Errors name the path, not the query (filters can be long) and never a token.
    return httpx.URL(url).path


def _error(method: str, url: str, response: httpx.Response, *, attempts: int) -> Exception:
    code, message = _odata_error(response)
    status = response.status_code
    where = f"Dynamics 365 {method} {_path(url)}"
    detail = f"{status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status == 401:
        return AuthenticationError(f"{where} refused the token even after a refresh ({detail})")
    if status == 403:
        return PermissionDeniedError(f"{where}: the app registration lacks access ({detail})")
    if status == 404:
        return NotFoundError(f"{where}: not found ({detail})")
    if method == "POST" and status in {502, 504}:
        # A gateway timed out or failed in front of a POST: it may have been processed.
        return WriteOutcomeUnknownError(
            f"{where} failed ({detail}); the write may or may not have been applied"
        )
    if status in _RETRY_STATUSES:
        return ExternalServiceError(f"{where} still failing after {attempts} attempts ({detail})")
    return ExternalServiceError(f"{where} failed ({detail})")


def _odata_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = json.loads(response.content)
    except ValueError:
        text = response.text.strip()
        return None, text[:300] or None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    message = error.get("message")
    inner = error.get("innererror")
    if isinstance(inner, dict) and inner.get("message") and inner.get("message") != message:
        message = f"{message} ({inner['message']})" if message else inner["message"]
    return (str(code) if code else None), (str(message)[:500] if message else None)
