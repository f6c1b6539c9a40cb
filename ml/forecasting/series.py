"""Turn a raw price series into the regular monthly series every model expects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import InvalidInputError

#: Gaps of at most this many months are forward-filled; longer gaps cut the series.
MAX_FILL_MONTHS = 2


def regularise_monthly(series: pd.Series, *, max_fill: int = MAX_FILL_MONTHS) -> pd.Series:
    """Return the series on a gap-free month-start index, float values, oldest first.

    Timestamps are snapped to the first day of their month and several values in one
    month are averaged. Missing, non-numeric and infinite values count as gaps. A gap
    of at most ``max_fill`` months is forward-filled (the last price stands until the
    next one is known). A longer gap breaks the series: only the stretch after the last
    such gap is kept, because a forecast has to start from the latest observation.
    """
    if not isinstance(series, pd.Series):
        raise InvalidInputError("A price series must be a pandas Series.")
    index = _dates(series.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    values = pd.Series(
        pd.to_numeric(series.to_numpy(), errors="coerce"), index=index, dtype="float64"
    )
    values = values[np.isfinite(values.to_numpy())]
    if values.empty:
        raise InvalidInputError("The price series has no numeric values.")
    months = pd.DatetimeIndex(values.index).to_period("M").to_timestamp()
    monthly = values.groupby(months).mean()
    full = pd.date_range(monthly.index[0], monthly.index[-1], freq="MS")
    monthly = monthly.reindex(full)

    missing = monthly.isna().to_numpy()
    start = _start_after_last_long_gap(missing, max_fill)
    monthly = monthly.iloc[start:].ffill(limit=max_fill)
    monthly.index = pd.DatetimeIndex(monthly.index, freq="MS")
    monthly.name = series.name
    return monthly


def _dates(index: pd.Index) -> pd.DatetimeIndex:
    """Return the index as naive timestamps; only dates (or date strings) are accepted."""
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp()
    if isinstance(index, pd.DatetimeIndex):
        return index
    if index.dtype == object:
        try:
            return pd.DatetimeIndex(pd.to_datetime(index))
        except (TypeError, ValueError):
            pass
    raise InvalidInputError("A price series needs a DatetimeIndex of month dates.")


def _start_after_last_long_gap(missing: np.ndarray, max_fill: int) -> int:
    """Return the position just after the last run of more than ``max_fill`` gaps."""
    start = 0
    run = 0
    for pos, is_missing in enumerate(missing):
        run = run + 1 if is_missing else 0
        if run > max_fill:
            start = pos + 1
    return start


def require_length(series: pd.Series, needed: int, purpose: str) -> None:
    """Raise ``InvalidInputError`` unless the regular series has ``needed`` months."""
    if len(series) >= needed:
        return
    span = f" ({series.index[0]:%Y-%m} to {series.index[-1]:%Y-%m})" if len(series) else ""
    label = f"The series {series.name}" if series.name is not None else "The series"
    raise InvalidInputError(
        f"{label} is too short for {purpose}: it has {len(series)} "
        f"monthly values{span} after regularisation, {needed} are needed. Gaps longer than "
        f"{MAX_FILL_MONTHS} months cut the series and only the stretch after the last such "
        "gap is used."
    )
