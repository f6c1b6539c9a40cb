"""A small OData v2 client for SAP Gateway services, over httpx.

It reads collections page by page (``__next`` links when the server sends them, else
``$top``/``$skip``), parses SAP's wire values (``/Date(ms)/``, decimals as strings), retries
throttling and gateway failures with capped exponential backoff, logs in with OAuth client
credentials or basic auth, and does the CSRF-token dance SAP requires before any write.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from core.errors import ExternalServiceError, WriteOutcomeUnknownError
from integrations.sap.settings import SapSettings

_DATE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{1,4}))?\)/$")
_RETRY_GET = frozenset({429, 500, 502, 503, 504})
# A write is retried only when SAP refused it before doing anything (429, 503). After a
# 500 SAP has rolled its unit of work back; after a gateway's 502/504 nobody knows.
_RETRY_WRITE = frozenset({429, 503})
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TOKEN_MARGIN_SECONDS = 30.0


class SapError(ExternalServiceError):
    """SAP answered with an error, refused the credentials, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class SapWriteUnknownError(SapError, WriteOutcomeUnknownError):
    """A write was sent to SAP but its answer was lost (in transit, or a gateway timeout)."""


# A gateway's answer to a write says nothing about whether SAP behind it applied it.
_GATEWAY_STATUSES = frozenset({502, 504})


# --- wire values -----------------------------------------------------------------------


def parse_datetime(value: object) -> dt.datetime | None:
    """Parse an Edm.DateTime/DateTimeOffset (``/Date(ms)/``, ``/Date(ms+0000)/``) to aware UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not an OData date: {value!r}")
    match = _DATE.match(value)
    if match is None:
        # Some gateways send ISO 8601 for Edm.DateTimeOffset.
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an OData date: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    # The milliseconds count from the epoch in UTC; the suffix (minutes) is the zone it
    # was recorded in, which does not move the instant.
    return _EPOCH + dt.timedelta(milliseconds=int(match.group(1)))


def parse_date(value: object) -> dt.date | None:
    """Parse an Edm.DateTime used as a calendar date (SAP sends UTC midnight)."""
    parsed = parse_datetime(value)
    return None if parsed is None else parsed.date()


def parse_decimal(value: object) -> Decimal | None:
    """Parse an Edm.Decimal (a JSON string such as ``"12.500"``) without going through float."""
    if value is None or value == "":
        return None
    if isinstance(value, bool | float):
        raise ValueError(f"not a decimal string: {value!r}")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError(f"not a decimal string: {value!r}")
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    return number


def datetime_literal(value: dt.datetime | dt.date) -> str:
    """Return an Edm.DateTime filter literal, e.g. ``datetime'2024-01-01T00:00:00'``."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return f"datetime'{value.strftime('%Y-%m-%dT%H:%M:%S')}'"
    return f"datetime'{value.isoformat()}T00:00:00'"


def datetimeoffset_literal(value: dt.datetime) -> str:
    """Return an Edm.DateTimeOffset filter literal in UTC, e.g. ``datetimeoffset'…Z'``."""
    # A naive watermark is taken as UTC: that is what the connector hands out.
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return f"datetimeoffset'{aware.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%S')}Z'"


def string_literal(value: str) -> str:
    """Return an Edm.String literal with quotes doubled."""
    escaped = value.replace("'", "''")
    return f"'{escaped}'"


