"""Fetch a market-data provider's price endpoint and import it with the index importer.

The body (JSON or CSV) is rewritten as the wide CSV the index importer reads (a ``date``
column and one column per series) and handed to ``store.importing.service.import_file``,
so a feed is validated and rejected exactly like an index file. Series share a CSV line
per date; ``FeedImport.positions`` maps every line back to where its observations were in
the body (``CODE observations[3]`` in JSON, ``feed line 7`` in the provider's CSV).
"""

from __future__ import annotations

import csv
import email.utils
import io
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy.orm import Session

from core.errors import ExternalServiceError, ImportFileError
from integrations.feeds.base import FeedBody, MarketFeed
from integrations.feeds.settings import FeedFormat, FeedSettings
from store.importing.runs import ImportResult
from store.importing.service import import_file

log = logging.getLogger(__name__)

_RETRY = frozenset({429, 500, 502, 503, 504})
_DATE_COLUMN = "date"
# A missing value must be rejected, but the importer reads a blank cell as "no
# observation"; this text makes it refuse the cell as "not a number" instead.
MISSING_VALUE = "(missing)"
_NO_SERIES = "(no series)"
_SNIPPET = 200


class FeedError(ExternalServiceError):
    """The feed failed, timed out, or sent a body that is not a feed."""

    title = "Market feed unavailable"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FeedKeyRefusedError(FeedError):
    """The provider refused the API key (HTTP 401 or 403)."""

    title = "Market feed refused the API key"


@dataclass(frozen=True, slots=True)
class Observation:
    """One observation as the body gave it, with where it was."""

    series: str
    date: str
    value: str
    position: str


