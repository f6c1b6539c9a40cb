"""Vectorised parsers for import columns.

Each parser takes a column of strings and returns the parsed column plus, per row, a
reason when the value is unacceptable (``None`` where it is fine). Numbers are kept as
normalised decimal *text*, so they reach PostgreSQL's NUMERIC exactly, never via float.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Reasons = pd.Series  # of str | None, aligned with the column

DECIMAL_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
# Patterns are strings, not compiled objects: pandas runs string patterns on Arrow-backed
# columns in C++, but falls back to Python's re for a compiled pattern.
_PLAIN_NUMBER_CHARS = r"^[0-9.eE+\-]*$"
_THOUSANDS_RE = r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$"
# Common currency signs and codes people leave in price cells.
_CURRENCY_NOISE = r"^\s*(?:[$€£¥]|USD|EUR|GBP)\s*|\s*(?:[$€£¥]|USD|EUR|GBP)\s*$"

DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%b-%Y", "%Y%m%d")

TRUE_WORDS = {"true", "t", "yes", "y", "1", "x", "awarded", "won"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "lost", "not awarded"}

INCOTERMS = {
    # Incoterms 2020, plus 2010's DAT that contracts still carry.
    "EXW",
    "FCA",
    "CPT",
    "CIP",
    "DAP",
    "DPU",
    "DDP",
    "FAS",
    "FOB",
    "CFR",
    "CIF",
    "DAT",
}


def blank(col: pd.Series) -> pd.Series:
    """Mask of empty or whitespace-only cells."""
    return col.str.strip().eq("") | col.isna()


def _reasons(index: pd.Index) -> pd.Series:
    return pd.Series([None] * len(index), index=index, dtype=object)


def required(col: pd.Series, field: str) -> Reasons:
    """Reason for each empty cell of a required field."""
    reasons = _reasons(col.index)
    reasons[blank(col)] = f"{field} is missing"
    return reasons


def decimal_text(
    col: pd.Series, field: str, *, minimum: str | None = None, allow_zero: bool = True
) -> tuple[pd.Series, Reasons]:
    """Parse decimals (``1,234.50``, ``$12``) to normalised text; blanks stay empty."""
    text = col.str.strip()
    # Most cells are plain numbers already; clean only the others ($1,234.50, 12 EUR).
    dirty = ~text.str.match(_PLAIN_NUMBER_CHARS)
    if dirty.any():
        cleaned = text[dirty].str.replace(_CURRENCY_NOISE, "", regex=True)
        thousands = cleaned.str.match(_THOUSANDS_RE)
        cleaned = cleaned.where(~thousands, cleaned.str.replace(",", "", regex=False))
        text = text.where(~dirty, cleaned)
    empty = text.eq("")
    ok = text.str.match(DECIMAL_RE)
    reasons = _reasons(col.index)
    bad = ~empty & ~ok
    reasons[bad] = field + " is not a number: " + col[bad].map(repr)
    values = pd.to_numeric(text.where(ok), errors="coerce")
    if minimum == "0":
        negative = ok & (values < 0)
        reasons[negative] = field + " is negative: " + col[negative].str.strip()
    if not allow_zero:
        zero = ok & (values == 0)
        reasons[zero] = field + " must be greater than zero"
    non_finite = ok & ~np.isfinite(values.fillna(0))
    reasons[non_finite] = field + " is out of range: " + col[non_finite].str.strip()
    return text.where(ok & reasons.isna(), ""), reasons


def floats(text: pd.Series) -> pd.Series:
    """Float view of normalised decimal text (for keys and attributes, never money)."""
    # Always float64: a key built from 1080 and one built from 1080.0 must agree.
    return pd.to_numeric(text.where(text.ne("")), errors="coerce").astype("float64")


def dates(col: pd.Series, field: str, *, fmt: str | None = None) -> tuple[pd.Series, Reasons]:
    """Parse dates to ISO text; the format is given, or the one of DATE_FORMATS fitting most."""
    text = col.str.strip()
    # Excel and ERP exports may carry a time part on a date column.
    text = text.str.replace(r"[T ]00:00(?::00(?:\.0+)?)?$", "", regex=True)
    empty = text.eq("")
    formats = [fmt] if fmt else list(DATE_FORMATS)
    best: pd.Series | None = None
    best_count = -1
    for candidate in formats:
        parsed = pd.to_datetime(text.where(~empty), format=candidate, errors="coerce")
        count = int(parsed.notna().sum())
        if count > best_count:
            best, best_count = parsed, count
        if count == int((~empty).sum()):
            break
    assert best is not None
    reasons = _reasons(col.index)
    bad = ~empty & best.isna()
    reasons[bad] = field + " is not a date: " + col[bad].map(repr)
    too_far = best.notna() & ((best.dt.year < 1900) | (best.dt.year > 2200))
    reasons[too_far] = field + " is out of range: " + col[too_far].str.strip()
    iso = best.dt.strftime("%Y-%m-%d").where(best.notna() & ~too_far, "")
    return iso.astype(object), reasons


def codes(
    col: pd.Series, field: str, allowed: set[str], *, default: str | None = None
) -> tuple[pd.Series, Reasons]:
    """Upper-case codes that must be in ``allowed`` (currencies, incoterms)."""
    text = col.str.strip().str.upper()
    if default is not None:
        text = text.where(text.ne(""), default)
    reasons = _reasons(col.index)
    bad = text.ne("") & ~text.isin(allowed)
    reasons[bad] = "unknown " + field + " " + col[bad].str.strip().map(repr)
    return text.where(~bad, ""), reasons


def units(
    col: pd.Series, field: str, lookup: dict[str, str], *, default: str | None = None
) -> tuple[pd.Series, Reasons]:
    """Map unit spellings to catalogue codes through the alias table."""
    key = col.str.upper().str.replace(r"[\s._\-]+", "", regex=True)
    mapped = key.map(lookup)
    empty = key.eq("")
    if default is not None:
        mapped = mapped.where(~empty, default)
    reasons = _reasons(col.index)
    bad = ~empty & mapped.isna()
    reasons[bad] = "unknown " + field + " " + col[bad].str.strip().map(repr)
    return mapped.fillna(""), reasons


def integers(col: pd.Series, field: str, *, minimum: int = 0) -> tuple[pd.Series, Reasons]:
    """Parse whole numbers (``12``, ``12.0``) at or above ``minimum``."""
    text = col.str.strip()
    empty = text.eq("")
    values = pd.to_numeric(text.where(~empty), errors="coerce")
    whole = values.notna() & (values == values.round()) & (values.abs() < 2**31)
    reasons = _reasons(col.index)
    bad = ~empty & ~whole
    reasons[bad] = field + " is not a whole number: " + col[bad].map(repr)
    low = whole & (values < minimum)
    reasons[low] = f"{field} is below {minimum}: " + col[low].str.strip()
    out = values.where(whole & ~low).astype("Int64").astype(str).replace("<NA>", "")
    return out, reasons


def booleans(col: pd.Series, field: str) -> tuple[pd.Series, Reasons]:
    """Parse yes/no style flags to ``t``/``f`` text (empty where unknown)."""
    text = col.str.strip().str.lower()
    out = pd.Series("", index=col.index, dtype=object)
    out[text.isin(TRUE_WORDS)] = "t"
    out[text.isin(FALSE_WORDS)] = "f"
    reasons = _reasons(col.index)
    bad = text.ne("") & out.eq("")
    reasons[bad] = field + " is not yes/no: " + col[bad].map(repr)
    return out, reasons


def combine(reasons: list[Reasons], index: pd.Index) -> pd.Series:
    """Join every reason a row has into one message (None where the row is good)."""
    joined = pd.Series([None] * len(index), index=index, dtype=object)
    for r in reasons:
        present = r.notna()
        if not present.any():
            continue
        both = present & joined.notna()
        joined[both] = joined[both] + "; " + r[both]
        only = present & joined.isna()
        joined[only] = r[only]
    return joined
