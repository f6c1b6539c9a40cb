"""Helpers shared by the importers: attributes as JSON, rejected rows, memoised mapping."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pandas as pd

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
            encoded = parse.floats(numeric_text).map(_json_number)
        else:
            encoded = values.map(memo(json.dumps))
        fragment = (", " + key + ": " + encoded).where(present & encoded.ne(""), "")
        body = body + fragment
    return "{" + body.str[2:] + "}"


def _json_number(value: float) -> str:
    if math.isnan(value):  # not a number after all
        return ""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


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
