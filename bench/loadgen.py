"""A lean HTTP/1.1 load generator for ``bench.api_load``, run in its own process.

It keeps ``connections`` keep-alive connections to one loopback server and sends
pre-encoded requests over them (asyncio protocols on uvloop, responses parsed by
httptools, the parser uvicorn itself uses), recording the latency of every response.

Two modes:

``closed``
    each connection sends its next request as soon as the previous answer arrives, for
    ``seconds`` (the classic "N concurrent clients" load). Requests still in flight at
    the end are not counted.
``rate``
    requests are scheduled at a fixed rate; each goes out on the next idle connection.
    Latency is measured from the *scheduled* time, so a server that falls behind is
    charged for the queueing it causes (no coordinated omission).

It reads a JSON spec on stdin and prints one JSON result on stdout:
``python -m bench.loadgen < spec.json``. The result includes the process's own CPU time,
so the caller can tell how much of the machine the load generator took.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, cast

import httptools
import numpy as np

PERCENTILES = (50, 90, 95, 99, 99.9)


@dataclass
class Spec:
    """What to send, how, and for how long."""

    host: str
    port: int
    requests: list[bytes]  # complete HTTP/1.1 requests, used round-robin
    connections: int = 32
    seconds: float = 30.0
    mode: str = "closed"  # "closed" or "rate"
    rate: float = 0.0  # requests per second in "rate" mode
    timeout: float = 10.0  # seconds before a request counts as timed out
    window: float = 60.0  # seconds per latency window in the result

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Spec:
        """From the JSON spec (requests as latin-1 strings)."""
        raw = dict(raw)
        raw["requests"] = [r.encode("latin-1") for r in raw["requests"]]
        return cls(**raw)

    def to_json(self) -> dict[str, Any]:
        """For the subprocess's stdin."""
        out = dict(self.__dict__)
        out["requests"] = [r.decode("latin-1") for r in self.requests]
        return out


