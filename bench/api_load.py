"""Benchmark the HTTP service under load: the price endpoint against a constant route.

What is measured
    The real service, started as a deployment starts it: uvicorn (uvloop, httptools) in a
    separate process on a loopback port, serving ``api.create_app()`` (same factory, same
    middleware, error handlers and start-up model warm-up) over an embedded store that
    holds the INDOT sample with a trained, active price model. Traffic starts once
    ``/ready`` says the models are loaded.

    ``POST /api/v1/predictions/price`` is driven by ``--connections`` (default 32)
    concurrent keep-alive clients for ``--seconds`` (default 30), each sending its next
    request as soon as the previous answer arrives. What varies: the item (the
    ``--items`` most-quoted items of the sample, default 12), the quantity (the 25th, 50th
    and 75th percentile of that item's quoted quantities) and the API key (one of 4 keys
    of the organisation), in a fixed shuffled order, so no single cached answer can
    flatter the figure. Every answer's status is checked: 2xx counts as served; non-2xx,
    timeouts (``--timeout``) and connection errors are counted separately.

The reference
    ``POST /bench/constant`` on the same app, in the same server process (see
    ``bench.api_load_app``): a constant JSON object behind the same uvicorn, middleware,
    routing and JSON rendering, with the same request bytes on the wire. It does not
    authenticate and does not touch the store: it is the floor of any route of this app
    on this machine. The ratio printed is price requests/s over constant requests/s (aim
    at least 0.3), with p95 latency of the price route (aim under 50 ms).

    A third route, ``POST /bench/constant-auth`` (skip with ``--no-floor``), answers the
    same constant behind the real tenant dependency (key look-up in the store, rate
    limit, a tenant transaction opened and committed): the part of a price request that is
    authentication and store round trips, before the prediction starts.

Project and reference runs alternate ``--repeat`` times (default 3); every run is listed
and the best and median reported: the machine is shared (2 cores), and other work slows
whichever run it overlaps. After each server start every route is warmed for
``--warmup`` seconds, not counted.

Fair play on 2 cores: the load generator runs in its own process and its CPU use is
reported ("client cores"), next to the server's (uvicorn processes) and PostgreSQL's,
so a reader can see how much of the machine each took. The default generator is
``bench.loadgen`` (asyncio on uvloop, responses parsed by httptools, every latency
recorded); it took 0.01-0.09 cores here. ``--client wrk`` (Debian's package, one thread,
percentiles from its histogram through a Lua ``done()``) is there to cross-check, but
its latencies failed Little's law on this machine (mean latency x requests/s came to 1.0
to 1.2 times the 32 connections of a closed loop on the price route, but 3 to 11 times on
the fast routes), so its percentiles are not trusted. Every
run prints that check for whichever generator ran (1.00 is exact).

The per-key rate limit is raised for the run (``PRICING_AGENT_API_RATE_LIMIT_PER_MINUTE``):
this measures throughput, not the limiter. The access log is off. ``--workers`` defaults
to 2 (one per core): every route served more requests/s with 2 workers than with 1 here
(1.1 to 2.6 times, by route and run; the price route's p95 about the same). With more
than 1, ``PROMETHEUS_MULTIPROC_DIR`` is set, as ``pricing-agent serve --workers N`` does.
With 2, uvicorn's workers share one listening socket and the 32 connections do not split
evenly between them, which shows as a very low p50 next to a much higher p95.

Soak (``--soak [SECONDS]``, default 300): the price route alone at a fixed rate
(``--rate``, default 50 requests/s, scheduled, so latency includes any queueing), with
the resident memory (RSS) of the server's processes sampled every ``--sample-every``
seconds; it prints start, end and peak RSS, the growth per minute over the whole soak
and over its second half, and whether the growth levels off.

The store lives in a reusable data folder (``--data-dir``, default the user cache folder):
the first run loads the sample and trains the price model (a few minutes); later runs
reuse it and start in seconds. Fresh API keys are made for each run and revoked after.

    python -m bench.api_load [--workers 2] [--seconds 30] [--connections 32] [--repeat 3]
                             [--client python|wrk] [--no-floor] [--json]
    python -m bench.api_load --soak [300] [--rate 50]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import psutil
from rich.console import Console
from sqlalchemy import select, text

from bench.api_load_app import AUTH_FLOOR_PATH, REFERENCE_PATH
from bench.loadgen import Spec
from core.settings import Settings, load_settings
from store import migrate, orgs, registry
from store.db import Database
from store.models import QuoteLine

HOST = "127.0.0.1"
PRICE_PATH = "/api/v1/predictions/price"
ORG_NAME = "bench-api-load"
DB_NAME = "pricing_bench"
KEYS = 4
AIM_P95_MS = 50.0
AIM_RATIO = 0.3
LEVEL_MIB_PER_MIN = 0.5
"""Second-half RSS growth under this many MiB a minute counts as levelled off."""

TARGETS = {"price": PRICE_PATH, "constant": REFERENCE_PATH, "auth floor": AUTH_FLOOR_PATH}


def log(message: str) -> None:
    """Say what the benchmark is doing, on stderr."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def default_data_dir() -> Path:
    """The reusable data folder: the user cache folder (the store is rebuilt if lost)."""
    return Path(platformdirs.user_cache_dir("pricing-agent", appauthor=False)) / "bench-api-load"


