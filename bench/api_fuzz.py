"""Property-based run over the service's OpenAPI schema at full budget (schemathesis).

What is checked
    Every operation of the app's own OpenAPI document gets ``--examples`` generated
    requests (valid and invalid bodies, parameters and headers), sent in-process with a
    buyer key of an organisation holding the INDOT sample and a trained price model (the
    store of ``bench.api_load``, built on first use). schemathesis's checks run on each
    answer: no 5xx, the status is documented, the content type and body match the schema,
    invalid input is refused, and a request without the key is refused. The one check left
    out is "schema-valid input is accepted": a generated item code names nothing in the
    store, and 404 is the right answer to it.

The test suite runs the same loop with a few examples per operation
(tests/api/test_schema_fuzz.py); this is the long run.

    python -m bench.api_fuzz [--examples 100] [--data-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXCLUDED = [positive_data_acceptance]
AS_OF = dt.date(2026, 6, 1)


@dataclass
class FuzzReport:
    """What a run did and found."""

    operations: int = 0
    requests: float = 0.0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)


def requests_served(app: FastAPI) -> float:
    """Requests the app has counted so far (its own metrics)."""
    metric = app.state.metrics.requests
    return float(
        sum(s.value for m in metric.collect() for s in m.samples if s.name.endswith("_total"))
    )


def fuzz(app: FastAPI, *, key: str, examples: int) -> FuzzReport:
    """Run every operation with ``examples`` generated cases; collect failures by operation."""
    headers = {"Authorization": f"Bearer {key}", "X-As-Of": AS_OF.isoformat()}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    report = FuzzReport()
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Ok):
            operations.append(result.ok())
        else:  # the app's own document has an operation schemathesis cannot read
            report.failures[f"schema error {len(report.failures)}"] = str(result.err())
    report.operations = len(operations)
    before, started = requests_served(app), time.perf_counter()
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

        try:
            run()
        except Exception as exc:  # every operation's failure is reported, not just the first
            report.failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:4000]}"
    report.seconds = time.perf_counter() - started
    report.requests = requests_served(app) - before
    return report


def main() -> None:
    """Build the bench store if needed, fuzz the app, print what was found."""
    from api import create_app
    from bench.api_load import bench_settings, default_data_dir, prepare_store
    from store import orgs
    from store.db import Database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    db = Database(bench_settings(args.data_dir))
    org_id = prepare_store(db)
    with db.session_scope(org_id) as session:
        _, key = orgs.create_api_key(
            session=session, org_id=org_id, name="bench-fuzz", role="buyer", actor="bench"
        )
    app = create_app(database=db, warm_models=False)
    report = fuzz(app, key=key, examples=args.examples)
    if args.json:
        print(json.dumps(report.__dict__, indent=2))
    else:
        print(
            f"{report.operations} operations, {report.requests:,.0f} requests in "
            f"{report.seconds:,.0f} s ({args.examples} examples each): "
            f"{len(report.failures)} operations failed"
        )
        for label, failure in report.failures.items():
            print(f"\n{label}\n{failure}")
    db.dispose()
    raise SystemExit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
