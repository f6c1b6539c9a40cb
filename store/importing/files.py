"""Read CSV (plain or gzip) and Excel files into columns of strings with line numbers.

A row whose field count differs from the header's is rejected here, with its line
number, and the rest of the file is still read.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from core.errors import ImportFileError

ProgressFn = Callable[[str, int, int], None]
"""Progress callback: (phase, done, total); total may be 0 when unknown."""

EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


@dataclass
class RawTable:
    """A file's header and its rows as strings, each row with its line number."""

    source_name: str
    header: list[str]
    columns: dict[str, list[str]]
    line_numbers: list[int]
    rejected: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    sha256: str = ""

    @property
    def row_count(self) -> int:
        """Rows read, rejected ones included."""
        return len(self.line_numbers) + len(self.rejected)


def read_table(path: Path, *, progress: ProgressFn | None = None) -> RawTable:
    """Read a CSV, CSV.gz or Excel file; raise ImportFileError if it cannot be read at all."""
    if not path.exists():
        raise ImportFileError(f"file not found: {path}")
    if path.is_dir():
        raise ImportFileError(f"{path} is a folder, not a file")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in EXCEL_SUFFIXES:
        return _read_excel(path, progress)
    if suffixes and suffixes[-1] == ".xls":
        raise ImportFileError(f"{path.name}: legacy .xls is not supported; save it as .xlsx or CSV")
    return _read_csv(path, progress)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _clean_header(raw: list[str], source: str) -> list[str]:
    header = [h.strip().lstrip("\ufeff").strip() for h in raw]
    if not any(header):
        raise ImportFileError(f"{source}: the first line must be a header row")
    seen: set[str] = set()
    for name in header:
        if not name:
            raise ImportFileError(f"{source}: the header has an empty column name")
        if name.lower() in seen:
            raise ImportFileError(f"{source}: the header repeats column {name!r}")
        seen.add(name.lower())
    return header


class _CountingReader(io.RawIOBase):
    """Wrap a binary stream and report bytes consumed (for a progress bar)."""

    def __init__(self, raw: IO[bytes], report: Callable[[int], None]) -> None:
        self._raw = raw
        self._report = report
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        self._report(self.count)
        return n


@contextmanager
def _open_text(path: Path, progress: ProgressFn | None) -> Iterator[IO[str]]:
    total = path.stat().st_size
    with path.open("rb") as fh:
        counting = _CountingReader(
            fh, (lambda n: progress("read", n, total)) if progress else (lambda n: None)
        )
        binary: IO[bytes] = io.BufferedReader(counting, buffer_size=1 << 20)
        if path.suffix.lower() == ".gz":
            binary = gzip.GzipFile(fileobj=binary)  # type: ignore[assignment]
        # utf-8-sig drops a BOM that spreadsheet exports often add.
        yield io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def _read_csv(path: Path, progress: ProgressFn | None) -> RawTable:
    source = path.name
    try:
        with _open_text(path, progress) as text:
            first = text.readline()
            if not first.strip():
                raise ImportFileError(f"{source}: empty file, or no header on the first line")
            reader = csv.reader(itertools.chain([first], text), _dialect(first))
            return _collect(reader, source, _sha256(path))
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    except (gzip.BadGzipFile, EOFError, OSError) as exc:
        raise ImportFileError(f"{source}: cannot read the file ({exc})") from exc
    except csv.Error as exc:
        raise ImportFileError(f"{source}: unreadable CSV ({exc})") from exc


def _dialect(header_line: str) -> type[csv.Dialect]:
    """Pick the delimiter the header uses most (comma, semicolon, tab or pipe)."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])

    class Sniffed(csv.excel):
        delimiter = best if counts[best] else ","

    return Sniffed


def _collect(reader: Any, source: str, sha: str) -> RawTable:
    try:
        raw_header = next(reader)
    except StopIteration:
        raise ImportFileError(f"{source}: empty file") from None
    header = _clean_header(raw_header, source)
    width = len(header)
    cols: list[list[str]] = [[] for _ in header]
    lines: list[int] = []
    rejected: list[tuple[int, str, dict[str, str]]] = []
    line_start = reader.line_num + 1
    append_line = lines.append
    for row in reader:
        if len(row) == width:
            append_line(line_start)
            for col, value in zip(cols, row, strict=True):
                col.append(value)
        elif not row or (len(row) == 1 and not row[0].strip()):
            pass  # blank line: nothing to import, nothing lost
        else:
            raw = {
                header[i] if i < width else f"extra_{i + 1 - width}": v for i, v in enumerate(row)
            }
            rejected.append(
                (line_start, f"has {len(row)} fields where the header has {width}", raw)
            )
        line_start = reader.line_num + 1
    return RawTable(
        source_name=source,
        header=header,
        columns=dict(zip(header, cols, strict=True)),
        line_numbers=lines,
        rejected=rejected,
        sha256=sha,
    )


def _excel_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_excel(path: Path, progress: ProgressFn | None) -> RawTable:
    import openpyxl

    source = path.name
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a bad file
        raise ImportFileError(f"{source}: not a readable Excel workbook ({exc})") from exc
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        try:
            raw_header = next(rows)
        except StopIteration:
            raise ImportFileError(f"{source}: the first sheet is empty") from None
        # Trailing empty header cells are formatting, not columns.
        raw_list = [_excel_text(v) for v in raw_header]
        while raw_list and not raw_list[-1].strip():
            raw_list.pop()
        header = _clean_header(raw_list, source)
        width = len(header)
        cols: list[list[str]] = [[] for _ in header]
        lines: list[int] = []
        rejected: list[tuple[int, str, dict[str, str]]] = []
        total = sheet.max_row or 0
        for line_no, values in enumerate(rows, start=2):
            cells = [_excel_text(v) for v in values]
            if not any(c.strip() for c in cells):
                continue
            extra = [c for c in cells[width:] if c.strip()]
            if extra:
                raw = {f"extra_{i + 1}": v for i, v in enumerate(cells[width:])}
                raw.update(dict(zip(header, cells, strict=False)))
                rejected.append((line_no, f"has values beyond the {width} header columns", raw))
                continue
            cells = (cells + [""] * width)[:width]
            lines.append(line_no)
            for col, value in zip(cols, cells, strict=True):
                col.append(value)
            if progress and line_no % 10_000 == 0:
                progress("read", line_no, total)
    finally:
        book.close()
    return RawTable(
        source_name=source,
        header=header,
        columns=dict(zip(header, cols, strict=True)),
        line_numbers=lines,
        rejected=rejected,
        sha256=_sha256(path),
    )
