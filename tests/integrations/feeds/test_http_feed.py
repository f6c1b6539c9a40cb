"""The market feed against a loopback HTTP provider that checks its API key."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from core.errors import ConfigurationError, ExternalServiceError
from integrations.feeds.base import MarketFeed
from integrations.feeds.fake import FakeMarketFeed
from integrations.feeds.http_feed import FeedKeyRefusedError, parse_feed
from integrations.feeds.settings import FeedSettings, load_feed_settings
from store.db import Database
from tests.conftest import make_org
from tools.market_feed import pull_feed

KEY = "k-4f9c2e7a1b"


@dataclass
class Reply:
    """One scripted answer."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Provider:
    """What the loopback provider serves per path, and what it saw."""

    port: int = 0
    routes: dict[str, bytes | list[Reply]] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            key = self.headers.get("X-API-Key")
            provider.seen.append((self.path, key))
            route = provider.routes.get(self.path)
            if route is None:
                return self._send(Reply(404, b'{"error": "no such series"}'))
            if isinstance(route, list):  # scripted replies, then the last one forever
                reply = route.pop(0) if len(route) > 1 else route[0]
                if reply.status != 200 or key == KEY:
                    return self._send(reply)
            if key != KEY:
                return self._send(Reply(401, b'{"error": "invalid api key"}'))
            body = route if isinstance(route, bytes) else route[0].body
            ctype = "text/csv" if self.path.endswith(".csv") else "application/json"
            self._send(Reply(200, body, ctype))

        def _send(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """A price endpoint on loopback."""
    state = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def feed(provider: Provider, path: str, **overrides: Any) -> FeedSettings:
    values: dict[str, Any] = {
        "url": provider.url(path),
        "api_key": KEY,
        "format": "csv" if path.endswith(".csv") else "json",
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 0.05,
        "timeout_seconds": 5,
    }
    values.update(overrides)
    return load_feed_settings(**values)


def stored(database: Database, org_id: uuid.UUID, code: str) -> dict[str, Decimal]:
    with database.session_scope(org_id) as session:
        rows = session.execute(
            text(
                "SELECT o.obs_date::text, o.value FROM index_observations o "
                "JOIN index_series s ON s.org_id = o.org_id AND s.id = o.series_id "
                "WHERE s.code = :code ORDER BY o.obs_date"
            ),
            {"code": code},
        ).all()
    return {str(d): Decimal(v) for d, v in rows}


def series_row(database: Database, org_id: uuid.UUID, code: str) -> tuple[Any, ...]:
    with database.session_scope(org_id) as session:
        return tuple(
            session.execute(
                text("SELECT name, unit, source FROM index_series WHERE code = :code"),
                {"code": code},
            ).one()
        )


JSON_SERIES = {
    "series": "LME-CU",
    "name": "LME copper cash",
    "unit": "USD/t",
    "observations": [
        {"date": "2024-01-01", "value": "8345.123456789012345"},
        {"date": "2024-02-01", "value": 8412.5},
        {"date": "2024-03-01", "value": 8601},
    ],
}


def test_json_feed_lands_with_exact_decimals(database: Database, provider: Provider) -> None:
    org = make_org(database)
    # A float literal with more digits than a double holds must survive unrounded.
    body = json.dumps(JSON_SERIES).replace("8412.5", "8412.50000000000000001")
    provider.routes["/v1/cu"] = body.encode()
    report = pull_feed(database=database, org_id=org, settings=feed(provider, "/v1/cu"), actor="t")
    assert (report.inserted, report.rejected) == (3, 0)
    assert stored(database, org, "LME-CU") == {
        "2024-01-01": Decimal("8345.123456789012345"),
        "2024-02-01": Decimal("8412.50000000000000001"),
        "2024-03-01": Decimal("8601"),
    }
    assert series_row(database, org, "LME-CU") == ("LME copper cash", "USD/t", "127.0.0.1")
    assert provider.seen[-1] == ("/v1/cu", KEY)


def test_json_list_of_series(database: Database, provider: Provider) -> None:
    org = make_org(database)
    provider.routes["/v1/many"] = json.dumps(
        [
            JSON_SERIES,
            {
                "series": "LME-AL",
                "observations": [
                    {"date": "2024-01-01", "value": "2201.75"},
                    {"date": "2024-02-01", "value": "oops"},  # shares a line with LME-CU
                ],
            },
        ]
    ).encode()
    report = pull_feed(
        database=database, org_id=org, settings=feed(provider, "/v1/many"), actor="t"
    )
    assert report.series == ("LME-CU", "LME-AL")
    assert report.inserted == 4
    [bad] = report.rejections
    assert bad.positions == ("[1] LME-AL observations[1]",)
    assert bad.reason == "LME-AL is not a number: 'oops' (the row's other values were imported)"
    assert stored(database, org, "LME-CU")["2024-02-01"] == Decimal("8412.5")
    assert stored(database, org, "LME-AL") == {"2024-01-01": Decimal("2201.75")}


def test_csv_feed_lands_with_exact_decimals(database: Database, provider: Provider) -> None:
    org = make_org(database)
    provider.routes["/v1/steel.csv"] = (
        b"date,value\n2024-01-01,612.3400\n2024-02-01,1e2\n\n2024-03-01,0.000000000000000001\n"
    )
    settings = feed(provider, "/v1/steel.csv", series="HRC-US", source="Platts")
    report = pull_feed(database=database, org_id=org, settings=settings, actor="t")
    assert (report.inserted, report.rejected) == (3, 0)
    assert stored(database, org, "HRC-US") == {
        "2024-01-01": Decimal("612.3400"),
        "2024-02-01": Decimal("100"),
        "2024-03-01": Decimal("0.000000000000000001"),
    }
    assert series_row(database, org, "HRC-US")[2] == "Platts"


def test_wide_csv_goes_to_the_importer_unchanged(database: Database, provider: Provider) -> None:
    org = make_org(database)
    provider.routes["/v1/wide.csv"] = b"date,PPI-A,PPI-B\n2024-01-01,101.5,\n2024-02-01,abc,99\n"
    report = pull_feed(
        database=database, org_id=org, settings=feed(provider, "/v1/wide.csv"), actor="t"
    )
    assert report.inserted == 2
    assert [(r.line_no, r.reason) for r in report.rejections] == [
        (3, "PPI-A is not a number: 'abc' (the row's other values were imported)")
    ]
    assert stored(database, org, "PPI-B") == {"2024-02-01": Decimal("99")}


def test_wrong_key_is_refused_clearly_and_writes_nothing(
    database: Database, provider: Provider
) -> None:
    org = make_org(database)
    provider.routes["/v1/cu"] = json.dumps(JSON_SERIES).encode()
    with pytest.raises(FeedKeyRefusedError) as caught:
        pull_feed(
            database=database,
            org_id=org,
            settings=feed(provider, "/v1/cu", api_key="not-the-key"),
            actor="t",
        )
    assert isinstance(caught.value, ExternalServiceError)
    assert "refused the API key (HTTP 401)" in caught.value.message
    assert "not-the-key" not in caught.value.message
    with database.session_scope(org) as session:
        for table in ("index_series", "index_observations", "import_runs"):
            assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0


def test_placeholder_key_is_refused_by_settings(provider: Provider) -> None:
    with pytest.raises(ConfigurationError, match=r"FEED_API_KEY: .*placeholder"):
        load_feed_settings(url=provider.url("/v1/cu"), api_key="changeme")
    with pytest.raises(ConfigurationError, match="FEED_URL"):
        load_feed_settings(url="ftp://example.com/x", api_key=KEY)


def test_429_with_retry_after_then_success(database: Database, provider: Provider) -> None:
    org = make_org(database)
    body = json.dumps(JSON_SERIES).encode()
    provider.routes["/v1/busy"] = [
        Reply(429, b'{"error": "slow down"}', headers={"Retry-After": "1"}),
        Reply(503, b"maintenance"),
        Reply(200, body),
    ]
    started = time.monotonic()
    report = pull_feed(
        database=database, org_id=org, settings=feed(provider, "/v1/busy"), actor="t"
    )
    waited = time.monotonic() - started
    assert report.attempts == 3
    assert report.inserted == 3
    assert waited >= 1.0  # Retry-After was honoured, not the 0.01 s backoff


def test_retry_after_too_long_fails_fast(provider: Provider, database: Database) -> None:
    org = make_org(database)
    provider.routes["/v1/later"] = [Reply(429, headers={"Retry-After": "3600"})]
    with pytest.raises(ExternalServiceError, match="asks to wait 3600 s"):
        pull_feed(database=database, org_id=org, settings=feed(provider, "/v1/later"), actor="t")


def test_persistent_5xx_and_404_give_short_errors(provider: Provider, database: Database) -> None:
    org = make_org(database)
    provider.routes["/v1/down"] = [Reply(502, b"<html>bad gateway</html>")]
    with pytest.raises(ExternalServiceError, match=r"answered HTTP 502 \(3 attempt"):
        pull_feed(
            database=database,
            org_id=org,
            settings=feed(provider, "/v1/down", max_retries=2),
            actor="t",
        )
    with pytest.raises(ExternalServiceError, match=r"answered HTTP 404: .*no such series"):
        pull_feed(database=database, org_id=org, settings=feed(provider, "/v1/none"), actor="t")
    provider.routes["/v1/moved"] = [Reply(302, headers={"Location": "http://evil.test/x"})]
    with pytest.raises(ExternalServiceError, match=r"a redirect to evil\.test; set FEED_URL"):
        pull_feed(database=database, org_id=org, settings=feed(provider, "/v1/moved"), actor="t")
    assert [key for path, key in provider.seen if path == "/x"] == []
    provider.routes["/v1/cu"] = json.dumps(JSON_SERIES).encode()
    with pytest.raises(ExternalServiceError, match="sent more than 100 bytes"):
        pull_feed(
            database=database,
            org_id=org,
            settings=feed(provider, "/v1/cu", max_body_bytes=100),
            actor="t",
        )


def test_malformed_observations_are_rejected_good_ones_kept(
    database: Database, provider: Provider
) -> None:
    org = make_org(database)
    provider.routes["/v1/mixed"] = json.dumps(
        {
            "series": "IDX",
            "observations": [
                {"date": "2024-01-01", "value": "100.5"},  # line 2
                {"date": "2024-13-45", "value": "101"},  # line 3: bad date
                {"date": "2024-02-01", "value": "n/a"},  # line 4: not a number
                {"date": "2024-03-01"},  # line 5: missing value
                {"value": "7"},  # line 6: missing date
                {"date": "2024-04-01", "value": None},  # line 7: null value
                "garbage",  # line 8: not an object
                {"date": "2024-01-01", "value": "100.6"},  # line 9: repeated date
                {"date": "2024-05-01", "value": 102},  # line 10
            ],
        }
    ).encode()
    report = pull_feed(
        database=database, org_id=org, settings=feed(provider, "/v1/mixed"), actor="t"
    )
    assert stored(database, org, "IDX") == {
        "2024-01-01": Decimal("100.5"),
        "2024-05-01": Decimal("102"),
    }
    got = {r.line_no: (r.positions, r.reason) for r in report.rejections}
    assert set(got) == {3, 4, 5, 6, 7, 8, 9}
    assert got[3] == (("IDX observations[1]",), "date is not a date: '2024-13-45'")
    assert got[4][0] == ("IDX observations[2]",)
    assert got[4][1].startswith("IDX is not a number: 'n/a'")
    assert got[5][1].startswith("IDX is not a number: '(missing)'")
    assert got[6][1] == "date is missing"
    assert got[7][1].startswith("IDX is not a number: '(missing)'")
    assert got[8] == (("IDX observations[6]",), "date is missing")
    assert got[9] == (("IDX observations[7]",), "date repeats an earlier line")
    # The rejections are kept with the import run, as for a file import.
    with database.session_scope(org) as session:
        kept = session.execute(
            text(
                "SELECT line_no, reason FROM import_rejections "
                "WHERE import_run_id = :run ORDER BY line_no"
            ),
            {"run": report.run_id},
        ).all()
    assert [line for line, _ in kept] == [3, 4, 5, 6, 7, 8, 9]


def test_repull_creates_no_duplicates(database: Database, provider: Provider) -> None:
    org = make_org(database)
    provider.routes["/v1/cu"] = json.dumps(JSON_SERIES).encode()
    settings = feed(provider, "/v1/cu")
    first = pull_feed(database=database, org_id=org, settings=settings, actor="t")
    again = pull_feed(database=database, org_id=org, settings=settings, actor="t")
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (3, 0, 0, 3)
    with database.session_scope(org) as session:
        assert session.execute(text("SELECT count(*) FROM index_observations")).scalar_one() == 3
        assert session.execute(text("SELECT count(*) FROM index_series")).scalar_one() == 1


def test_json_without_series_code_uses_the_setting() -> None:
    body = b'{"observations": [{"date": "2024-01-01", "value": 1.10}]}'
    parsed = parse_feed(body, fmt="json", default_series="CODE")
    assert parsed.series[0].code == "CODE"
    assert parsed.observations[0].value == "1.10"
    with pytest.raises(ExternalServiceError, match="FEED_SERIES"):
        parse_feed(body, fmt="json", default_series=None)


def test_long_csv_with_series_column_traces_rejections_to_feed_lines(
    database: Database, provider: Provider, tmp_path: Path
) -> None:
    org = make_org(database)
    provider.routes["/v1/long.csv"] = (
        b"series;date;value\n"
        b"AL;2024-01-01;2201,75\n"  # line 2: a decimal comma is not a number here
        b"AL;2024-02-01;2210.5\n"
        b"NI;2024-01-01;16000\n"
        b"NI;01/02/2024x;16100\n"  # line 5: bad date
        b"NI;2024-03-01\n"  # line 6: value missing
        b";2024-04-01;5\n"  # line 7: series missing
    )
    report = pull_feed(
        database=database,
        org_id=org,
        settings=feed(provider, "/v1/long.csv"),
        actor="t",
        rejected_dir=tmp_path,
    )
    assert report.series == ("AL", "NI")
    assert stored(database, org, "AL") == {"2024-02-01": Decimal("2210.5")}
    assert stored(database, org, "NI") == {"2024-01-01": Decimal("16000")}
    by_position = {r.positions: r.reason for r in report.rejections}
    assert by_position[("feed line 2",)].startswith("AL is not a number: '2201,75'")
    assert by_position[("feed line 5",)] == "date is not a date: '01/02/2024x'"
    assert by_position[("feed line 6",)].startswith("NI is not a number: '(missing)'")
    assert by_position[("feed line 7",)] == "date is not a date: '(no series) 2024-04-01'"
    assert report.rejected == 4
    with database.session_scope(org) as session:
        codes = session.execute(text("SELECT code FROM index_series ORDER BY code")).scalars()
        assert list(codes) == ["AL", "NI"]
    assert report.rejected_file is not None
    assert report.rejected_file.parent == tmp_path
    assert "2201,75" in report.rejected_file.read_text()


def test_the_key_is_never_logged(
    database: Database, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    org = make_org(database)
    provider.routes["/v1/echo"] = [Reply(400, f"bad request from key {KEY}".encode())]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ExternalServiceError) as caught:
        pull_feed(database=database, org_id=org, settings=feed(provider, "/v1/echo"), actor="t")
    assert KEY not in caught.value.message
    assert "***" in caught.value.message
    provider.routes["/v1/cu"] = json.dumps(JSON_SERIES).encode()
    pull_feed(database=database, org_id=org, settings=feed(provider, "/v1/cu"), actor="t")
    assert caplog.records
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_fake_feed_stands_in_for_http(database: Database) -> None:
    org = make_org(database)
    fake = FakeMarketFeed([json.dumps(JSON_SERIES).encode()])
    settings = load_feed_settings(url="https://feed.invalid/v1", api_key=KEY, source="LME")
    report = pull_feed(database=database, org_id=org, settings=settings, actor="t", feed=fake)
    assert (fake.fetches, report.inserted) == (1, 3)
    assert series_row(database, org, "LME-CU")[2] == "LME"
    assert isinstance(fake, MarketFeed)


def test_empty_and_odd_bodies(database: Database) -> None:
    org = make_org(database)
    settings = load_feed_settings(url="https://feed.invalid/v1", api_key=KEY)
    empty = FakeMarketFeed([b'{"series": "E", "observations": []}'])
    report = pull_feed(database=database, org_id=org, settings=settings, actor="t", feed=empty)
    assert (report.rows_read, report.imported, report.rejected) == (0, 0, 0)
    with pytest.raises(ExternalServiceError, match="returned no series"):
        pull_feed(
            database=database,
            org_id=org,
            settings=settings,
            actor="t",
            feed=FakeMarketFeed([b"[]"]),
        )
    with pytest.raises(ExternalServiceError, match="invalid JSON"):
        pull_feed(
            database=database,
            org_id=org,
            settings=settings,
            actor="t",
            feed=FakeMarketFeed([b"<html>login</html>"]),
        )
    odd = FakeMarketFeed(
        [
            b'{"series": "O", "observations": [{"date": "2024-01-01", "value": NaN},'
            b' {"date": "2024-02-01", "value": true}, {"date": "2024-03-01", "value": "1e2"}]}'
        ]
    )
    report = pull_feed(database=database, org_id=org, settings=settings, actor="t", feed=odd)
    assert [r.reason.split(" (")[0] for r in report.rejections] == [
        "O is not a number: 'NaN'",
        "O is not a number: 'true'",
    ]
    assert stored(database, org, "O") == {"2024-03-01": Decimal("100")}
    csv_settings = load_feed_settings(
        url="https://feed.invalid/v1", api_key=KEY, format="csv", series="C"
    )
    no_rows = FakeMarketFeed([b"date,value\n"], content_type="text/csv")
    report = pull_feed(
        database=database, org_id=org, settings=csv_settings, actor="t", feed=no_rows
    )
    assert (report.series, report.imported, report.rejected) == (("C",), 0, 0)