# --------------------------------------------------------------------------- the store


def bench_settings(data_dir: Path) -> Settings:
    """Settings of the bench's own embedded store."""
    return load_settings(
        database_url=None, database_app_url=None, data_dir=data_dir, db_name=DB_NAME
    )


def prepare_store(db: Database) -> uuid.UUID:
    """Migrate; load the sample and train the price model unless already done."""
    migrate.upgrade(db)
    with db.owner_session() as session:
        org, _ = orgs.get_or_create_org(session=session, name=ORG_NAME)
        org_id = org.id
    with db.session_scope(org_id) as session:
        has_data = session.scalar(select(QuoteLine.id).limit(1)) is not None
        has_model = registry.active(session=session, org_id=org_id, kind="price") is not None
    if not has_data:
        from ui.demo import load_sample_data

        log("loading the INDOT sample (first run only)")
        load_sample_data(db, org_id, Console(stderr=True))
    if not has_model:
        from tools.training import train_price

        log("training the price model (first run only)")
        with db.session_scope(org_id) as session:
            trained = train_price(session=session, org_id=org_id, actor="bench")
        log(trained.summary())
    return org_id


_ITEMS = text(
    """
    SELECT i.code,
           percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY ql.quantity) AS qs
    FROM quote_lines ql JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id
    WHERE ql.unit = i.unit
    GROUP BY i.code
    ORDER BY count(*) DESC, i.code
    LIMIT :n
    """
)


def request_bodies(db: Database, org_id: uuid.UUID, items: int) -> list[dict[str, Any]]:
    """Price requests: the most-quoted items, each at three real quantities."""
    bodies = []
    with db.session_scope(org_id) as session:
        for row in session.execute(_ITEMS, {"n": items}):
            for quantity in dict.fromkeys(round(float(q), 2) for q in row.qs):
                if quantity > 0:
                    bodies.append({"item": row.code, "quantity": quantity})
    return bodies


@contextlib.contextmanager
def api_keys(db: Database, org_id: uuid.UUID, count: int) -> Iterator[list[str]]:
    """Fresh buyer keys for this run; revoked afterwards."""
    made: list[tuple[int, str]] = []
    with db.session_scope(org_id) as session:
        for n in range(count):
            key, secret = orgs.create_api_key(
                session=session, org_id=org_id, name=f"bench-{n}", role="buyer", actor="bench"
            )
            made.append((key.id, secret))
    try:
        yield [secret for _, secret in made]
    finally:
        with db.session_scope(org_id) as session:
            for key_id, _ in made:
                orgs.revoke_api_key(session=session, org_id=org_id, key_id=key_id, actor="bench")


