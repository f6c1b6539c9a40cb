"""Benchmark one warm price prediction through a real session against the floors under it.

What is measured
    ``tools.predict_price.predict_price`` on an organisation of the configured store, each
    call in a tenant transaction of its own (``Database.session_scope``), as an API
    request runs it; lines cycle over the organisation's most quoted items, with and
    without a supplier, each call with a quantity not asked before:

    - band: ``explain=False``, the P10/P50/P90 an API price endpoint returns;
    - explained: ``explain=True`` (the default, what the agent asks), whose drivers are
      LightGBM's SHAP contributions computed for the new row;
    - explained again: ``explain=True`` for a line asked before (drivers from memory).

    Also timed: the cold first call of the process (it reads the quote history, the index
    observations and the model into the caches), ``predict_prices`` batches of 1,000 and
    10,000 lines, and optionally ``--threads`` clients calling the band path at once.

The reference
    Measured in the same run, interleaved with the calls above:

    - a tenant transaction that runs ``SELECT 1``: what any request touching the store
      pays (pool checkout, BEGIN, the org setting, one round trip, COMMIT);
    - LightGBM's own ``Booster.predict`` of one encoded row by the three boosters on the
      calling thread: the model's floor.

    The ratio printed is the band call's median over the sum of those two medians (1.0
    would mean predict_price adds nothing to a store round trip and the boosters). For
    batches, rows/s against LightGBM predicting the same encoded rows. Medians and p95
    are of wall time; CPU is this process's CPU time per call (the store's server work is
    not in it). The machine may be shared: read ratios before absolute times.

    python -m bench.predict_latency [--org NAME_OR_ID] [--calls 300] [--threads 32] [--json]

The store is the configured one (``PRICING_AGENT_DATA_DIR``, ``PRICING_AGENT_DB_NAME``,
``DATABASE_URL``); ``--org`` defaults to the first organisation with an active price model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.settings import get_settings
from ml.price.features import TargetLine, dates_ns
from store.db import Database
from store.models import Item
from tools import price_cache
from tools.base import ToolContext
from tools.predict_price import (
    PredictPriceInput,
    PredictPricesInput,
    predict_price,
    predict_prices,
)

AS_OF = dt.date(2026, 6, 1)


def _org(db: Database, wanted: str | None) -> uuid.UUID:
    with db.owner_session() as session:
        if wanted is None:
            found = session.scalar(
                text(
                    "SELECT org_id FROM model_versions WHERE kind = 'price' AND status = 'active' "
                    "ORDER BY created_at LIMIT 1"
                )
            )
        else:
            found = session.scalar(
                text("SELECT id FROM organizations WHERE id::text = :w OR name = :w"), {"w": wanted}
            )
    if found is None:
        raise SystemExit(f"no organisation {wanted or 'with an active price model'}")
    return uuid.UUID(str(found))


def _lines(db: Database, org_id: uuid.UUID) -> list[dict[str, Any]]:
    with db.session_scope(org_id) as session:
        rows = session.execute(
            text(
                """
                SELECT i.code, percentile_disc(0.5) WITHIN GROUP (ORDER BY q.quantity) AS qty,
                       (array_agg(s.code ORDER BY q.id))[1] AS supplier
                FROM quote_lines q
                JOIN items i ON i.org_id = q.org_id AND i.id = q.item_id
                JOIN suppliers s ON s.org_id = q.org_id AND s.id = q.supplier_id
                GROUP BY i.code ORDER BY count(*) DESC LIMIT 8
                """
            )
        ).all()
    lines: list[dict[str, Any]] = []
    for code, qty, supplier in rows:
        lines.append({"item": code, "quantity": Decimal(qty)})
        lines.append({"item": code, "quantity": Decimal(qty), "supplier": supplier})
    return lines


def _target(session: Session, org_id: uuid.UUID, snap: Any, line: dict[str, Any]) -> TargetLine:
    item = session.scalar(select(Item).where(Item.org_id == org_id, Item.code == line["item"]))
    assert item is not None
    when = dates_ns([AS_OF])[0]
    return TargetLine(
        quote_date=AS_OF,
        item_id=item.id,
        item_code=item.code,
        category=item.category or "",
        unit=item.unit or "ea",
        quantity=float(line["quantity"]),
        currency=snap.usual_currency(item.id, when),
        item_attributes=item.attributes or {},
    )


def _call(db: Database, org_id: uuid.UUID, args: PredictPriceInput, explain: bool) -> None:
    with db.session_scope(org_id) as session:
        ctx = ToolContext(session=session, org_id=org_id, as_of=AS_OF, actor="bench")
        predict_price(ctx, args, explain=explain)


def _select_one(db: Database, org_id: uuid.UUID) -> None:
    with db.session_scope(org_id) as session:
        session.execute(text("SELECT 1"))


def _boosters(boosters: list[Any], rows: np.ndarray, threads: int | None) -> None:
    for booster in boosters:
        booster.predict(rows, **({} if threads is None else {"num_threads": threads}))


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _stats(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls = sorted(w * 1000 for w, _ in samples)
    return {
        "median_ms": round(statistics.median(walls), 3),
        "p95_ms": round(walls[min(len(walls) - 1, int(0.95 * len(walls)))], 3),
        "cpu_ms": round(statistics.mean(c * 1000 for _, c in samples), 3),
        "n": len(samples),
    }


def _concurrent(fn: Callable[[int], None], threads: int, seconds: float) -> dict[str, float]:
    """``threads`` clients calling ``fn`` back to back for ``seconds``; latency and rate."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(number: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            started = time.perf_counter()
            fn(number * 1_000_000 + i)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
            i += 1

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests_per_s": round(len(ordered) / wall, 1),
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "n": len(ordered),
    }


