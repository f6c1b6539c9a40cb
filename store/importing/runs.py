"""Import runs: the record of each import, its rejected rows, and the rejected-rows file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from store import audit
from store.bulk import copy_rows_into
from store.importing.files import RawTable
from store.models import ImportRun


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused row: where it was, why, and what it said."""

    line_no: int
    reason: str
    raw: dict[str, str]


@dataclass
class ImportResult:
    """What an import did, for the summary line and the API."""

    run_id: int
    kind: str
    source_name: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    seconds: float = 0.0
    rejected_file: Path | None = None
    notes: list[str] = field(default_factory=list)
    started: float = field(default=0.0, repr=False)

    @property
    def rejected(self) -> int:
        """Number of rejected rows."""
        return len(self.rejections)

    @property
    def imported(self) -> int:
        """Rows now in the store from this file (new, changed, or already there)."""
        return self.inserted + self.updated + self.unchanged

    def summary(self) -> str:
        """One line for people."""
        rate = f", {self.rows_read / self.seconds:,.0f} rows/s" if self.seconds > 0 else ""
        # An index file's cells, not its rows, are what gets stored.
        what = " observations" if self.kind == "index" else ""
        return (
            f"{self.source_name}: read {self.rows_read:,} rows, imported {self.imported:,}{what} "
            f"({self.inserted:,} new, {self.updated:,} updated, {self.unchanged:,} unchanged), "
            f"rejected {self.rejected:,}, {self.seconds:.1f} s{rate}"
        )

    def as_json(self) -> dict[str, Any]:
        """Machine-readable form."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "source": self.source_name,
            "rows_read": self.rows_read,
            "imported": self.imported,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "rejected_file": str(self.rejected_file) if self.rejected_file else None,
            "rejections": [{"line": r.line_no, "reason": r.reason} for r in self.rejections[:1000]],
            "notes": self.notes,
        }


def begin_import(
    *,
    session: Session,
    org_id: uuid.UUID,
    kind: str,
    table: RawTable,
    mapping: dict[str, Any],
    actor: str,
) -> ImportResult:
    """Record the start of an import; the result already holds the unreadable rows."""
    run = ImportRun(
        org_id=org_id,
        kind=kind,
        source_name=table.source_name,
        file_sha256=table.sha256,
        actor=actor,
        mapping=mapping,
    )
    session.add(run)
    session.flush()
    return ImportResult(
        run_id=run.id,
        kind=kind,
        source_name=table.source_name,
        rows_read=table.row_count,
        rejections=[Rejection(n, reason, raw) for n, reason, raw in table.rejected],
        started=time.perf_counter(),
    )


def end_import(*, session: Session, org_id: uuid.UUID, result: ImportResult, actor: str) -> None:
    """Store the rejections and the counts, and audit the import."""
    result.rejections.sort(key=lambda r: r.line_no)
    result.seconds = time.perf_counter() - result.started
    _copy_rejections(session=session, org_id=org_id, run_id=result.run_id, result=result)
    session.execute(
        update(ImportRun)
        .where(ImportRun.org_id == org_id, ImportRun.id == result.run_id)
        .values(
            status="succeeded",
            finished_at=dt.datetime.now(dt.UTC),
            rows_read=result.rows_read,
            rows_inserted=result.inserted,
            rows_updated=result.updated,
            rows_unchanged=result.unchanged,
            rows_rejected=result.rejected,
            seconds=result.seconds,
        )
    )
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action=f"import.{result.kind}",
        entity="import_run",
        entity_ids=[result.run_id],
        details={
            "source": result.source_name,
            "inserted": result.inserted,
            "updated": result.updated,
            "rejected": result.rejected,
        },
    )


def _copy_rejections(
    *, session: Session, org_id: uuid.UUID, run_id: int, result: ImportResult
) -> None:
    if result.rejections:
        copy_rows_into(
            session.connection(),
            table="import_rejections",
            columns=("org_id", "import_run_id", "line_no", "reason", "raw"),
            rows=(
                (org_id, run_id, r.line_no, r.reason, json.dumps(r.raw)) for r in result.rejections
            ),
        )


def write_rejected_csv(*, path: Path, header: list[str], rejections: list[Rejection]) -> Path:
    """Write the rejected rows, with line and reason first, to ``path``."""
    extra = sorted({k for r in rejections for k in r.raw} - set(header))
    columns = ["line", "reason", *header, *extra]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for r in sorted(rejections, key=lambda r: r.line_no):
        writer.writerow([r.line_no, r.reason, *(r.raw.get(c, "") for c in columns[2:])])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path