def raw_request(path: str, body: dict[str, Any], key: str) -> bytes:
    """One complete HTTP/1.1 keep-alive request."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode("latin-1") + payload


def request_mix(path: str, bodies: list[dict[str, Any]], keys: list[str]) -> list[bytes]:
    """Every body with every key, in a fixed shuffled order."""
    mix = [raw_request(path, body, key) for body in bodies for key in keys]
    random.Random(20260601).shuffle(mix)
    return mix


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post(port: int, path: str, body: dict[str, Any], key: str) -> tuple[int, bytes]:
    """One POST with a fresh connection (checks, not load)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Server:
    """The service in its own process tree (uvicorn; with workers, a supervisor)."""

    process: subprocess.Popen[bytes]
    port: int
    workers: int
    log_path: Path

    def processes(self) -> list[psutil.Process]:
        """The uvicorn processes alive now (supervisor and workers)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_bytes(self) -> int:
        """Resident memory of all the server's processes."""
        total = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's output."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _server_env(settings: Settings, workers: int, metrics_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"}
    }
    env.update(
        DATABASE_URL="",
        DATABASE_APP_URL="",
        PRICING_AGENT_DATA_DIR=str(settings.data_dir),
        PRICING_AGENT_DB_NAME=settings.db_name,
        PRICING_AGENT_EMBEDDINGS="local",
        PRICING_AGENT_API_RATE_LIMIT_PER_MINUTE="100000000",
        PRICING_AGENT_API_RATE_LIMIT_BURST="1000000",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if workers > 1:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    return env


@contextlib.contextmanager
def running_server(settings: Settings, workers: int, port: int = 0) -> Iterator[Server]:
    """Start uvicorn with the bench app factory; wait for /ready; stop it afterwards."""
    port = port or _free_port()
    scratch = Path(tempfile.mkdtemp(prefix="pricing-bench-api-"))
    (scratch / "metrics").mkdir()
    log_path = scratch / "server.log"
    command = [
        sys.executable, "-m", "uvicorn", "bench.api_load_app:create", "--factory",
        "--host", HOST, "--port", str(port), "--workers", str(workers),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=_server_env(settings, workers, scratch / "metrics"),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[1],
        )
    server = Server(process=process, port=port, workers=workers, log_path=log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def _wait_ready(server: Server, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the server exited ({server.process.returncode}):\n{server.log_tail()}"
            )
        try:
            # Each worker warms its own models; with several, ask until all have said
            # ready at least once (connections land on workers at random).
            ready = 0
            for _ in range(4 * server.workers):
                status, body = _get(server.port, "/ready")
                last = f"{status} {body[:300]!r}"
                ready += status == 200
            if ready == 4 * server.workers:
                return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"the server was not ready in {timeout:.0f} s: {last}\n{server.log_tail()}")


# --------------------------------------------------------------------------- CPU


def _tree_cpu(root: psutil.Process) -> float:
    """CPU seconds of ``root``, its live descendants and its reaped children."""
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
            if proc.pid == root.pid:
                total += times.children_user + times.children_system
    return total


def _postmaster(settings: Settings) -> psutil.Process | None:
    pid_file = settings.data_dir / "pgdata" / "postmaster.pid"
    try:
        return psutil.Process(int(pid_file.read_text().split()[0]))
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return None


@dataclass
class CpuMeter:
    """CPU seconds used by the server and by PostgreSQL between start and stop."""

    server: Server
    postgres: psutil.Process | None
    start: tuple[float, float] = (0.0, 0.0)

    def _read(self) -> tuple[float, float]:
        uvicorn = sum(_tree_cpu(p) for p in self.server.processes()[:1])
        pg = _tree_cpu(self.postgres) if self.postgres is not None else 0.0
        return uvicorn, pg

    def __enter__(self) -> CpuMeter:
        self.start = self._read()
        return self

    def seconds(self) -> tuple[float, float]:
        """(server, postgres) CPU seconds since entering."""
        now = self._read()
        return now[0] - self.start[0], now[1] - self.start[1]

    def __exit__(self, *exc: object) -> None:
        return None


# --------------------------------------------------------------------------- clients


def client_choice(requested: str) -> str:
    """The load generator to use; wrk only when installed."""
    if requested == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk), or use --client python")
    return requested