@dataclass(frozen=True, slots=True)
class SeriesMeta:
    """A series' code and the descriptive facts the body carried."""

    code: str
    name: str | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The body as series and observations, in body order."""

    series: list[SeriesMeta]
    observations: list[Observation]
    #: True for a CSV already in the importer's layout (date + a column per series).
    wide: bool = False


@dataclass
class FeedImport:
    """The import run of one pull and how its CSV lines map back to the body."""

    result: ImportResult
    series: list[str]
    positions: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    attempts: int = 1

    def positions_of(self, line_no: int, reason: str | None = None) -> list[str]:
        """Where the observations on an import line were in the feed body.

        With the rejection's ``reason``, only the series it names when it names any
        (a bad value), else every observation on the line (a bad or repeated date).
        """
        placed = self.positions.get(line_no, [])
        if reason is not None:
            parts = [p.strip() for p in reason.split(";")]
            named = [pos for code, pos in placed if any(p.startswith(f"{code} is ") for p in parts)]
            if named:
                return named
        return [pos for _, pos in placed]


# --- HTTP ------------------------------------------------------------------------------


def fetch_feed(
    settings: FeedSettings,
    *,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FeedBody:
    """GET the feed with the API key, retrying 429/5xx and network failures with backoff."""
    headers = {"Accept": "application/json" if settings.format == "json" else "text/csv"}
    secret = settings.api_key.get_secret_value() if settings.api_key else None
    if secret is not None:
        headers[settings.api_key_header] = secret
    own = client is None
    # No redirects: httpx would carry a custom key header to whatever host a 3xx names.
    http = client or httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False)
    where = _display_url(settings.url)
    try:
        attempt = 0
        while True:
            attempt += 1
            try:
                response, content = _get(http, settings, headers)
            except httpx.TimeoutException:
                wait = status = None
                problem = f"timed out after {settings.timeout_seconds:g} s"
            except httpx.HTTPError as exc:
                wait = status = None
                problem = f"cannot be reached ({type(exc).__name__})"
            else:
                status = response.status_code
                if response.is_success:
                    log.info("feed %s: HTTP %s after %d attempt(s)", where, status, attempt)
                    return FeedBody(
                        url=settings.url,
                        content=content,
                        content_type=response.headers.get("content-type", ""),
                        attempts=attempt,
                    )
                _raise_unless_retryable(response, content, settings, secret)
                problem = f"answered HTTP {status}"
                wait = _retry_after(response)
                if wait is not None and wait > settings.max_retry_after_seconds:
                    raise FeedError(
                        f"market feed {where} {problem} and asks to wait {wait:g} s "
                        f"(over FEED_MAX_RETRY_AFTER_SECONDS={settings.max_retry_after_seconds:g})",
                        status=status,
                    )
            if attempt > settings.max_retries:
                raise FeedError(
                    f"market feed {where} {problem} ({attempt} attempt(s))", status=status
                )
            delay = wait if wait is not None else _backoff(settings, attempt)
            log.warning("feed %s %s; retrying in %.1f s", where, problem, delay)
            sleep(delay)
    finally:
        if own:
            http.close()


def _get(
    http: httpx.Client, settings: FeedSettings, headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """GET the body, refusing one larger than ``max_body_bytes`` without holding it all."""
    with http.stream("GET", settings.url, headers=headers) as response:
        # An error page only needs its start, for the message.
        limit = settings.max_body_bytes if response.is_success else _SNIPPET * 8
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                if response.is_success:
                    raise FeedError(
                        f"market feed {_display_url(settings.url)} sent more than "
                        f"{settings.max_body_bytes:,} bytes (FEED_MAX_BODY_BYTES)",
                        status=response.status_code,
                    )
                break
        return response, b"".join(chunks)


def _raise_unless_retryable(
    response: httpx.Response, content: bytes, settings: FeedSettings, secret: str | None
) -> None:
    status, where = response.status_code, _display_url(settings.url)
    if status in (401, 403):
        raise FeedKeyRefusedError(_refused_message(settings, status), status=status)
    if response.is_redirect:
        moved = urlsplit(response.headers.get("location", "")).netloc or "elsewhere"
        raise FeedError(
            f"market feed {where} answered HTTP {status}, a redirect to {moved}; "
            "set FEED_URL to the final address (redirects are not followed, so "
            "the key is never sent to another host)",
            status=status,
        )
    if status not in _RETRY:
        raise FeedError(
            f"market feed {where} answered HTTP {status}{_snippet(content, secret)}",
            status=status,
        )


def _refused_message(settings: FeedSettings, status: int) -> str:
    where = _display_url(settings.url)
    if settings.api_key is None:
        return (
            f"market feed {where} answered HTTP {status}: it needs an API key; "
            f"set FEED_API_KEY (sent in the {settings.api_key_header} header)"
        )
    return (
        f"market feed {where} refused the API key (HTTP {status}); check FEED_API_KEY "
        f"and FEED_API_KEY_HEADER (now {settings.api_key_header})"
    )


def _backoff(settings: FeedSettings, attempt: int) -> float:
    return float(min(settings.max_backoff_seconds, settings.backoff_seconds * 2 ** (attempt - 1)))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
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
    return max(0.0, when.timestamp() - time.time())


def _snippet(content: bytes, secret: str | None) -> str:
    text = " ".join(content.decode("utf-8", "replace").split())[:_SNIPPET]
    if secret:
        text = text.replace(secret, "***")  # some providers echo the request back
    return f": {text}" if text else ""


def _display_url(url: str) -> str:
    # The query may hold a token some providers take there; never show it.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class HttpMarketFeed:
    """The provider's endpoint over httpx, as a ``MarketFeed``."""

    def __init__(
        self,
        settings: FeedSettings,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._own = client is None
        # No redirects: httpx would carry a custom key header to whatever host a 3xx names.
        self._client = client or httpx.Client(
            timeout=settings.timeout_seconds, follow_redirects=False
        )
        self._sleep = sleep

    def fetch(self) -> FeedBody:
        """GET the body, with the key and the retries of ``fetch_feed``."""
        return fetch_feed(self.settings, client=self._client, sleep=self._sleep)

    def close(self) -> None:
        """Close the HTTP client if this feed opened it."""
        if self._own:
            self._client.close()


_CHECK: type[MarketFeed] = HttpMarketFeed  # mypy: the HTTP feed fits the Protocol


# --- body -> observations ---------------------------------------------------------------


def parse_feed(content: bytes, *, fmt: FeedFormat, default_series: str | None) -> ParsedFeed:
    """Read a JSON or CSV body into observations, keeping malformed ones for the importer."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(f"the feed body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if fmt == "json":
        return _parse_json(text, default_series)
    return _parse_csv(text, default_series)


def _parse_json(text: str, default_series: str | None) -> ParsedFeed:
    try:
        body = json.loads(text, parse_float=Decimal, parse_constant=str)
    except json.JSONDecodeError as exc:
        raise FeedError(
            f"the feed sent invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    blocks = body if isinstance(body, list) else [body]
    metas: dict[str, SeriesMeta] = {}
    observations: list[Observation] = []
    for b, block in enumerate(blocks):
        where = f"[{b}]" if isinstance(body, list) else ""
        if not isinstance(block, dict) or not isinstance(block.get("observations"), list):
            raise FeedError(
                f"the feed's JSON{where} is not a series: expected an object with an "
                "'observations' list"
            )
        code = _text(block.get("series")) or default_series
        if not code:
            raise FeedError(
                f"the feed's JSON{where} names no series; set FEED_SERIES to the code to store"
            )
        if code.strip().lower() == _DATE_COLUMN:
            raise FeedError(f"the feed's JSON{where} uses the reserved series code {code!r}")
        metas.setdefault(code, SeriesMeta(code, _text(block.get("name")), _text(block.get("unit"))))
        for i, obs in enumerate(block["observations"]):
            entry = obs if isinstance(obs, dict) else {}
            observations.append(
                Observation(
                    series=code,
                    date=_cell(entry.get("date")),
                    value=_value_cell(entry.get("value")),
                    position=f"{where}{' ' if where else ''}{code} observations[{i}]",
                )
            )
    return ParsedFeed(list(metas.values()), observations)


def _parse_csv(text: str, default_series: str | None) -> ParsedFeed:
    """Read a long CSV (``date,value`` with an optional ``series`` column) or a wide one."""
    first = text.split("\n", 1)[0]
    # The same choice as the file importer: the delimiter the header uses most.
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        raise FeedError("the feed sent an empty CSV") from None
    except csv.Error as exc:
        raise FeedError(f"the feed sent an unreadable CSV ({exc})") from None
    if "value" not in header:
        return _parse_wide_csv(text)
    if _DATE_COLUMN not in header:
        raise FeedError("the feed's CSV has a 'value' column but no 'date' column")
    series_at = header.index("series") if "series" in header else None
    if series_at is None and not default_series:
        raise FeedError("the feed's CSV names no series; set FEED_SERIES to the code to store")
    date_at, value_at = header.index(_DATE_COLUMN), header.index("value")
    metas: dict[str, SeriesMeta] = {}
    observations: list[Observation] = []
    line = rows.line_num + 1
    try:
        for row in rows:
            if not row or (len(row) == 1 and not row[0].strip()):
                line = rows.line_num + 1
                continue
            code = (
                (row[series_at].strip() if series_at is not None and series_at < len(row) else "")
                or default_series
                or ""
            )
            date = _cell(row[date_at] if date_at < len(row) else None)
            if not code or code.lower() == _DATE_COLUMN:
                # The importer has no "series missing" reason; a date it cannot read
                # makes it reject the line, and this text says why.
                code, date = _NO_SERIES, f"{_NO_SERIES} {date}"
            metas.setdefault(code, SeriesMeta(code))
            observations.append(
                Observation(
                    series=code,
                    date=date,
                    value=_value_cell(row[value_at] if value_at < len(row) else None),
                    position=f"feed line {line}",
                )
            )
            line = rows.line_num + 1
    except csv.Error as exc:
        raise FeedError(f"the feed sent an unreadable CSV at line {line} ({exc})") from None
    if not metas and default_series:
        metas[default_series] = SeriesMeta(default_series)  # no rows yet: nothing to add
    return ParsedFeed(list(metas.values()), observations)


def _parse_wide_csv(text: str) -> ParsedFeed:
    # Already the importer's own layout: the body goes to it unchanged (see import_body).
    first = text.splitlines()[0] if text else ""
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    names = [h.strip() for h in next(csv.reader([first], delimiter=delimiter))]
    metas = [SeriesMeta(n) for n in names if n and n.lower() != _DATE_COLUMN]
    return ParsedFeed(metas, [], wide=True)


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _cell(value: object) -> str:
    # One observation per physical line: a newline inside a cell would shift the numbering.
    if value is None:
        return ""
    return " ".join(str(value).splitlines())


def _value_cell(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return MISSING_VALUE
    if isinstance(value, bool | dict | list):
        return " ".join(json.dumps(value).splitlines())  # refused as "not a number"
    return _cell(value)


def write_index_csv(parsed: ParsedFeed, path: Path) -> dict[int, list[tuple[str, str]]]:
    """Write the importer's wide CSV; return the body positions on each line."""
    codes = [m.code for m in parsed.series]
    rows: list[dict[str, str]] = []
    placed: list[list[tuple[str, str]]] = []
    by_date: dict[str, list[int]] = {}
    for obs in parsed.observations:
        key = obs.date.strip()
        # Series share a line per date; a date a series repeats goes on a later line,
        # where the importer rejects it as repeating an earlier line.
        target = next((r for r in by_date.get(key, []) if obs.series not in rows[r]), None)
        if target is None:
            target = len(rows)
            rows.append({_DATE_COLUMN: obs.date})
            placed.append([])
            by_date.setdefault(key, []).append(target)
        rows[target][obs.series] = obs.value
        placed[target].append((obs.series, obs.position))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([_DATE_COLUMN, *codes])
        for row in rows:
            writer.writerow([row[_DATE_COLUMN], *(row.get(c, "") for c in codes)])
    return {i + 2: p for i, p in enumerate(placed)}


def _series_info_csv(metas: Iterable[SeriesMeta], source: str, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "name", "unit", "source"])
        for m in metas:
            writer.writerow([m.code, m.name or "", m.unit or "", source])


