"""Benchmark one agent turn end to end against calling the same tools directly.

What is measured
    A fixed set of buyer questions over the real sample (fair price, history, leveling,
    should-cost, anomalies, forecast, price increase, negotiation, scorecard). For each:

    - offline: ``agent.run_turn`` with the offline planner, a new thread each time: thread
      claim, checkpointer reads and writes, planning, the tool calls and the answer.
    - llm: the same turn with langchain-openai talking over HTTP to a loopback
      OpenAI-compatible server (``bench.loopback_openai``) that replays the tool calls the
      offline planner made, with zero model delay: the agent's own overhead in LLM mode.

The reference
    The same tool calls (same arguments) made directly in the same run: each in its own
    session, as the agent makes them, with no graph, memory or model. The ratio printed is
    direct time / turn time (1.0 would mean the agent adds nothing); the overhead in
    milliseconds is turn minus direct.

Runs alternate (offline, llm, direct) per question and repeat ``--repeat`` times; medians
and p95 over all runs are reported. The machine is shared, so read the ratio, not the
absolute times.

    python -m bench.agent_turn [--org NAME] [--repeat 5] [--json]

With ``--org`` it uses that organisation of the configured store (e.g. after ``make
demo``); without it, it builds a throw-away embedded store in a temporary folder and
loads the sample into it first (a few minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from agent import run_turn
from bench.loopback_openai import ScriptedOpenAI
from core.settings import Settings, get_settings, load_settings
from store import migrate, orgs
from store.db import Database
from tools import TOOLS
from tools.base import ToolContext

AS_OF = dt.date(2026, 6, 1)
QUESTIONS = [
    "What should 500 tons of epoxy coated rebar cost?",
    "price history of 703-06029 since 2025",
    "Compare the bids on B -40276-A",
    "should-cost for 200 CY of class C concrete",
    "any anomalies on project 40276?",
    "Will steel be cheaper in three months?",
    "Rieth-Riley wants 8% more for epoxy coated rebar, is that justified?",
    "target and walk-away price for 50,000 lb of epoxy rebar with Milestone?",
    "How is Milestone doing?",
]


@contextmanager
def _store(org: str | None) -> Iterator[tuple[Database, uuid.UUID, Settings]]:
    if org:
        settings = get_settings()
        db = Database(settings)
        with db.owner_session() as session:
            org_id = orgs.get_org(session=session, name=org).id
        yield db, org_id, settings
        db.dispose()
        return
    from rich.console import Console

    from tools.training import train_price
    from ui.demo import load_sample_data

    with tempfile.TemporaryDirectory(prefix="bench-agent-") as folder:
        settings = load_settings(
            database_url=None, database_app_url=None, data_dir=Path(folder), db_name="bench"
        )
        db = Database(settings)
        migrate.upgrade(db)
        with db.owner_session() as session:
            org_id = orgs.create_org(session=session, name="bench").id
        load_sample_data(db, org_id, Console(quiet=True))
        with db.session_scope(org_id) as session:
            train_price(session=session, org_id=org_id, actor="bench")
        try:
            yield db, org_id, settings
        finally:
            db.dispose()


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _turn(db: Database, org_id: uuid.UUID, question: str, settings: Settings) -> None:
    run_turn(question, database=db, org_id=org_id, user_id="bench", as_of=AS_OF, settings=settings)


def _direct(db: Database, org_id: uuid.UUID, calls: list[tuple[str, dict[str, Any]]]) -> None:
    for name, args in calls:
        spec = TOOLS[name]
        with db.session_scope(org_id) as session:
            ctx = ToolContext(session=session, org_id=org_id, as_of=AS_OF, actor="bench")
            spec.function(ctx, spec.input_model.model_validate(args))


def _script(calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    # The offline planner searches first, then calls the rest together: replay the same.
    steps: list[dict[str, Any]] = []
    searches = [c for c in calls if c[0] == "search_items"]
    rest = [c for c in calls if c[0] != "search_items"]
    if searches:
        steps.append({"tool_calls": searches})
    if rest:
        steps.append({"tool_calls": rest})
    steps.append({"content": "Scripted answer from the loopback server."})
    return steps


def _llm_settings(settings: Settings, base_url: str) -> Settings:
    """The same store, with the chat model pointed at the loopback server."""
    return load_settings(
        database_url=settings.database_url,
        database_app_url=settings.database_app_url,
        data_dir=settings.data_dir,
        db_name=settings.db_name,
        openai_api_key="sk-loopback-bench-0000",
        openai_base_url=base_url,
    )


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered), "p95_ms": p95, "runs": len(ordered)}


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--org", help="Use this organisation of the configured store.")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()

    times: dict[str, list[float]] = {"offline": [], "llm": [], "direct": []}
    with _store(options.org) as (db, org_id, settings):
        plans: list[list[tuple[str, dict[str, Any]]]] = []
        for question in QUESTIONS:  # warm-up and the calls to replay
            result = run_turn(question, database=db, org_id=org_id, user_id="bench", as_of=AS_OF)
            plans.append([(c.name, c.args) for c in result.tool_calls])
        for _ in range(options.repeat):
            for question, calls in zip(QUESTIONS, plans, strict=True):
                times["offline"].append(_timed(partial(_turn, db, org_id, question, settings)))
                with ScriptedOpenAI(_script(calls)) as server:
                    llm = _llm_settings(settings, server.base_url)
                    times["llm"].append(_timed(partial(_turn, db, org_id, question, llm)))
                times["direct"].append(_timed(partial(_direct, db, org_id, calls)))

    report: dict[str, dict[str, float]] = {name: _stats(values) for name, values in times.items()}
    direct = report["direct"]["median_ms"]
    for mode in ("offline", "llm"):
        turn = report[mode]["median_ms"]
        report[mode]["ratio_direct_over_turn"] = direct / turn if turn else 0.0
        report[mode]["overhead_ms"] = turn - direct
    report["questions"] = {"count": len(QUESTIONS), "repeat": options.repeat}
    if options.json:
        print(json.dumps(report, indent=2))
        return
    print(f"agent turn, {len(QUESTIONS)} questions x {options.repeat} runs (median / p95 ms)")
    for name in ("offline", "llm", "direct"):
        r = report[name]
        line = f"  {name:8} {r['median_ms']:8.1f} / {r['p95_ms']:8.1f}"
        if name != "direct":
            line += (
                f"   direct/turn ratio {r['ratio_direct_over_turn']:.3f}, "
                f"agent overhead {r['overhead_ms']:.1f} ms"
            )
        print(line)


if __name__ == "__main__":
    main()