def run_python_client(spec: Spec) -> dict[str, Any]:
    """Run ``bench.loadgen`` in its own process; return its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        input=json.dumps(spec.to_json()).encode(),
        capture_output=True,
        check=False,
        timeout=spec.seconds + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


_WRK_SCRIPT = """
local requests = %s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {}; n = 0 end
function request() n = n + 1; return requests[(n %% #requests) + 1] end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do counts[k] = (counts[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(counts) do table.insert(parts, string.format('"%%d":%%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    '\\nWRK-JSON {"requests":%%d,"duration_us":%%d,"statuses":{%%s},' ..
    '"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,' ..
    '"p50":%%d,"p90":%%d,"p95":%%d,"p99":%%d,"p99.9":%%d,"mean":%%f,"max":%%d}\\n',
    summary.requests, summary.duration, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9), latency.mean, latency.max))
end
"""


def _lua_string(raw: bytes) -> str:
    # JSON's escapes (\\r, \\n, \\", \\\\) are valid Lua; the requests are plain ASCII.
    return json.dumps(raw.decode("ascii"))


def run_wrk(spec: Spec) -> dict[str, Any]:
    """Run wrk (one thread) with a Lua script cycling through the requests."""
    table = "{" + ",".join(_lua_string(r) for r in spec.requests) + "}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(_WRK_SCRIPT % table)
        script = fh.name
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{spec.connections}",
                f"-d{spec.seconds:g}s",
                f"--timeout={spec.timeout:g}s",
                "-s",
                script,
                f"http://{HOST}:{spec.port}",
            ],
            capture_output=True,
            check=False,
            timeout=spec.seconds + 120,
        )
    finally:
        os.unlink(script)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = done.stdout.decode(errors="replace")
    marker = [line for line in out.splitlines() if line.startswith("WRK-JSON ")]
    if done.returncode != 0 or not marker:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{out}\n{done.stderr.decode()}")
    raw = json.loads(marker[-1].removeprefix("WRK-JSON "))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    statuses = {str(k): int(v) for k, v in sorted(raw["statuses"].items(), key=lambda kv: kv[0])}
    ok = sum(v for k, v in statuses.items() if 200 <= int(k) < 300)
    responses = sum(statuses.values())
    seconds = raw["duration_us"] / 1e6
    return {
        "mode": "closed",
        "loop": "wrk",
        "connections": spec.connections,
        "seconds": seconds,
        "responses": responses,
        "ok": ok,
        "requests_per_s": responses / seconds if seconds > 0 else 0.0,
        "latency_ms": {
            k: raw[k] / 1000.0 for k in ("p50", "p90", "p95", "p99", "p99.9", "mean", "max")
        },
        "statuses": statuses,
        "non_2xx": responses - ok,
        "timeouts": raw["timeout"],
        "connection_errors": raw["connect"] + raw["read"] + raw["write"],
        "late_starts": 0,
        "client_cpu_seconds": cpu,
        "client_cores": cpu / wall if wall > 0 else 0.0,
        "windows": [],
    }


def drive(client: str, spec: Spec) -> dict[str, Any]:
    """Run one load with the chosen generator."""
    return run_wrk(spec) if client == "wrk" else run_python_client(spec)


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One measured load on one route."""

    target: str
    workers: int
    attempt: int
    result: dict[str, Any]
    server_cores: float
    postgres_cores: float

    @property
    def rps(self) -> float:
        """Served (2xx) requests per second."""
        return float(self.result["ok"]) / float(self.result["seconds"])

    def latency(self, name: str) -> float:
        """A latency figure in milliseconds (nan when nothing was served)."""
        return float(self.result["latency_ms"].get(name, float("nan")))

    @property
    def little(self) -> float:
        """Mean latency x answers/s over connections: 1.0 for an exact closed-loop record."""
        r = self.result
        answers_per_s = float(r["responses"]) / float(r["seconds"])
        return self.latency("mean") / 1000.0 * answers_per_s / float(r["connections"])

    @property
    def errors(self) -> int:
        """Non-2xx answers, timeouts and connection errors."""
        r = self.result
        return int(r["non_2xx"]) + int(r["timeouts"]) + int(r["connection_errors"])

    def as_json(self) -> dict[str, Any]:
        """The run's figures."""
        return {
            "target": self.target,
            "path": TARGETS[self.target],
            "workers": self.workers,
            "attempt": self.attempt,
            "requests_per_s": round(self.rps, 1),
            "latency_ms": {k: round(v, 2) for k, v in self.result["latency_ms"].items()},
            "responses": self.result["responses"],
            "statuses": self.result["statuses"],
            "non_2xx": self.result["non_2xx"],
            "timeouts": self.result["timeouts"],
            "connection_errors": self.result["connection_errors"],
            "client_cores": round(self.result["client_cores"], 3),
            "server_cores": round(self.server_cores, 3),
            "postgres_cores": round(self.postgres_cores, 3),
            "little": round(self.little, 3),
        }