# --- import ------------------------------------------------------------------------------


def import_body(
    *,
    session: Session,
    org_id: uuid.UUID,
    body: FeedBody,
    settings: FeedSettings,
    actor: str,
    rejected_dir: Path | None = None,
) -> FeedImport:
    """Import a fetched body as index observations in the caller's transaction."""
    parsed = parse_feed(body.content, fmt=settings.format, default_series=settings.series)
    if not parsed.series:
        raise FeedError(f"the feed {_display_url(body.url)} returned no series")
    named = [m for m in parsed.series if m.code != _NO_SERIES]
    source = settings.source or urlsplit(body.url).hostname or "market feed"
    display = f"feed {_display_url(body.url)}"
    with tempfile.TemporaryDirectory(prefix="feed-") as tmp:
        folder = Path(tmp)
        data = folder / "feed.csv"
        if parsed.wide:
            data.write_bytes(body.content)  # lines and rejections are the provider's own
            positions = {}
        else:
            positions = write_index_csv(parsed, data)
        info = folder / "series.csv"
        _series_info_csv(named, source, info)
        try:
            result = import_file(
                session=session,
                org_id=org_id,
                kind="index",
                path=data,
                actor=actor,
                series_info_path=info,
                display_name=display,
            )
        except ImportFileError as exc:
            raise FeedError(f"the feed's body cannot be imported: {exc.message}") from None
        result.rejected_file = _keep_rejections(result.rejected_file, rejected_dir, result.run_id)
    if result.rejections and not parsed.wide:
        result.notes.append(
            "rejected lines are of the CSV made from the feed; "
            "FeedImport.positions_of names the observations in the body"
        )
    return FeedImport(
        result=result,
        series=[m.code for m in named],
        positions=positions,
        attempts=body.attempts,
    )


def _keep_rejections(path: Path | None, folder: Path | None, run_id: int) -> Path | None:
    # The importer writes rejections beside its input, which is a temporary file here.
    if path is None or folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(path, folder / f"feed.run{run_id}.rejected.csv"))


def import_feed(
    *,
    session: Session,
    org_id: uuid.UUID,
    settings: FeedSettings,
    actor: str,
    feed: MarketFeed | None = None,
    rejected_dir: Path | None = None,
) -> FeedImport:
    """Fetch the feed (HTTP unless ``feed`` is given) and import it in the caller's transaction."""
    source = feed or HttpMarketFeed(settings)
    try:
        body = source.fetch()
    finally:
        if feed is None:
            source.close()
    return import_body(
        session=session,
        org_id=org_id,
        body=body,
        settings=settings,
        actor=actor,
        rejected_dir=rejected_dir,
    )
