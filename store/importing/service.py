"""One entry for every import: read the file, dispatch by kind, write the rejected rows.

The command line and the API both call ``import_file``; it works in the caller's
transaction so that the caller decides when to commit.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session

from core.errors import ImportFileError, InvalidInputError
from store.importing.files import ProgressFn, read_table
from store.importing.index import SeriesInfo, import_index
from store.importing.items import import_items
from store.importing.mapping import ColumnMapping
from store.importing.quotes import import_quotes
from store.importing.runs import ImportResult, write_rejected_csv

ImportKind = Literal["quotes", "items", "index"]
Importer = Callable[..., ImportResult]
IMPORTERS: dict[str, Importer] = {
    "quotes": import_quotes,
    "items": import_items,
    "index": import_index,
}
KINDS: tuple[ImportKind, ...] = ("quotes", "items", "index")


def import_file(
    *,
    session: Session,
    org_id: uuid.UUID,
    kind: str,
    path: Path,
    mapping: ColumnMapping | None = None,
    actor: str,
    series_info_path: Path | None = None,
    rejected_dir: Path | None = None,
    display_name: str | None = None,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import ``path`` as ``kind``; rejected rows go beside it as ``*.rejected.csv``."""
    if kind not in KINDS:
        raise InvalidInputError(f"import kind must be one of {', '.join(KINDS)}, not {kind!r}")
    mapping = mapping or ColumnMapping()
    if mapping.kind and mapping.kind != kind:
        raise InvalidInputError(f"the mapping is for {mapping.kind}, not {kind}")
    table = read_table(path, progress=progress)
    if display_name:
        table.source_name = display_name
    importer: Importer = IMPORTERS[kind]
    if kind == "index" and series_info_path is not None:
        importer = partial(import_index, series_info=read_series_info(series_info_path))
    result = importer(
        session=session,
        org_id=org_id,
        table=table,
        mapping=mapping,
        actor=actor,
        progress=progress,
    )
    if result.rejections:
        result.rejected_file = _write_rejections(path, table.header, result, rejected_dir)
    return result


def _write_rejections(
    path: Path, header: list[str], result: ImportResult, rejected_dir: Path | None
) -> Path | None:
    name = path.name.removesuffix(".gz")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    candidates = [path.parent / f"{stem}.rejected.csv"]
    if rejected_dir is not None:
        candidates.append(rejected_dir / f"{stem}.run{result.run_id}.rejected.csv")
    for target in candidates:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            return write_rejected_csv(path=target, header=header, rejections=result.rejections)
        except OSError:
            continue  # a read-only input folder: try the next place
    result.notes.append("could not write the rejected-rows file; they are in the import run")
    return None


def read_series_info(path: Path) -> dict[str, SeriesInfo]:
    """Read ``code,name,unit[,source]`` rows describing index series."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ImportFileError(f"{path.name}: cannot read series names ({exc})") from exc
    if rows and "code" not in rows[0]:
        raise ImportFileError(f"{path.name}: series names need a 'code' column")
    return {
        r["code"].strip(): SeriesInfo(
            name=(r.get("name") or "").strip() or None,
            unit=(r.get("unit") or "").strip() or None,
            source=(r.get("source") or "").strip() or None,
        )
        for r in rows
        if (r.get("code") or "").strip()
    }