@dataclass
class Options:
    """What to run."""

    seconds: float
    connections: int
    repeat: int
    warmup: float
    timeout: float
    client: str
    floor: bool


def check_routes(server: Server, bodies: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Send each price body once; keep those answered 200 (say which were not)."""
    kept = []
    for body in bodies:
        status, raw = post(server.port, PRICE_PATH, body, key)
        if status == 200:
            kept.append(body)
        else:
            log(f"dropping {body}: {status} {raw[:200]!r}")
    for path in (REFERENCE_PATH, AUTH_FLOOR_PATH):
        status, raw = post(server.port, path, bodies[0], key)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {raw[:300]!r}")
    if not kept:
        raise RuntimeError("no price request was answered 200; see the messages above")
    return kept


def measure(
    server: Server,
    settings: Settings,
    mixes: dict[str, list[bytes]],
    options: Options,
) -> list[Run]:
    """Warm every route, then alternate the measured runs."""
    targets = [t for t in TARGETS if options.floor or t != "auth floor"]

    def spec(target: str, seconds: float) -> Spec:
        return Spec(
            host=HOST,
            port=server.port,
            requests=mixes[target],
            connections=options.connections,
            seconds=seconds,
            timeout=options.timeout,
        )

    for target in targets:
        log(f"workers={server.workers}: warming {target} for {options.warmup:g} s")
        drive(options.client, spec(target, options.warmup))
    runs: list[Run] = []
    postgres = _postmaster(settings)
    for attempt in range(1, options.repeat + 1):
        for target in targets:
            with CpuMeter(server, postgres) as meter:
                result = drive(options.client, spec(target, options.seconds))
                server_cpu, pg_cpu = meter.seconds()
            run = Run(
                target=target,
                workers=server.workers,
                attempt=attempt,
                result=result,
                server_cores=server_cpu / result["seconds"],
                postgres_cores=pg_cpu / result["seconds"],
            )
            runs.append(run)
            log(
                f"workers={server.workers} [{attempt}/{options.repeat}] {target:<10} "
                f"{run.rps:8.1f} req/s  p50 {run.latency('p50'):7.2f} ms  "
                f"p95 {run.latency('p95'):7.2f} ms  p99 {run.latency('p99'):7.2f} ms  "
                f"errors {run.errors}  client {result['client_cores']:.2f} cores  "
                f"server {run.server_cores:.2f}  postgres {run.postgres_cores:.2f}"
            )
    return runs


# --------------------------------------------------------------------------- report


@dataclass
class Summary:
    """Best and median of one route at one worker count."""

    target: str
    workers: int
    runs: list[Run]

    @property
    def best(self) -> Run:
        """The run with the most requests/s."""
        return max(self.runs, key=lambda r: r.rps)

    @property
    def median_rps(self) -> float:
        """Median requests/s over the runs."""
        return statistics.median(r.rps for r in self.runs)

    def median_latency(self, name: str) -> float:
        """Median over the runs of one latency figure."""
        return statistics.median(r.latency(name) for r in self.runs)

    @property
    def errors(self) -> int:
        """Errors over all runs."""
        return sum(r.errors for r in self.runs)


def summarise(runs: list[Run]) -> dict[tuple[int, str], Summary]:
    """Group the runs by worker count and route."""
    groups: dict[tuple[int, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.workers, run.target), []).append(run)
    return {key: Summary(key[1], key[0], value) for key, value in groups.items()}


def ratios(summaries: dict[tuple[int, str], Summary], workers: int) -> tuple[float, float]:
    """(best, median) price requests/s over constant requests/s at ``workers``."""
    price, constant = summaries[(workers, "price")], summaries[(workers, "constant")]
    return price.best.rps / constant.best.rps, price.median_rps / constant.median_rps


def report_lines(
    runs: list[Run], options: Options, setup: dict[str, Any], soak: dict[str, Any] | None
) -> list[str]:
    """The human report."""
    lines = [
        f"service  uvicorn + api.create_app on {HOST}, embedded PostgreSQL in "
        f"{setup['data_dir']}; {setup['bodies']} price bodies ({setup['items']} items x "
        f"3 quantities) x {KEYS} keys",
        f"machine  {os.cpu_count()} cores, load average {setup['load'][0]:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end (other work on the machine slows every figure)",
    ]
    if runs:
        lines.append(
            f"load     {options.connections} keep-alive clients, closed loop, "
            f"{options.seconds:g} s a run, {options.repeat} run(s) per route alternating, "
            f"client {options.client}"
        )
        summaries = summarise(runs)
        lines.append("")
        lines.append(
            f"{'workers':>7} {'route':<11} {'run':>4} {'req/s':>9} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'p99 ms':>8} {'errors':>6} {'client':>7} {'server':>7} "
            f"{'postgres':>8}"
        )
        for run in runs:
            lines.append(
                f"{run.workers:>7} {run.target:<11} {run.attempt:>4} {run.rps:>9.1f} "
                f"{run.latency('p50'):>8.2f} {run.latency('p95'):>8.2f} "
                f"{run.latency('p99'):>8.2f} {run.errors:>6} "
                f"{run.result['client_cores']:>7.2f} {run.server_cores:>7.2f} "
                f"{run.postgres_cores:>8.2f}"
            )
        lines.append("(client/server/postgres: cores busy on average during the run)")
        little = [r.little for r in runs]
        lines.append(
            f"check    Little's law, mean latency x answers/s / connections: "
            f"{min(little):.2f} to {max(little):.2f} (1.00 when every latency is recorded "
            f"faithfully in a closed loop)"
        )
        lines.append("")
        for workers in sorted({w for w, _ in summaries}):
            for target in TARGETS:
                summary = summaries.get((workers, target))
                if summary is None:
                    continue
                best = summary.best
                lines.append(
                    f"workers={workers} {target:<10} best {best.rps:8.1f} req/s "
                    f"(p50 {best.latency('p50'):.2f} / p95 {best.latency('p95'):.2f} / "
                    f"p99 {best.latency('p99'):.2f} ms); median {summary.median_rps:8.1f} "
                    f"req/s (p95 {summary.median_latency('p95'):.2f} ms); "
                    f"errors {summary.errors}"
                )
            best_ratio, median_ratio = ratios(summaries, workers)
            price = summaries[(workers, "price")]
            p95 = price.median_latency("p95")
            lines.append(
                f"workers={workers} ratio      {best_ratio:.3f} best, {median_ratio:.3f} median "
                f"(price / constant; aim >= {AIM_RATIO}: "
                f"{'met' if median_ratio >= AIM_RATIO else 'NOT met'}); "
                f"price p95 median {p95:.2f} ms (aim < {AIM_P95_MS:g} ms: "
                f"{'met' if p95 < AIM_P95_MS else 'NOT met'})"
            )
    if soak is not None:
        lines.append("")
        lines.extend(soak_lines(soak))
    return lines


# --------------------------------------------------------------------------- soak


def _slope_mib_per_min(samples: list[tuple[float, int]]) -> float:
    if len(samples) < 2:
        return 0.0
    xs = [t / 60.0 for t, _ in samples]
    ys = [rss / (1 << 20) for _, rss in samples]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var


def soak(
    server: Server, mix: list[bytes], seconds: float, rate: float, every: float, timeout: float
) -> dict[str, Any]:
    """Fixed-rate load on the price route while sampling the server's RSS."""
    spec = Spec(
        host=HOST,
        port=server.port,
        requests=mix,
        connections=32,
        seconds=seconds,
        mode="rate",
        rate=rate,
        timeout=timeout,
    )
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(spec.to_json()).encode())
    process.stdin.close()
    next_sample = started
    while process.poll() is None:
        now = time.monotonic()
        if now >= next_sample:
            samples.append((now - started, server.rss_bytes()))
            elapsed = now - started
            if len(samples) % max(1, int(60 / every)) == 1:
                log(
                    f"soak {elapsed:5.0f}/{seconds:g} s: server RSS "
                    f"{samples[-1][1] / (1 << 20):.1f} MiB"
                )
            next_sample += every
        time.sleep(min(0.2, max(0.0, next_sample - time.monotonic())))
    samples.append((time.monotonic() - started, server.rss_bytes()))
    assert process.stdout is not None
    assert process.stderr is not None
    out, err = process.stdout.read(), process.stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"the soak load generator failed:\n{err.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(out)
    half = samples[len(samples) // 2 :]
    rss = [value for _, value in samples]
    second_half = _slope_mib_per_min([(t - half[0][0], v) for t, v in half])
    return {
        "seconds": seconds,
        "rate": rate,
        "workers": server.workers,
        "sample_every": every,
        "rss_mib": {
            "start": rss[0] / (1 << 20),
            "end": rss[-1] / (1 << 20),
            "peak": max(rss) / (1 << 20),
            "after_first_minute": next((v for t, v in samples if t >= 60), rss[-1]) / (1 << 20),
        },
        "growth_mib_per_min": _slope_mib_per_min(samples),
        "second_half_growth_mib_per_min": second_half,
        "levels_off": second_half < LEVEL_MIB_PER_MIN,
        "samples": [(round(t, 1), round(v / (1 << 20), 2)) for t, v in samples],
        "load": result,
    }


def soak_lines(s: dict[str, Any]) -> list[str]:
    """The human report of the soak."""
    load, rss = s["load"], s["rss_mib"]
    lat = load["latency_ms"]
    errors = load["non_2xx"] + load["timeouts"] + load["connection_errors"]
    lines = [
        f"soak     {s['seconds']:g} s at {s['rate']:g} req/s scheduled (workers={s['workers']}): "
        f"{load['ok']:,} served, {errors} errors, {load['requests_per_s']:.1f} req/s; "
        f"latency from the scheduled time p50 {lat.get('p50', float('nan')):.2f} / "
        f"p95 {lat.get('p95', float('nan')):.2f} / p99 {lat.get('p99', float('nan')):.2f} ms; "
        f"{load['late_starts']} requests waited for a connection; client "
        f"{load['client_cores']:.2f} cores",
        f"RSS      start {rss['start']:.1f} MiB, after 1 min {rss['after_first_minute']:.1f}, "
        f"end {rss['end']:.1f}, peak {rss['peak']:.1f} (all server processes, sampled every "
        f"{s['sample_every']:g} s)",
        f"growth   {s['growth_mib_per_min']:+.2f} MiB/min over the soak, "
        f"{s['second_half_growth_mib_per_min']:+.2f} MiB/min over its second half: "
        + (
            f"levels off (< {LEVEL_MIB_PER_MIN} MiB/min)"
            if s["levels_off"]
            else f"still growing (>= {LEVEL_MIB_PER_MIN} MiB/min)"
        ),
    ]
    for window in load["windows"]:
        lines.append(
            f"  minute {window['window'] + 1}: {window['requests']:,} answers, "
            f"p50 {window.get('p50', float('nan')):.2f} / p95 {window.get('p95', float('nan')):.2f}"
            f" / p99 {window.get('p99', float('nan')):.2f} ms"
        )
    return lines


# --------------------------------------------------------------------------- main


def emit(
    runs: list[Run],
    options: Options,
    setup: dict[str, Any],
    soak_result: dict[str, Any] | None,
    bodies: list[dict[str, Any]],
    *,
    as_json: bool,
) -> None:
    """Print the report; with ``as_json`` the JSON on stdout and the table on stderr."""
    human = report_lines(runs, options, setup, soak_result)
    if not as_json:
        print("\n".join(human))
        return
    print("\n".join(human), file=sys.stderr)
    summaries = summarise(runs)
    print(
        json.dumps(
            {
                "client": options.client,
                "connections": options.connections,
                "seconds": options.seconds,
                "bodies": bodies,
                "runs": [r.as_json() for r in runs],
                "ratio": {
                    str(w): dict(zip(("best", "median"), ratios(summaries, w), strict=True))
                    for w in sorted({w for w, _ in summaries})
                },
                "soak": soak_result,
            }
        )
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.api_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="reusable store folder")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[2],
        help="uvicorn worker counts to measure (default 2: one per core measured best here)",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent clients")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs per route")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per route")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a timeout")
    parser.add_argument("--items", type=int, default=12, help="most-quoted items to vary over")
    parser.add_argument(
        "--client", choices=["python", "wrk"], default="python", help="load generator"
    )
    parser.add_argument(
        "--no-floor", dest="floor", action="store_false", help="skip the constant-auth route"
    )
    parser.add_argument(
        "--soak",
        type=float,
        nargs="?",
        const=300.0,
        default=None,
        help="also (or with --no-load, only) soak the price route for SECONDS (default 300)",
    )
    parser.add_argument(
        "--no-load", dest="load", action="store_false", help="skip the concurrent runs"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="soak requests per second")
    parser.add_argument("--sample-every", type=float, default=5.0, help="soak RSS sampling")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the benchmark, print the figures."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.repeat < 1 or args.connections < 1 or min(args.workers) < 1:
        parser.error("--seconds, --repeat, --connections and --workers must be positive")
    if not args.load and args.soak is None:
        parser.error("--no-load needs --soak")

    options = Options(
        seconds=args.seconds,
        connections=args.connections,
        repeat=args.repeat,
        warmup=args.warmup,
        timeout=args.timeout,
        client=client_choice(args.client),
        floor=args.floor,
    )
    data_dir = (args.data_dir or default_data_dir()).resolve()
    load_start = os.getloadavg()
    os.environ.setdefault("PRICING_AGENT_EMBEDDINGS", "local")
    settings = bench_settings(data_dir)
    db = Database(settings)
    log(f"store: {db.describe()}")
    started = time.perf_counter()
    org_id = prepare_store(db)
    log(f"store ready in {time.perf_counter() - started:.1f} s")
    bodies = request_bodies(db, org_id, args.items)
    runs: list[Run] = []
    soak_result: dict[str, Any] | None = None
    try:
        with api_keys(db, org_id, KEYS) as keys:
            for workers in args.workers if args.load else []:
                with running_server(settings, workers) as server:
                    log(f"workers={workers}: server ready on port {server.port}")
                    bodies = check_routes(server, bodies, keys[0])
                    mixes = {t: request_mix(p, bodies, keys) for t, p in TARGETS.items()}
                    runs += measure(server, settings, mixes, options)
            if args.soak is not None:
                workers = args.workers[0]
                with running_server(settings, workers) as server:
                    bodies = check_routes(server, bodies, keys[0])
                    log(f"soak: {args.soak:g} s at {args.rate:g} req/s, workers={workers}")
                    soak_result = soak(
                        server,
                        request_mix(PRICE_PATH, bodies, keys),
                        args.soak,
                        args.rate,
                        args.sample_every,
                        args.timeout,
                    )
    finally:
        db.dispose()
    setup = {
        "data_dir": str(data_dir),
        "items": len({b["item"] for b in bodies}),
        "bodies": len(bodies),
        "load": load_start,
    }
    emit(runs, options, setup, soak_result, bodies, as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