@dataclass
class Tally:
    """Everything recorded during a run."""

    latencies_ns: array[int] = field(default_factory=lambda: array("q"))
    stamps_ns: array[int] = field(default_factory=lambda: array("q"))  # completion times
    statuses: array[int] = field(default_factory=lambda: array("h"))  # HTTP status codes
    timeouts: int = 0
    connection_errors: int = 0
    late_starts: int = 0  # rate mode: requests that waited for an idle connection


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``request`` sends and waits for the whole answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[int] | None = None
        self.lost = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._fail(ConnectionError("connection closed by the server"))

    # httptools callbacks
    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.parser.get_status_code())

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def request(self, payload: bytes, timeout: float) -> int:
        """Send ``payload``; return the response's status code."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.transport.write(payload)
        handle = loop.call_later(timeout, self._timeout)
        try:
            return await self.waiter
        finally:
            handle.cancel()

    def _timeout(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(TimeoutError())
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        """Close the connection."""
        if self.transport is not None:
            self.transport.close()


async def _connect(spec: Spec) -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(Connection, spec.host, spec.port)
    return protocol


async def _exchange(
    conn: Connection | None, spec: Spec, payload: bytes, started: int, tally: Tally
) -> Connection | None:
    """One request on ``conn`` (reconnecting if needed); record it; return the connection."""
    try:
        if conn is None or conn.lost:
            conn = await _connect(spec)
        status = await conn.request(payload, spec.timeout)
    except TimeoutError:
        tally.timeouts += 1
        return None
    except (ConnectionError, OSError, httptools.HttpParserError):
        tally.connection_errors += 1
        if conn is not None:
            conn.close()
        return None
    done = time.perf_counter_ns()
    tally.latencies_ns.append(done - started)
    tally.stamps_ns.append(done)
    tally.statuses.append(status)
    return conn


async def _closed(spec: Spec, tally: Tally) -> float:
    """Every connection sends back to back until the time is up; return the seconds run."""
    conns: list[Connection | None] = list(
        await asyncio.gather(*(_connect(spec) for _ in range(spec.connections)))
    )
    begin = time.perf_counter_ns()
    deadline = begin + int(spec.seconds * 1e9)
    count = len(spec.requests)

    async def client(index: int) -> None:
        conn = conns[index]
        n = index * 7  # spread the connections over the request list
        while True:
            started = time.perf_counter_ns()
            if started >= deadline:
                break
            conn = await _exchange(conn, spec, spec.requests[n % count], started, tally)
            n += 1
        conns[index] = conn

    await asyncio.gather(*(client(i) for i in range(spec.connections)))
    for conn in conns:
        if conn is not None:
            conn.close()
    # Only answers that arrived before the deadline count.
    keep = [i for i, stamp in enumerate(tally.stamps_ns) if stamp <= deadline]
    if len(keep) != len(tally.stamps_ns):
        tally.latencies_ns = array("q", (tally.latencies_ns[i] for i in keep))
        tally.stamps_ns = array("q", (tally.stamps_ns[i] for i in keep))
        tally.statuses = array("h", (tally.statuses[i] for i in keep))
    return (deadline - begin) / 1e9


async def _rate(spec: Spec, tally: Tally) -> float:
    """Send at a fixed rate on idle connections; return the seconds run."""
    idle: asyncio.Queue[Connection | None] = asyncio.Queue()
    for opened in await asyncio.gather(*(_connect(spec) for _ in range(spec.connections))):
        idle.put_nowait(opened)
    begin = time.perf_counter_ns()
    total = int(spec.seconds * spec.rate)
    interval_ns = 1e9 / spec.rate
    pending: set[asyncio.Task[None]] = set()

    async def one(conn: Connection | None, payload: bytes, scheduled: int) -> None:
        idle.put_nowait(await _exchange(conn, spec, payload, scheduled, tally))

    for n in range(total):
        scheduled = begin + int(n * interval_ns)
        delay = (scheduled - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        if idle.empty():
            tally.late_starts += 1
        free = await idle.get()
        task = asyncio.create_task(one(free, spec.requests[n % len(spec.requests)], scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)
    while not idle.empty():
        left = idle.get_nowait()
        if left is not None:
            left.close()
    return (time.perf_counter_ns() - begin) / 1e9


def _latency_ms(values: np.ndarray[Any, Any]) -> dict[str, float]:
    if values.size == 0:
        return {}
    ms = values / 1e6
    out = {f"p{p:g}": float(np.percentile(ms, p)) for p in PERCENTILES}
    out["mean"] = float(ms.mean())
    out["max"] = float(ms.max())
    return out


def run(spec: Spec) -> dict[str, Any]:
    """Run the load described by ``spec``; return the figures."""
    try:
        import uvloop

        loop_name = "uvloop"
        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        loop_name = "asyncio"
        runner = asyncio.run  # type: ignore[assignment]
    tally = Tally()
    cpu0, wall0 = os.times(), time.perf_counter()
    seconds = runner(_closed(spec, tally) if spec.mode == "closed" else _rate(spec, tally))
    cpu1, wall1 = os.times(), time.perf_counter()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    latencies = np.frombuffer(tally.latencies_ns, dtype=np.int64)
    stamps = np.frombuffer(tally.stamps_ns, dtype=np.int64)
    codes, counts = np.unique(np.frombuffer(tally.statuses, dtype=np.int16), return_counts=True)
    statuses = {int(code): int(n) for code, n in zip(codes, counts, strict=True)}
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    windows = []
    if stamps.size:
        start = int(stamps.min())
        slot = ((stamps - start) // int(spec.window * 1e9)).astype(np.int64)
        for index in range(int(slot.max()) + 1):
            chunk = latencies[slot == index]
            windows.append({"window": index, "requests": int(chunk.size), **_latency_ms(chunk)})
    return {
        "mode": spec.mode,
        "loop": loop_name,
        "connections": spec.connections,
        "seconds": seconds,
        "responses": int(latencies.size),
        "ok": ok,
        "requests_per_s": latencies.size / seconds if seconds > 0 else 0.0,
        "latency_ms": _latency_ms(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "non_2xx": int(latencies.size) - ok,
        "timeouts": tally.timeouts,
        "connection_errors": tally.connection_errors,
        "late_starts": tally.late_starts,
        "client_cpu_seconds": cpu,
        "client_cores": cpu / (wall1 - wall0) if wall1 > wall0 else 0.0,
        "windows": windows,
    }


def main() -> int:
    """Read the spec on stdin, run, print the result as JSON."""
    spec = Spec.from_json(json.load(sys.stdin))
    print(json.dumps(run(spec)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
