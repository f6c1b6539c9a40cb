"""Helpers shared by the importers: attributes as JSON, rejected rows, memoised mapping."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from store.importing import parse
from store.importing.files import RawTable
from store.importing.runs import Rejection


def memo(fn: Callable[[str], str]) -> Callable[[str], str]:
    """Cache a per-value function: columns repeat few distinct values many times."""
    cache: dict[str, str] = {}

    def wrapped(value: str) -> str:
        if value not in cache:
            cache[value] = fn(value) if value else ""
        return cache[value]

    return wrapped


def attributes_json(
    columns: dict[str, pd.Series], types: dict[str, str], index: pd.Index
) -> pd.Series:
    """Build each row's attributes object as JSON text, column by column (vectorised)."""
    body = pd.Series("", index=index, dtype=object)
    for name, series in columns.items():
        values = series.astype(str).str.strip()
        present = values.ne("")
        if not present.any():
            continue
        key = json.dumps(name)
        numeric_text, bad = parse.decimal_text(values, name)
        is_number = types.get(name) != "text" and (
            types.get(name) == "number" or bool(bad[present].isna().all())
        )
        if is_number:
            encoded = _json_numbers(parse.floats(numeric_text))
        else:
            encoded = values.map(memo(json.dumps))
        fragment = (", " + key + ": " + encoded).where(present & encoded.ne(""), "")
        body = body + fragment
    return "{" + body.str[2:] + "}"


def _json_numbers(values: pd.Series) -> pd.Series:
    """JSON text of floats: whole numbers without ``.0``; blank where not a number."""
    encoded = pd.Series("", index=values.index, dtype=object)
    whole = values.notna() & (values == np.floor(values)) & (values.abs() < 2**53)
    encoded[whole] = values[whole].astype("int64").astype(str)
    fraction = values.notna() & ~whole
    encoded[fraction] = values[fraction].map(repr)
    return encoded


def rejections_for(table: RawTable, rows: pd.Index, reasons: pd.Series) -> list[Rejection]:
    """Turn rejected row positions and their reasons into Rejections with raw values."""
    header = table.header
    cols = [table.columns[h] for h in header]
    return [
        Rejection(
            table.line_numbers[i],
            str(reasons[i]),
            {h: c[i] for h, c in zip(header, cols, strict=True)},
        )
        for i in rows
    ]


def csv_for_copy(frame: pd.DataFrame) -> bytes:
    """Render a frame as CSV for ``COPY … WITH (FORMAT csv)``: blank cells become NULL."""
    arrays = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind in "iu":
            arrays.append(pa.array(column.to_numpy()))
        else:
            text = column.astype("str")
            arrays.append(pa.array(text.where(text.ne(""), None), type=pa.string()))
    table = pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return bytes(sink.getvalue().to_pybytes())
