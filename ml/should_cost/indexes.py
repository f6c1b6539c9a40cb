"""Market index look-ups: the latest observation on or before a date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.errors import InvalidInputError

INDEX_COLUMNS = ("code", "obs_date", "value")


@dataclass(frozen=True, slots=True)
class Observation:
    """One index value: ``value`` of series ``code`` dated ``obs_date``."""

    code: str
    obs_date: date
    value: float


class IndexTable:
    """Index series held in memory, sorted by date, for as-of look-ups."""

    def __init__(self, index_values: pd.DataFrame) -> None:
        missing = [c for c in INDEX_COLUMNS if c not in index_values.columns]
        if missing:
            raise InvalidInputError(
                f"index_values: missing column(s) {', '.join(missing)};"
                f" expected {', '.join(INDEX_COLUMNS)}"
            )
        frame = pd.DataFrame(
            {
                "code": index_values["code"].astype(str),
                "obs_date": pd.to_datetime(index_values["obs_date"], errors="coerce"),
                "value": pd.to_numeric(index_values["value"], errors="coerce"),
            }
        )
        # Blanks in the source files mean "not published"; they are skipped, not zero.
        frame = frame.dropna(subset=["obs_date", "value"])
        bad = frame[frame["value"] <= 0]
        if len(bad):
            row = bad.iloc[0]
            raise InvalidInputError(
                f"index_values: {row['code']} at {row['obs_date']:%Y-%m-%d} is"
                f" {row['value']}; index values must be > 0"
            )
        self._series: dict[str, tuple[npt.NDArray[np.datetime64], npt.NDArray[np.float64]]] = {}
        for code, group in frame.groupby("code", sort=False):
            ordered = group.sort_values("obs_date").drop_duplicates("obs_date", keep="last")
            self._series[str(code)] = (
                ordered["obs_date"].to_numpy(dtype="datetime64[D]"),
                ordered["value"].to_numpy(dtype=np.float64),
            )

    def codes(self) -> list[str]:
        """Return the series codes held."""
        return sorted(self._series)

    def as_of(self, code: str, on: date) -> Observation | None:
        """Return the latest observation of ``code`` on or before ``on``, or None."""
        series = self._series.get(code)
        if series is None:
            return None
        dates, values = series
        pos = int(np.searchsorted(dates, np.datetime64(on, "D"), side="right")) - 1
        if pos < 0:
            return None
        obs_date = dates[pos].astype("datetime64[D]").item()
        return Observation(code=code, obs_date=obs_date, value=float(values[pos]))

    def as_of_many(self, code: str, on: npt.NDArray[np.datetime64]) -> npt.NDArray[np.float64]:
        """Return the as-of value for each date (NaN where there is none)."""
        out = np.full(len(on), np.nan)
        series = self._series.get(code)
        if series is None:
            return out
        dates, values = series
        pos = np.searchsorted(dates, on.astype("datetime64[D]"), side="right") - 1
        found = pos >= 0
        out[found] = values[pos[found]]
        return out


def index_values_from_wide(frame: pd.DataFrame, *, date_column: str = "date") -> pd.DataFrame:
    """Reshape a wide monthly file (a date column, one column per series) to code/obs_date/value."""
    if date_column not in frame.columns:
        raise InvalidInputError(f"index file: no {date_column!r} column")
    long = frame.melt(id_vars=[date_column], var_name="code", value_name="value")
    long = long.dropna(subset=["value"])
    return pd.DataFrame(
        {
            "code": long["code"].astype(str).to_numpy(),
            "obs_date": pd.to_datetime(long[date_column]).to_numpy(),
            "value": pd.to_numeric(long["value"]).to_numpy(dtype=np.float64),
        }
    )
