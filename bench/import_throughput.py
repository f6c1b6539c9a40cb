"""Benchmark the bulk quote importer against a bare PostgreSQL COPY in the same run.

What is measured
    A CSV of at least ``--rows`` quote lines is generated from the real INDOT bid
    tabulations: the file's rows are replicated N times and ``ProjectID`` gets a
    ``-R{n}`` suffix per copy, so every copy is a new RFQ and every row a distinct quote
    line; all other values stay real. The file is imported through the real importer
    (``read_table`` then ``import_quotes`` in ``Database.session_scope``) as the service
    role, timed from reading the file to the commit.

The reference
    The quote lines the importer wrote are copied out (``COPY ... TO STDOUT``) into
    memory, deleted, and the same bytes are copied back with ``COPY quote_lines FROM
    STDIN`` into the same table, with the same indexes and foreign-key checks, and
    committed; that COPY and commit are timed. It runs as the owner because PostgreSQL
    refuses ``COPY FROM`` into a table under row-level security for a role the policy
    applies to (the service role); the owner of the embedded store is a superuser,
    which bypasses the policy. The reference therefore does no parsing, validation,
    key derivation, upserts or RLS checks: it is the floor for writing these rows.

The ratio is importer rows/s over COPY rows/s (the aim is at least 0.5). Everything
runs in a throw-away embedded store in a temporary folder, removed at the end.

    python -m bench.import_throughput [--rows 1000000] [--json]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql
from sqlalchemy import Engine, event, text

from core.settings import load_settings
from store import migrate, orgs
from store.bulk import raw_cursor
from store.db import Database
from store.importing.files import read_table
from store.importing.mapping import load_mapping
from store.importing.quotes import import_quotes
from store.models import QuoteLine

ROOT = Path(__file__).resolve().parents[1]
# The project's sample copy first (same bytes as the shared file), then the shared file.
PROJECT_SOURCES = (
    ROOT / "data" / "sample" / "indot_bidtabs_2022-08_2026-05.csv.gz",
    ROOT / "data" / "sample" / "indot_bidtabs.csv.gz",
)
SHARED_SOURCE = Path("/work/shared/data/bids/indot_bidtabs_material_items_2022-08_2026-05.csv.gz")
REKEY_COLUMN = "ProjectID"
DEFAULT_ROWS = 1_000_000
COPY_CHUNK = 8 << 20
# Every quote_lines column except the identity, in table order.
COPY_COLUMNS = tuple(c.name for c in QuoteLine.__table__.columns if c.name != "id")


def default_source() -> Path:
    """Return the INDOT file: the project's sample copy when present, else the shared one."""
    return next((p for p in PROJECT_SOURCES if p.exists()), SHARED_SOURCE)


def log(message: str) -> None:
    """Say what the benchmark is doing, on stderr."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- input file


def generate_file(source: Path, target: Path, rows: int) -> tuple[int, int]:
    """Write whole re-keyed replicas of ``source`` to ``target``; return (rows, replicas)."""
    with gzip.open(source, "rt", encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        body = list(reader)
    if not body:
        raise SystemExit(f"{source} has no data rows")
    key = header.index(REKEY_COLUMN)
    replicas = max(1, math.ceil(rows / len(body)))
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for n in range(1, replicas + 1):
            suffix = f"-R{n}"
            for row in body:
                copy = row.copy()
                copy[key] = row[key] + suffix
                writer.writerow(copy)
    return len(body) * replicas, replicas


# --------------------------------------------------------------------------- timing


@dataclass
class Statement:
    """One SQL statement the importer ran, and how long the server took."""

    label: str
    seconds: float


@dataclass
class ImportTimings:
    """Where the importer's time went."""

    read: float = 0.0
    validate: float = 0.0
    stage: float = 0.0
    statements: list[Statement] = field(default_factory=list)
    commit: float = 0.0
    total: float = 0.0


