"""Read a forecast in plain language: will the price rise, fall or stay within noise?"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from core.errors import InvalidInputError
from ml.forecasting.models import DEFAULT_LEVEL


def buy_signal(
    forecast_df: pd.DataFrame,
    last_value: float,
    *,
    step: int | None = None,
    level: float | None = None,
) -> dict[str, Any]:
    """Return the expected change at the horizon end, its interval and a plain reading.

    ``step`` picks an earlier month of the forecast (1 = first month); the default is the
    last. ``level`` defaults to the level the forecast was made with (0.8 if unknown).
    ``direction`` is ``rise`` when the whole interval lies above the last value, ``fall``
    when it lies below, and ``flat`` when it straddles it (a change within noise).
    """
    missing = {"date", "mean", "lower", "upper"} - set(forecast_df.columns)
    if missing or forecast_df.empty:
        raise InvalidInputError("A forecast needs rows with date, mean, lower and upper.")
    if not (math.isfinite(last_value) and last_value > 0):
        raise InvalidInputError("The last value must be a positive price.")
    months = len(forecast_df)
    step = months if step is None else step
    if not 1 <= step <= months:
        raise InvalidInputError(f"The step must be 1 to {months}, the months forecast.")
    if level is None:
        level = float(forecast_df.attrs.get("level", DEFAULT_LEVEL))

    row = forecast_df.iloc[step - 1]
    date = pd.Timestamp(row["date"])
    change, low, high = (
        (float(row[column]) / last_value - 1.0) * 100.0 for column in ("mean", "lower", "upper")
    )
    band = f"{level:.0%} interval {low:+.1f}% to {high:+.1f}%"
    when = f"by {date:%Y-%m} ({step} month{'s' if step != 1 else ''} ahead)"
    if low > 0:
        direction = "rise"
        summary = f"Prices are expected to rise: {change:+.1f}% {when}; {band}."
    elif high < 0:
        direction = "fall"
        summary = f"Prices are expected to fall: {change:+.1f}% {when}; {band}."
    else:
        direction = "flat"
        summary = (
            f"Prices are expected to stay within noise: {change:+.1f}% {when}, "
            f"but the {band} straddles zero."
        )
    return {
        "date": f"{date:%Y-%m-%d}",
        "months_ahead": step,
        "last_value": float(last_value),
        "expected_value": float(row["mean"]),
        "expected_change_pct": round(change, 2),
        "lower_change_pct": round(low, 2),
        "upper_change_pct": round(high, 2),
        "level": level,
        "direction": direction,
        "summary": summary,
    }