def main() -> None:  # noqa: PLR0915 - one straight measurement script
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--org", help="Organisation name or id (default: one with a model).")
    parser.add_argument("--calls", type=int, default=300, help="Warm calls per variant.")
    parser.add_argument("--threads", type=int, default=0, help="Concurrent clients (0: skip).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of the threads run.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    options = parser.parse_args()

    db = Database(get_settings())
    org_id = _org(db, options.org)
    lines = _lines(db, org_id)
    price_cache.clear()
    cold = _timed(lambda: _call(db, org_id, PredictPriceInput(**lines[0]), True))

    # Encoded rows of the same lines and the three boosters: LightGBM's own floor.
    with db.session_scope(org_id) as session:
        state = price_cache.read_state(session=session, org_id=org_id)
        snap = price_cache.snapshot(session=session, org_id=org_id, state=state)
        cached = price_cache.active_model(session=session, org_id=org_id, state=state)
        targets = [_target(session, org_id, snap, line) for line in lines]
    model = cached.model
    boosters = [model.boosters[k] for k in ("p10", "p50", "p90")]
    batch_args = [PredictPriceInput(**lines[i % len(lines)]) for i in range(10_000)]

    def encoded(n: int) -> np.ndarray:
        rows = model.encode(targets, snap.history, snap.index)
        return np.ascontiguousarray(rows[np.arange(n) % len(rows)])

    one_row = encoded(1)

    lightgbm_one = partial(_boosters, boosters, one_row, 1)

    samples: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("band", "explained", "explained_again", "select_1", "lightgbm_row")
    }
    for i in range(options.calls):
        line = lines[i % len(lines)]
        # A quantity never asked before: nothing of the row's own is remembered.
        fresh = PredictPriceInput(**{**line, "quantity": line["quantity"] + Decimal(i + 1) / 7})
        samples["band"].append(_timed(partial(_call, db, org_id, fresh, False)))
        samples["explained"].append(_timed(partial(_call, db, org_id, fresh, True)))
        samples["explained_again"].append(_timed(partial(_call, db, org_id, fresh, True)))
        samples["select_1"].append(_timed(partial(_select_one, db, org_id)))
        samples["lightgbm_row"].append(_timed(lightgbm_one))
    report: dict[str, Any] = {
        "org": str(org_id),
        "cold_first_call_ms": round(cold[0] * 1000, 1),
        "single": {k: _stats(v) for k, v in samples.items()},
    }
    floor = (
        report["single"]["select_1"]["median_ms"] + report["single"]["lightgbm_row"]["median_ms"]
    )
    report["ratio_band_to_floor"] = round(report["single"]["band"]["median_ms"] / floor, 2)

    batches: dict[str, Any] = {}
    for size in (1_000, 10_000):
        request = PredictPricesInput(lines=batch_args[:size])

        def run(request: PredictPricesInput = request) -> None:
            with db.session_scope(org_id) as session:
                ctx = ToolContext(session=session, org_id=org_id, as_of=AS_OF)
                out = predict_prices(ctx, request)
                assert out.failed == 0, out.results[0]

        # The tool keeps LightGBM on the calling thread up to 2,048 rows; so does the floor.
        floor_run = partial(_boosters, boosters, encoded(size), 1 if size <= 2048 else None)
        project = min(_timed(run)[0] for _ in range(3))
        lightgbm = min(_timed(floor_run)[0] for _ in range(3))
        batches[str(size)] = {
            "seconds": round(project, 3),
            "rows_per_s": round(size / project),
            "lightgbm_rows_per_s": round(size / lightgbm),
            "ratio": round(lightgbm / project, 2),
        }
    report["batch"] = batches

    if options.threads:
        counter = iter(range(10**9))

        def band(n: int) -> None:
            line = lines[n % len(lines)]
            fresh = {**line, "quantity": line["quantity"] + Decimal(next(counter) + 1) / 11}
            _call(db, org_id, PredictPriceInput(**fresh), False)

        report["concurrent"] = {
            "threads": options.threads,
            "pool": f"{db.service_engine.pool.status()}",
            "band": _concurrent(band, options.threads, options.seconds),
            "select_1": _concurrent(
                lambda n: _select_one(db, org_id), options.threads, options.seconds
            ),
        }

    if options.json:
        print(json.dumps(report, indent=2))
        return
    single = report["single"]
    print(f"organisation {report['org']}; cold first call {report['cold_first_call_ms']} ms")
    print(f"{'warm single call':34s} {'median':>9s} {'p95':>9s} {'cpu':>9s}")
    names = {
        "band": "predict_price, explain=False",
        "explained": "predict_price, explain=True",
        "explained_again": "  same line again (drivers kept)",
        "select_1": "reference: SELECT 1 transaction",
        "lightgbm_row": "reference: LightGBM 3 boosters",
    }
    for key, name in names.items():
        s = single[key]
        print(f"{name:34s} {s['median_ms']:7.2f}ms {s['p95_ms']:7.2f}ms {s['cpu_ms']:7.2f}ms")
    print(f"ratio band / (SELECT 1 + LightGBM): {report['ratio_band_to_floor']}")
    for size, b in report["batch"].items():
        print(
            f"predict_prices {int(size):>6,} lines: {b['seconds']:.3f} s, "
            f"{b['rows_per_s']:,} rows/s "
            f"(LightGBM alone {b['lightgbm_rows_per_s']:,} rows/s, ratio {b['ratio']})"
        )
    if "concurrent" in report:
        c = report["concurrent"]
        for key in ("band", "select_1"):
            r = c[key]
            print(
                f"{c['threads']} threads, {key:8s}: {r['requests_per_s']:7.1f}/s, "
                f"median {r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms ({r['n']} calls)"
            )


if __name__ == "__main__":
    main()