_INSERT_RE = re.compile(r"\bINSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_UPDATE_RE = re.compile(r"^\s*UPDATE\s+(\w+)", re.IGNORECASE)


def _label(statement: str) -> str:
    if match := _INSERT_RE.search(statement):
        verb = "upsert" if "ON CONFLICT" in statement.upper() else "insert"
        return f"{verb} {match.group(1)}"
    if match := _UPDATE_RE.match(statement):
        return f"update {match.group(1)}"
    return " ".join(statement.split())[:48]


@contextmanager
def statement_timer(engine: Engine) -> Iterator[list[tuple[float, str, float]]]:
    """Record (start, label, seconds) of every statement run through ``engine``."""
    records: list[tuple[float, str, float]] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = conn.info["bench_started"].pop()
        records.append((started, _label(statement), time.perf_counter() - started))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield records
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


class PhaseClock:
    """Progress callback that notes when the importer enters and leaves its phases."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.marks.setdefault(f"{phase}_first", now)
        self.marks[f"{phase}_last"] = now


# --------------------------------------------------------------------------- the runs


@dataclass
class ImportRun:
    """Outcome of the importer run."""

    rows_read: int
    inserted: int
    rejected: int
    seconds: float
    timings: ImportTimings
    first_rejection: str | None


def run_import(db: Database, org_id: uuid.UUID, path: Path) -> ImportRun:
    """Import ``path`` through the real importer as the service role; time read to commit."""
    mapping = load_mapping("indot_bidtabs")
    clock = PhaseClock()
    timings = ImportTimings()
    with statement_timer(db.service_engine) as records:
        started = time.perf_counter()
        with db.session_scope(org_id) as session:
            table = read_table(path)
            read_done = time.perf_counter()
            result = import_quotes(
                session=session,
                org_id=org_id,
                table=table,
                mapping=mapping,
                actor="bench",
                progress=clock,
            )
            body_done = time.perf_counter()
        finished = time.perf_counter()

    timings.read = read_done - started
    timings.commit = finished - body_done
    timings.total = finished - started
    validate_start = clock.marks.get("validate_first", read_done)
    validate_end = clock.marks.get("validate_last", validate_start)
    timings.validate = validate_end - validate_start
    # Staging (rendering the CSV and the COPY into the temporary table) runs through a raw cursor,
    # which SQLAlchemy's events do not see: it is the gap after validation up to the
    # first statement that follows it (skipping the CREATE TEMP TABLE before it).
    after = [(s, label, d) for s, label, d in records if s >= validate_end]
    create = next((d for _, label, d in after if label.startswith("CREATE TEMP")), 0.0)
    following = [s for s, label, _ in after if not label.startswith("CREATE TEMP")]
    if following:
        timings.stage = following[0] - validate_end - create
    timings.statements = [Statement(label, d) for _, label, d in records]
    first = result.rejections[0] if result.rejections else None
    return ImportRun(
        rows_read=result.rows_read,
        inserted=result.inserted,
        rejected=result.rejected,
        seconds=timings.total,
        timings=timings,
        first_rejection=f"line {first.line_no}: {first.reason}" if first else None,
    )


def _checkpoint(engine: Engine) -> None:
    # Neither timed phase should pay for the other's dirty pages.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CHECKPOINT"))


def run_copy(db: Database, org_id: uuid.UUID) -> tuple[int, float]:
    """Copy the org's quote lines out, delete them, and time COPY FROM of the same bytes."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in COPY_COLUMNS)
    copy_out = sql.SQL("COPY (SELECT {cols} FROM quote_lines WHERE org_id = {org}) TO STDOUT")
    copy_in = sql.SQL("COPY quote_lines ({cols}) FROM STDIN")
    chunks: list[bytes] = []
    with db.owner_engine.connect() as conn:
        statement = copy_out.format(cols=columns, org=sql.Literal(str(org_id)))
        with raw_cursor(conn).copy(statement) as copy:
            chunks.extend(bytes(data) for data in copy)
        deleted = conn.execute(
            text("DELETE FROM quote_lines WHERE org_id = :org"), {"org": org_id}
        ).rowcount
        conn.commit()
    payload = b"".join(chunks)
    del chunks
    lines = payload.count(b"\n")
    if deleted != lines:
        raise SystemExit(f"copied out {lines:,} rows but deleted {deleted:,}")
    log(f"copied out {deleted:,} rows ({len(payload) / 1e6:,.0f} MB); vacuuming")
    # The importer wrote into an empty table; give the reference one too (no dead tuples).
    with db.owner_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM quote_lines"))
    _checkpoint(db.owner_engine)

    log("timing COPY quote_lines FROM STDIN")
    with db.owner_engine.connect() as conn:
        cursor = raw_cursor(conn)
        statement = copy_in.format(cols=columns)
        started = time.perf_counter()
        with cursor.copy(statement) as copy:
            for start in range(0, len(payload), COPY_CHUNK):
                copy.write(payload[start : start + COPY_CHUNK])
        copied = int(cursor.rowcount)
        conn.commit()
        seconds = time.perf_counter() - started
    return copied, seconds


# --------------------------------------------------------------------------- report


@dataclass
class Report:
    """The benchmark's figures."""

    source: str
    replicas: int
    rows: int
    run: ImportRun
    copy_rows: int
    copy_seconds: float

    @property
    def import_rows_per_s(self) -> float:
        """Importer throughput over the rows in the file."""
        return self.rows / self.run.seconds

    @property
    def copy_rows_per_s(self) -> float:
        """Bare COPY throughput."""
        return self.copy_rows / self.copy_seconds

    @property
    def ratio(self) -> float:
        """Importer rows/s over COPY rows/s."""
        return self.import_rows_per_s / self.copy_rows_per_s

    def as_json(self) -> dict[str, Any]:
        """The machine-readable figures."""
        t = self.run.timings
        return {
            "rows": self.rows,
            "import_seconds": round(self.run.seconds, 3),
            "import_rows_per_s": round(self.import_rows_per_s, 1),
            "copy_seconds": round(self.copy_seconds, 3),
            "copy_rows_per_s": round(self.copy_rows_per_s, 1),
            "ratio": round(self.ratio, 4),
            "rows_imported": self.run.inserted,
            "rows_rejected": self.run.rejected,
            "copy_rows": self.copy_rows,
            "replicas": self.replicas,
            "phases": {
                "read": round(t.read, 3),
                "validate": round(t.validate, 3),
                "stage_copy": round(t.stage, 3),
                "sql": round(sum(s.seconds for s in t.statements), 3),
                "commit": round(t.commit, 3),
            },
        }

    def lines(self) -> list[str]:
        """The human report."""
        t = self.run.timings
        sql_total = sum(s.seconds for s in t.statements)
        out = [
            f"source   {self.source} x {self.replicas} replicas",
            f"importer {self.rows:,} rows in {self.run.seconds:.2f} s = "
            f"{self.import_rows_per_s:,.0f} rows/s "
            f"({self.run.inserted:,} inserted, {self.run.rejected:,} rejected)",
            f"  read {t.read:.2f} s | validate {t.validate:.2f} s | "
            f"stage (CSV + COPY to temp) {t.stage:.2f} s | SQL {sql_total:.2f} s | "
            f"commit {t.commit:.2f} s",
        ]
        slow = sorted(t.statements, key=lambda s: s.seconds, reverse=True)
        out.extend(f"    {s.seconds:7.2f} s  {s.label}" for s in slow[:8] if s.seconds >= 0.01)
        if self.run.first_rejection:
            out.append(f"  first rejection: {self.run.first_rejection}")
        out += [
            f"COPY     {self.copy_rows:,} rows in {self.copy_seconds:.2f} s = "
            f"{self.copy_rows_per_s:,.0f} rows/s (owner, same table, indexes and FKs)",
            f"ratio    {self.ratio:.3f} (importer / COPY; aim >= 0.5)",
        ]
        return out


def run(rows: int, source: Path, progress: Callable[[str], None] = log) -> Report:
    """Run the whole benchmark in a throw-away embedded store."""
    workdir = Path(tempfile.mkdtemp(prefix="pricing-bench-"))
    db: Database | None = None
    try:
        csv_path = workdir / "quotes.csv"
        progress(f"generating >= {rows:,} rows from {source}")
        total, replicas = generate_file(source, csv_path, rows)
        progress(f"wrote {total:,} rows ({csv_path.stat().st_size / 1e6:,.0f} MB)")

        settings = load_settings(
            data_dir=workdir / "store",
            database_url=None,
            database_app_url=None,
            db_name="pricing_agent_bench",
        )
        db = Database(settings)
        progress("starting the embedded store and migrating")
        migrate.upgrade(db)
        with db.owner_session() as session:
            org_id = orgs.create_org(session=session, name=f"bench-{uuid.uuid4().hex[:8]}").id
        # Warm both pools so neither timing pays for connecting.
        with db.service_engine.connect():
            pass
        _checkpoint(db.owner_engine)

        progress("importing through store.importing (service role)")
        outcome = run_import(db, org_id, csv_path)
        progress(f"import done in {outcome.seconds:.1f} s; measuring the COPY reference")
        copy_rows, copy_seconds = run_copy(db, org_id)
        return Report(
            source=source.name,
            replicas=replicas,
            rows=total,
            run=outcome,
            copy_rows=copy_rows,
            copy_seconds=copy_seconds,
        )
    finally:
        if db is not None:
            db.dispose()
            _stop_embedded(workdir / "store" / "pgdata")
        shutil.rmtree(workdir, ignore_errors=True)


def _stop_embedded(pgdata: Path) -> None:
    # pgserver would stop the server at exit, but its folder is about to be removed.
    from pgserver.postgres_server import get_server

    if pgdata.exists():
        get_server(pgdata).cleanup()


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the benchmark, print the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_throughput", description=__doc__)
    parser.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        help="quote lines to import, rounded up to whole replicas of the INDOT file",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--source", type=Path, default=None, help="INDOT bid tabulation CSV.gz")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be positive")
    report = run(args.rows, args.source or default_source())
    human = report.lines()
    if args.json:
        print("\n".join(human), file=sys.stderr)
        print(json.dumps(report.as_json()))
    else:
        print("\n".join(human))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
