"""File imports over HTTP: the same importer, validation and rejection report as the CLI."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import ServicesDep, TenantDep
from core.errors import InvalidInputError, NotFoundError
from store.importing.files import EXCEL_SUFFIXES
from store.importing.mapping import (
    SHIPPED_DIR,
    ColumnMapping,
    load_mapping,
    parse_map_options,
)
from store.importing.service import import_file
from store.models import ImportRejection, ImportRun

router = APIRouter(prefix="/imports", tags=["imports"])

# What the importer reads: delimited text (plain or gzipped) and Excel workbooks.
SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt", *sorted(EXCEL_SUFFIXES))
MAX_REJECTIONS_SHOWN = 1000
_MAPPING_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


class RejectedRow(BaseModel):
    """A row the import refused: its line in the file and why."""

    line: int
    reason: str


class ImportReport(BaseModel):
    """What an import did; good rows are committed, bad rows are listed with reasons."""

    run_id: int
    kind: str
    source: str
    status: str
    rows_read: int
    imported: int = Field(description="Rows now in the store from this file.")
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    seconds: float | None
    started_at: dt.datetime | None = None
    actor: str | None = None
    rejections: list[RejectedRow] = Field(
        description=f"The first {MAX_REJECTIONS_SHOWN} rejected rows, by line number."
    )
    notes: list[str] = Field(default_factory=list)


def _suffix(filename: str) -> str:
    name = filename.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise InvalidInputError(f"upload a CSV, CSV.gz or Excel file, not {filename!r}")


def _mapping(
    name: str | None, map_: list[str], date_format: str | None, source: str | None
) -> ColumnMapping:
    texts = [name or "", *map_, date_format or "", source or ""]
    if any("\x00" in text for text in texts):
        raise InvalidInputError("form fields may not contain NUL (U+0000) characters")
    mapping = ColumnMapping()
    if name:
        # Only the mappings shipped with the product: a caller must not name a server path.
        if not _MAPPING_NAME.match(name) or not (SHIPPED_DIR / f"{name}.yaml").exists():
            shipped = ", ".join(sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml")))
            raise InvalidInputError(f"mapping: no shipped mapping {name!r} (shipped: {shipped})")
        mapping = load_mapping(name)
    mapping = mapping.merged(parse_map_options(map_))
    mapping.date_format = date_format or mapping.date_format
    mapping.source = source or mapping.source
    return mapping


@router.post(
    "",
    status_code=201,
    summary="Import a file of quotes, items or index series",
)
def create_import(
    tenant: TenantDep,
    svc: ServicesDep,
    file: Annotated[UploadFile, File(description="CSV, CSV.gz or Excel (.xlsx) file.")],
    kind: Annotated[Literal["quotes", "items", "index"], Form(description="What the file holds.")],
    mapping: Annotated[
        str | None, Form(description="A shipped column mapping by name, e.g. indot_bidtabs.")
    ] = None,
    map_: Annotated[
        list[str] | None,
        Form(alias="map", description='Column mapping "Source Column=field" (repeatable).'),
    ] = None,
    date_format: Annotated[
        str | None, Form(max_length=32, description="strftime format, e.g. %d/%m/%Y.")
    ] = None,
    source: Annotated[str | None, Form(max_length=200, description="Data source name.")] = None,
) -> ImportReport:
    """Import one file; malformed rows are rejected with line and reason, good rows kept."""
    tenant.caller.require("buyer", "import files")
    filename = Path(file.filename or "upload.csv").name
    column_mapping = _mapping(mapping, map_ or [], date_format, source)
    with tempfile.TemporaryDirectory(prefix="pricing-import-") as folder:
        path = Path(folder) / f"upload{_suffix(filename)}"
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                out.write(chunk)
        result = import_file(
            session=tenant.session,
            org_id=tenant.org_id,
            kind=kind,
            path=path,
            mapping=column_mapping,
            actor=tenant.caller.actor,
            rejected_dir=svc.settings.data_dir / "rejected",
            display_name=filename,
        )
    return ImportReport(
        run_id=result.run_id,
        kind=result.kind,
        source=result.source_name,
        status="finished",
        rows_read=result.rows_read,
        imported=result.imported,
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=result.rejected,
        seconds=round(result.seconds, 3),
        actor=tenant.caller.actor,
        rejections=[
            RejectedRow(line=r.line_no, reason=r.reason)
            for r in result.rejections[:MAX_REJECTIONS_SHOWN]
        ],
        notes=result.notes,
    )


@router.get("/{run_id}", summary="One import's report")
def get_import(
    run_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)], tenant: TenantDep
) -> ImportReport:
    """The report of an earlier import of the caller's organisation."""
    run = tenant.session.get(ImportRun, (tenant.org_id, run_id))
    if run is None:
        raise NotFoundError(f"no import {run_id}")
    rejections = tenant.session.scalars(
        select(ImportRejection)
        .where(ImportRejection.org_id == tenant.org_id, ImportRejection.import_run_id == run_id)
        .order_by(ImportRejection.line_no)
        .limit(MAX_REJECTIONS_SHOWN)
    )
    return ImportReport(
        run_id=run.id,
        kind=run.kind,
        source=run.source_name,
        status=run.status,
        rows_read=run.rows_read,
        imported=run.rows_inserted + run.rows_updated + run.rows_unchanged,
        inserted=run.rows_inserted,
        updated=run.rows_updated,
        unchanged=run.rows_unchanged,
        rejected=run.rows_rejected,
        seconds=run.seconds,
        started_at=run.started_at,
        actor=run.actor,
        rejections=[RejectedRow(line=r.line_no, reason=r.reason) for r in rejections],
    )
