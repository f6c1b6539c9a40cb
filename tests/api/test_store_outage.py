"""The service while its store stops and comes back, under load.

The module runs its own PostgreSQL (``tests/pgcluster.py``: a separate server on a loopback
TCP port, reached through ``DATABASE_URL``) and the real app under uvicorn in a thread, on
another loopback port. A few client threads keep sending requests over HTTP, reads and
writes, while the test stops the server (a fast shutdown, then, in a second test, an
immediate one, as a crash would) and starts it again. What must hold:

* while the store is down, every request that needs it is answered quickly with 503
  problem+json carrying Retry-After: never a 500, never a hang;
* once it is back, requests succeed again within a bound, with no error lingering from
  connections the pool held before the outage;
* no write acknowledged with a 2xx is lost, and no write half exists.

The write is a real route, ``POST /api/v1/keys``: it inserts the key and its audit entry
in one transaction, which the tenant dependency commits before the response goes out.
Afterwards every acknowledged key must be there with its audit entry, and usable; every
other attempt must have both rows or neither. The reads are real routes too: a supplier
page, the price route (its item look-up), and ``/ready``.

The server is restarted once at the start with ``synchronous_commit=on`` (pgcluster runs
it off, for speed): with it off, a crash may lose the last commits by design, which would
be PostgreSQL's setting talking, not the service.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from api import create_app
from api.settings import ApiSettings
from core.settings import load_settings
from store import migrate, orgs
from store.db import Database
from tests.api.conftest import create_key
from tests.pgcluster import ClusterUnavailable, PgCluster, bin_dir, running_cluster

DB_NAME = "pricing_outage"
WRITE_PATH = "/api/v1/keys"
READ_PATH = "/api/v1/suppliers"
PRICE_PATH = "/api/v1/predictions/price"
NAME_PREFIX = "outage-"

UP_SECONDS = 1.5  # load before the outage, and again after recovery
DOWN_SECONDS = 2.5  # how long the store stays down
REQUEST_BOUND = 5.0  # no request may take longer than this, outage or not
RECOVERY_BOUND = 10.0  # seconds from the store's restart to the first served write
SETTLE = 1.0  # after the first success, every request must succeed
CLIENT_TIMEOUT = 15.0  # the client gives up (and the test fails) past this


# --------------------------------------------------------------------------- the store


def _server_user() -> str | None:
    # As tests/pgcluster.py: PostgreSQL refuses root, so it runs as pgserver's user.
    return "pgserver" if os.name == "posix" and os.geteuid() == 0 else None


def pg_ctl(cluster: PgCluster, *args: str) -> None:
    """Run pg_ctl on the test cluster as the user that owns it; fail on error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    done = subprocess.run(
        [str(bin_dir() / "pg_ctl"), "-D", str(cluster.pgdata), *args],
        user=_server_user(),
        cwd=cluster.base_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"pg_ctl {' '.join(args)}: {done.stdout}{done.stderr}"


def stop_store(cluster: PgCluster, mode: str) -> None:
    """Stop the server: ``fast`` (clean shutdown) or ``immediate`` (as a crash)."""
    pg_ctl(cluster, "-m", mode, "-w", "stop")


def start_store(cluster: PgCluster) -> None:
    """Start the server again on the same port, commits durable past a process crash."""
    options = (
        f"-h {cluster.host} -p {cluster.port} -k {cluster.base_dir / 'sock'} "
        "-c fsync=off -c full_page_writes=off -c synchronous_commit=on"
    )
    pg_ctl(cluster, "-w", "-t", "60", "-o", options, "-l", str(cluster.log_file), "start")


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    """A separate PostgreSQL on 127.0.0.1, restarted with synchronous commits."""
    try:
        bin_dir()
    except ClusterUnavailable as exc:
        pytest.skip(f"no PostgreSQL binaries to start a test server: {exc}")
    with running_cluster() as server:
        server.create_database(DB_NAME)
        stop_store(server, "fast")
        start_store(server)
        yield server


@pytest.fixture(scope="module")
def db(cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The store on that server, migrated to head."""
    settings = load_settings(
        database_url=cluster.url(DB_NAME),
        database_app_url=None,
        data_dir=tmp_path_factory.mktemp("outage-data"),
    )
    database = Database(settings)
    try:
        migrate.upgrade(database)
        yield database
    finally:
        database.dispose()


@pytest.fixture(scope="module")
def org(db: Database) -> uuid.UUID:
    """An organisation of its own."""
    with db.owner_session() as session:
        return orgs.create_org(session=session, name=f"outage-{uuid.uuid4().hex[:10]}").id


@pytest.fixture(scope="module")
def key(db: Database, org: uuid.UUID) -> str:
    """An admin key of that organisation (creating keys needs one)."""
    return create_key(db, org, "admin")


# --------------------------------------------------------------------------- the service


@pytest.fixture(scope="module")
def base_url(db: Database) -> Iterator[str]:
    """The app served by uvicorn in a thread on a loopback port."""
    app = create_app(
        database=db,
        api_settings=ApiSettings(rate_limit_per_minute=1_000_000, rate_limit_burst=100_000),
        warm_models=False,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


# --------------------------------------------------------------------------- the load


@dataclass
class Outcome:
    """One request as the client saw it."""

    kind: str  # write, read, price, ready
    sent: float
    done: float
    status: int | None  # None: no HTTP answer (timeout, connection error)
    content_type: str = ""
    retry_after: str | None = None
    token: str | None = None  # a write's key name
    secret: str | None = None  # the key a write created, when acknowledged
    error: str | None = None
    body: str = ""

    @property
    def seconds(self) -> float:
        """How long the request took."""
        return self.done - self.sent


@dataclass
class Load:
    """Client threads sending requests until told to stop."""

    base_url: str
    key: str
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _send(self, client: httpx.Client, kind: str) -> None:
        token = f"{NAME_PREFIX}{uuid.uuid4().hex}" if kind == "write" else None
        sent = time.monotonic()
        try:
            if kind == "write":
                response = client.post(WRITE_PATH, json={"name": token, "role": "viewer"})
            elif kind == "read":
                response = client.get(READ_PATH)
            elif kind == "price":
                # A real route: auth, tenant transaction, the tool's item look-up (the
                # organisation has no items, so 404 is its answer while the store is up).
                response = client.post(PRICE_PATH, json={"item": "NO-SUCH-ITEM", "quantity": 1})
            else:
                response = client.get("/ready")
        except httpx.HTTPError as exc:
            self._record(Outcome(kind, sent, time.monotonic(), None, token=token, error=repr(exc)))
            return
        done = time.monotonic()
        secret = response.json().get("secret") if response.status_code == 201 else None
        self._record(
            Outcome(
                kind,
                sent,
                done,
                response.status_code,
                content_type=response.headers.get("content-type", ""),
                retry_after=response.headers.get("retry-after"),
                token=token,
                secret=secret,
                body=response.text[:2000],
            )
        )

    def _loop(self, kinds: tuple[str, ...]) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(
            base_url=self.base_url, headers=headers, timeout=CLIENT_TIMEOUT
        ) as client:
            n = 0
            while not self.stop.is_set():
                self._send(client, kinds[n % len(kinds)])
                n += 1
                time.sleep(0.005)  # a busy client, not a flood

    def start(self) -> None:
        """Two writers and two readers (reads, a real API route, readiness)."""
        for kinds in (("write",), ("write",), ("read", "price"), ("ready", "read")):
            thread = threading.Thread(target=self._loop, args=(kinds,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def finish(self) -> list[Outcome]:
        """Stop the clients; return every outcome in order of sending."""
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=CLIENT_TIMEOUT + 5)
            assert not thread.is_alive(), "a client thread hung"
        return sorted(self.outcomes, key=lambda o: o.sent)


def first_success_after(outcomes: list[Outcome], moment: float) -> float | None:
    """When the first write sent after ``moment`` was acknowledged."""
    for o in outcomes:
        if o.kind == "write" and o.sent >= moment and o.status is not None and o.status < 300:
            return o.done
    return None


def wait_for_write(outcomes_of: Load, moment: float, bound: float) -> float | None:
    """Wait up to ``bound`` seconds for a write sent after ``moment`` to succeed."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        with outcomes_of._lock:
            done = first_success_after(sorted(outcomes_of.outcomes, key=lambda o: o.sent), moment)
        if done is not None:
            return done
        time.sleep(0.05)
    return None


def describe(outcomes: list[Outcome]) -> str:
    """A short listing of outcomes for failure messages."""
    return "\n".join(
        f"  {o.kind} {o.status} after {o.seconds:.2f} s {o.error or ''} {o.body[:300]}"
        for o in outcomes[:10]
    )


def rows_per_write(db: Database) -> dict[str, tuple[int, int]]:
    """For each key name the writes used: (key rows, audit entries of its creation)."""
    with db.owner_session() as session:
        keys = session.execute(
            text("SELECT name, count(*) AS n FROM api_keys WHERE name LIKE :p GROUP BY 1"),
            {"p": NAME_PREFIX + "%"},
        ).all()
        entries = session.execute(
            text(
                "SELECT details->>'name' AS name, count(*) AS n FROM audit_log "
                "WHERE action = 'api_key.create' AND details->>'name' LIKE :p GROUP BY 1"
            ),
            {"p": NAME_PREFIX + "%"},
        ).all()
    found: dict[str, tuple[int, int]] = {}
    for row in keys:
        found[row.name] = (int(row.n), 0)
    for row in entries:
        found[row.name] = (found.get(row.name, (0, 0))[0], int(row.n))
    return found


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_store_outage_under_load(
    mode: str,
    cluster: PgCluster,
    db: Database,
    key: str,
    base_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    load = Load(base_url, key)
    load.start()
    try:
        time.sleep(UP_SECONDS)
        stop_store(cluster, mode)
        down_from = time.monotonic()
        time.sleep(DOWN_SECONDS)
        down_until = time.monotonic()
        start_store(cluster)
        restarted = time.monotonic()
        recovered = wait_for_write(load, restarted, RECOVERY_BOUND)
        time.sleep(UP_SECONDS)
    finally:
        outcomes = load.finish()

    # Nothing failed as a bug (a 500 logs its traceback), every request got an HTTP
    # answer in bounded time, and each answer was the one its state allows.
    bugs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bugs, "errors logged:\n" + "\n".join(
        f"{r.getMessage()}\n{r.exc_text or ''}" for r in bugs
    )
    unanswered = [o for o in outcomes if o.status is None]
    assert not unanswered, f"requests with no answer:\n{describe(unanswered)}"
    slow = [o for o in outcomes if o.seconds > REQUEST_BOUND]
    assert not slow, f"requests slower than {REQUEST_BOUND} s:\n{describe(slow)}"
    expected = {"write": {201, 503}, "read": {200, 503}, "price": {404, 503}, "ready": {200, 503}}
    wrong = [o for o in outcomes if o.status not in expected[o.kind]]
    assert not wrong, f"unexpected answers (expected 2xx/404 or 503):\n{describe(wrong)}"

    # A 503 from an API route is problem+json with Retry-After; /ready says which check.
    for o in outcomes:
        if o.status != 503:
            continue
        if o.kind == "ready":
            # The store may go between /ready's checks: then the schema check says so.
            checks = json.loads(o.body)["checks"]
            failing = [v for k, v in checks.items() if k in ("store", "schema") and v != "ok"]
            assert failing, o.body
        else:
            assert o.content_type.startswith("application/problem+json"), o
            assert o.retry_after is not None, o
            assert int(o.retry_after) > 0, o

    # While the store was down, everything that needs it was refused.
    during = [o for o in outcomes if o.sent >= down_from and o.done <= down_until]
    assert {o.kind for o in during} == set(expected), "too few requests during the outage"
    served = [o for o in during if o.status != 503]
    assert not served, f"answered without a store:\n{describe(served)}"

    # It came back within the bound, and nothing failed after it settled.
    assert recovered is not None, (
        f"no write succeeded within {RECOVERY_BOUND} s of the store's restart\n"
        f"{describe([o for o in outcomes if o.sent >= restarted])}\n{cluster.log_tail()}"
    )
    after = [o for o in outcomes if o.sent >= recovered + SETTLE]
    assert len(after) > 10, "too few requests after recovery"
    failed_after = [o for o in after if o.status == 503]
    assert not failed_after, f"503 after recovery:\n{describe(failed_after)}"

    # No acknowledged write lost; no write half there; acknowledged keys work.
    stored = rows_per_write(db)
    writes = [o for o in outcomes if o.kind == "write"]
    acknowledged = {o.token for o in writes if o.status == 201 and o.token}
    before = [o for o in writes if o.status == 201 and o.done < down_from]
    assert before, "no write was acknowledged before the outage"
    assert len(acknowledged) > len(before), "no write was acknowledged after the outage"
    lost = sorted(t for t in acknowledged if stored.get(t) != (1, 1))
    assert not lost, f"{len(lost)} acknowledged writes lost or partial: {lost[:5]}"
    half = {t: n for t, n in stored.items() if n != (1, 1)}
    assert not half, f"writes half there (key rows, audit entries): {half}"
    refused = [o for o in writes if o.status == 503]
    assert refused, "no write was refused during the outage"
    last_before = before[-1].secret
    assert last_before is not None
    answer = httpx.get(
        base_url + READ_PATH, headers={"Authorization": f"Bearer {last_before}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