def error_message(response: httpx.Response) -> tuple[str | None, str]:
    """Return SAP's error code and message from an error body (JSON or plain text)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return None, (text[:300] if text else response.reason_phrase)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, str(body)[:300]
    message = error.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    return (str(error["code"]) if error.get("code") else None), str(message or "no message")


def entity_set_fields(edmx: str) -> dict[str, set[str]]:
    """Map each entity set of an EDMX document to its properties and navigation names."""
    # The document comes from the configured SAP system; expat does not fetch external
    # entities, so parsing it with the standard library is safe enough here.
    root = ET.fromstring(edmx)  # noqa: S314
    types: dict[str, set[str]] = {}
    for element in root.iter():
        if element.tag.endswith("}EntityType"):
            types[element.attrib["Name"]] = {
                child.attrib["Name"]
                for child in element
                if child.tag.endswith(("}Property", "}NavigationProperty"))
            }
    return {
        element.attrib["Name"]: types.get(element.attrib["EntityType"].rsplit(".", 1)[-1], set())
        for element in root.iter()
        if element.tag.endswith("}EntitySet")
    }


# --- the client ------------------------------------------------------------------------


class _OAuthToken:
    """A client-credentials token, fetched once and reused until shortly before expiry."""

    def __init__(self, settings: SapSettings, client: httpx.Client) -> None:
        self._settings = settings
        self._client = client
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def forget(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self) -> None:
        settings = self._settings
        assert settings.token_url is not None
        assert settings.client_id is not None
        assert settings.client_secret is not None
        try:
            response = self._client.post(
                settings.token_url,
                data={"grant_type": "client_credentials"},
                auth=(settings.client_id, settings.client_secret.get_secret_value()),
            )
        except httpx.TransportError as exc:
            raise SapError(f"SAP token endpoint unreachable: {type(exc).__name__}") from None
        if response.status_code in (400, 401):
            raise SapError(
                "SAP's token endpoint refused the client credentials (SAP_CLIENT_ID / "
                f"SAP_CLIENT_SECRET), HTTP {response.status_code}",
                status=response.status_code,
            )
        if response.status_code != 200:
            raise SapError(
                f"SAP token endpoint answered HTTP {response.status_code}",
                status=response.status_code,
            )
        body = response.json()
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SapError("SAP token endpoint answered without an access_token")
        expires_in = float(body.get("expires_in", 300))
        self._token = token
        self._expires_at = time.monotonic() + max(0.0, expires_in - _TOKEN_MARGIN_SECONDS)


class ODataClient:
    """GET collections and write entities in SAP OData v2 services below ``base_url``."""

    def __init__(
        self,
        settings: SapSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=settings.timeout_seconds,
            transport=transport,
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )
        self._token = _OAuthToken(settings, self._http) if settings.uses_oauth else None
        self._csrf: dict[str, str] = {}

    # -- plumbing --

    def service_url(self, service: str, path: str = "") -> str:
        """Return the URL of ``path`` inside ``service``."""
        return f"{self.settings.base_url}/{service}/{path.lstrip('/')}"

    def _auth_headers(self) -> dict[str, str]:
        if self._token is not None:
            return {"Authorization": f"Bearer {self._token.get()}"}
        return {}

    def _basic(self) -> httpx.BasicAuth | None:
        s = self.settings
        if self._token is None and s.user is not None and s.password is not None:
            return httpx.BasicAuth(s.user, s.password.get_secret_value())
        return None

    def _url(self, url: str, params: Mapping[str, str] | None) -> httpx.URL:
        # Merge into the URL's own query: a __next link already carries its options.
        target = httpx.URL(url)
        merged = dict(params or {})
        if self.settings.sap_client and "sap-client" not in target.params:
            merged.setdefault("sap-client", self.settings.sap_client)
        return target.copy_merge_params(merged) if merged else target

    def _retry_delay(self, response: httpx.Response | None, attempt: int) -> float:
        backoff = min(
            self.settings.max_backoff_seconds, self.settings.backoff_seconds * (2.0**attempt)
        )
        if response is None:
            return backoff
        header = response.headers.get("Retry-After")
        if header is None:
            return backoff
        wait = _retry_after_seconds(header)
        if wait is None:
            return backoff
        if wait > self.settings.max_retry_after_seconds:
            raise SapError(
                f"SAP is throttling (HTTP {response.status_code}) and asked to retry after "
                f"{wait:g} s, longer than the {self.settings.max_retry_after_seconds:g} s "
                "this connector waits; try the sync again later",
                status=response.status_code,
            )
        return wait

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_on: frozenset[int] = _RETRY_GET,
    ) -> httpx.Response:
        """Send one request with auth, retrying throttling and gateway errors; raise on error."""
        refreshed_token = False
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._http.request(
                    method,
                    self._url(url, params),
                    content=None if json_body is None else json.dumps(json_body, default=str),
                    headers={
                        **self._auth_headers(),
                        **({"Content-Type": "application/json"} if json_body is not None else {}),
                        **(headers or {}),
                    },
                    auth=self._basic() or httpx.USE_CLIENT_DEFAULT,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = f"cannot connect ({type(exc).__name__})"
            except httpx.TransportError as exc:
                if method != "GET":
                    raise SapWriteUnknownError(
                        f"SAP {method} {_path(url)} failed in transit ({type(exc).__name__}); "
                        "the change may or may not have been applied"
                    ) from None
                failure = f"transport error ({type(exc).__name__})"
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status == 401 and self._token is not None and not refreshed_token:
                    # A token revoked early: fetch a fresh one once.
                    self._token.forget()
                    refreshed_token = True
                    continue
                if status not in retry_on:
                    raise self._error(method, url, response)
                failure = f"HTTP {status}"
            if attempt >= self.settings.max_retries:
                if response is not None:
                    raise self._error(method, url, response, attempts=attempt + 1)
                raise SapError(f"SAP {method} {_path(url)}: {failure} after {attempt + 1} attempts")
            self._sleep(self._retry_delay(response, attempt))
            attempt += 1

    def _error(
        self, method: str, url: str, response: httpx.Response, *, attempts: int = 1
    ) -> SapError:
        status = response.status_code
        code, message = error_message(response)
        after = f" after {attempts} attempts" if attempts > 1 else ""
        if status == 401:
            how = "OAuth client credentials" if self._token else "user and password (SAP_USER)"
            return SapError(
                f"SAP refused the credentials ({how}): HTTP 401 on {method} {_path(url)}",
                status=status,
                code=code,
            )
        coded = f" [{code}]" if code else ""
        text = f"SAP {method} {_path(url)} failed with HTTP {status}{after}{coded}: {message}"
        if method != "GET" and status in _GATEWAY_STATUSES:
            return SapWriteUnknownError(
                text + "; the change may or may not have been applied", status=status, code=code
            )
        return SapError(text, status=status, code=code)

    # -- reads --

    def get_collection(
        self,
        service: str,
        entity_set: str,
        *,
        filter: str | None = None,  # the OData option's own name
        select: list[str] | None = None,
        expand: list[str] | None = None,
        orderby: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every entity of a collection, following ``__next`` or paging by ``$skip``."""
        page_size = self.settings.page_size
        base: dict[str, str] = {"$format": "json", "$inlinecount": "allpages"}
        if filter:
            base["$filter"] = filter
        if select:
            base["$select"] = ",".join(select)
        if expand:
            base["$expand"] = ",".join(expand)
        if orderby:
            base["$orderby"] = orderby
        url = self.service_url(service, entity_set)
        skip = 0  # entities read so far, whichever way they were paged
        window = 0  # entities read since the last $skip request
        followed: set[str] = set()
        params: dict[str, str] | None = {**base, "$top": str(page_size), "$skip": "0"}
        while True:
            response = self.request("GET", url, params=params)
            d = _payload(response, url)
            results = d.get("results") if isinstance(d, dict) else d
            if not isinstance(results, list):
                raise SapError(f"SAP GET {_path(url)}: the answer is not a collection")
            yield from results
            skip += len(results)
            window += len(results)
            next_link = d.get("__next") if isinstance(d, dict) else None
            if next_link and results:
                # The link carries every option (with $skiptoken); send it as is.
                url = str(httpx.URL(url).join(str(next_link)))
                if url in followed:
                    raise SapError(f"SAP GET {_path(url)}: the __next link repeats itself")
                followed.add(url)
                params = None
                continue
            count = _count(d)
            more = skip < count if count is not None else window >= page_size
            if not results or not more:
                return
            url = self.service_url(service, entity_set)
            params = {**base, "$top": str(page_size), "$skip": str(skip)}
            window = 0

    def get_entity(self, service: str, path: str) -> dict[str, Any]:
        """GET one entity (``A_Set(Key='…')``)."""
        url = self.service_url(service, path)
        d = _payload(self.request("GET", url, params={"$format": "json"}), url)
        if not isinstance(d, dict):
            raise SapError(f"SAP GET {_path(url)}: the answer is not an entity")
        return d

    def metadata(self, service: str) -> str:
        """Return the service's ``$metadata`` document (EDMX)."""
        response = self.request(
            "GET", self.service_url(service, "$metadata"), headers={"Accept": "application/xml"}
        )
        return response.text

    # -- writes --

    def _fetch_csrf(self, service: str) -> str:
        response = self.request(
            "GET", self.service_url(service, ""), headers={"X-CSRF-Token": "Fetch"}
        )
        token = str(response.headers.get("X-CSRF-Token") or "")
        if not token or token.lower() == "required":
            raise SapError(f"SAP service {service} handed out no CSRF token")
        self._csrf[service] = token
        return token

    def write(
        self, method: str, service: str, path: str, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """POST/PATCH/PUT/MERGE an entity with a CSRF token; re-fetch the token once if stale."""
        url = self.service_url(service, path)
        token = self._csrf.get(service) or self._fetch_csrf(service)
        headers = {"X-CSRF-Token": token}
        if method == "MERGE":
            # Some proxies drop unknown verbs; SAP accepts the tunnelled form.
            method, headers["X-HTTP-Method"] = "POST", "MERGE"
        try:
            response = self.request(
                method, url, json_body=dict(body), headers=headers, retry_on=_RETRY_WRITE
            )
        except SapError as exc:
            if exc.status != 403 or not _csrf_failure(exc):
                raise
            headers["X-CSRF-Token"] = self._fetch_csrf(service)
            response = self.request(
                method, url, json_body=dict(body), headers=headers, retry_on=_RETRY_WRITE
            )
        if response.status_code == 204 or not response.content:
            return None
        d = _payload(response, url)
        return d if isinstance(d, dict) else None

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()


def _csrf_failure(exc: SapError) -> bool:
    return "csrf" in str(exc).lower()


def _payload(response: httpx.Response, url: str) -> Any:
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise SapError(
            f"SAP GET {_path(url)}: the answer is not JSON "
            f"({response.headers.get('Content-Type', 'no content type')})"
        ) from None
    if not isinstance(body, dict) or "d" not in body:
        raise SapError(f"SAP GET {_path(url)}: the answer has no 'd' member")
    return body["d"]


def _count(d: Any) -> int | None:
    raw = d.get("__count") if isinstance(d, dict) else None
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _path(url: str) -> str:
    return str(httpx.URL(url).path)


def _retry_after_seconds(header: str) -> float | None:
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
