"""Import market index series: a date column and one column per series (FRED, World Bank).

A blank cell means "no observation that month" (series start at different dates), not
an error. A cell that is not a number is rejected with its line and column; the other
cells of that row are still imported, and the rejection says so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from core.errors import ImportFileError
from store.bulk import raw_cursor
from store.importing import parse
from store.importing.common import rejections_for
from store.importing.files import ProgressFn, RawTable
from store.importing.mapping import ColumnMapping
from store.importing.runs import ImportResult, begin_import, end_import


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """Descriptive facts about a series that the data file itself does not carry."""

    name: str | None = None
    unit: str | None = None
    source: str | None = None


_UPSERT_SERIES = """
INSERT INTO index_series (org_id, code, name, unit, frequency, source)
VALUES (:org, :code, :name, :unit, :frequency, :source)
ON CONFLICT (org_id, code) DO UPDATE SET
    name = coalesce(excluded.name, index_series.name),
    unit = coalesce(excluded.unit, index_series.unit),
    source = coalesce(excluded.source, index_series.source)
RETURNING id
"""

_CREATE_STAGE = """
CREATE TEMP TABLE import_index_stage (series_id bigint, obs_date date, value numeric)
ON COMMIT DROP
"""

_UPSERT_OBSERVATIONS = """
WITH upserted AS (
    INSERT INTO index_observations (org_id, series_id, obs_date, value)
    SELECT :org, series_id, obs_date, value FROM import_index_stage
    ON CONFLICT (org_id, series_id, obs_date) DO UPDATE SET value = excluded.value
    WHERE index_observations.value IS DISTINCT FROM excluded.value
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
"""


def infer_frequency(dates: pd.Series) -> str:
    """Name the spacing of observation dates (daily … annual) from their median gap."""
    ordered = pd.to_datetime(dates.dropna().drop_duplicates()).sort_values()
    if len(ordered) < 2:
        return "monthly"
    gap = ordered.diff().dt.days.median()
    for limit, name in ((1.5, "daily"), (8, "weekly"), (35, "monthly"), (100, "quarterly")):
        if gap <= limit:
            return name
    return "annual"


def import_index(
    *,
    session: Session,
    org_id: uuid.UUID,
    table: RawTable,
    mapping: ColumnMapping,
    actor: str,
    series_info: dict[str, SeriesInfo] | None = None,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import index observations from a wide file in the caller's transaction.

    Counts are in observations (one per non-blank cell), not rows.
    """
    date_column = _date_column(table, mapping)
    series_columns = [c for c in table.header if c != date_column]
    if not series_columns:
        raise ImportFileError(f"{table.source_name}: no series columns besides {date_column!r}")
    result = begin_import(
        session=session,
        org_id=org_id,
        kind="index",
        table=table,
        mapping=mapping.as_json(),
        actor=actor,
    )
    index = pd.RangeIndex(len(table.line_numbers))
    dates, date_reasons = parse.dates(
        pd.Series(table.columns[date_column], index=index, dtype=object),
        "date",
        fmt=mapping.date_format,
    )
    date_reasons[parse.blank(pd.Series(table.columns[date_column], index=index))] = (
        "date is missing"
    )
    dup = date_reasons.isna() & dates.duplicated(keep="first")
    date_reasons[dup] = "date repeats an earlier line"

    cell_problems: dict[int, list[str]] = {}
    frames: list[pd.DataFrame] = []
    frequency = infer_frequency(dates.where(date_reasons.isna()).replace("", None))
    info = series_info or {}
    for column in series_columns:
        values, reasons = parse.decimal_text(
            pd.Series(table.columns[column], index=index, dtype=object), column
        )
        ok = date_reasons.isna() & reasons.isna() & values.ne("")
        bad = date_reasons.isna() & reasons.notna()
        for i in index[bad]:
            cell_problems.setdefault(int(i), []).append(str(reasons[i]))
        if not ok.any():
            continue
        facts = info.get(column, SeriesInfo())
        series_id = session.execute(
            text(_UPSERT_SERIES),
            {
                "org": org_id,
                "code": column,
                "name": facts.name,
                "unit": facts.unit,
                "frequency": frequency,
                "source": facts.source or mapping.source,
            },
        ).scalar_one()
        frames.append(
            pd.DataFrame({"series_id": series_id, "obs_date": dates[ok], "value": values[ok]})
        )

    bad_dates = index[date_reasons.notna()]
    result.rejections.extend(rejections_for(table, bad_dates, date_reasons))
    cells = pd.Series(
        {
            i: "; ".join(p) + " (the row's other values were imported)"
            for i, p in cell_problems.items()
        },
        dtype=object,
    )
    result.rejections.extend(rejections_for(table, cells.index, cells))

    if frames:
        observations = pd.concat(frames, ignore_index=True)
        connection = session.connection()
        connection.execute(text(_CREATE_STAGE))
        _copy_stage(connection, observations)
        row = connection.execute(text(_UPSERT_OBSERVATIONS), {"org": org_id}).one()
        connection.execute(text("DROP TABLE import_index_stage"))
        result.inserted, result.updated = int(row[0]), int(row[1])
        result.unchanged = len(observations) - result.inserted - result.updated
    if progress:
        progress("write", 1, 1)
    result.notes.append(f"{len(frames)} series, counts are observations; frequency {frequency}")
    end_import(session=session, org_id=org_id, result=result, actor=actor)
    return result


def _copy_stage(connection: Connection, observations: pd.DataFrame) -> None:
    with raw_cursor(connection).copy(
        "COPY import_index_stage (series_id, obs_date, value) FROM STDIN"
    ) as copy:
        for series_id, obs_date, value in zip(
            observations["series_id"].tolist(),
            observations["obs_date"].tolist(),
            observations["value"].tolist(),
            strict=True,
        ):
            copy.write_row((series_id, obs_date, value))


def _date_column(table: RawTable, mapping: ColumnMapping) -> str:
    mapped = [src for src, dst in mapping.columns.items() if dst == "date"]
    if mapped:
        match = [h for h in table.header if h.lower() == mapped[0].lower()]
        if not match:
            raise ImportFileError(f"{table.source_name}: no column {mapped[0]!r} for the date")
        return match[0]
    for name in table.header:
        if name.strip().lower() in {"date", "month", "period", "observation_date"}:
            return name
    raise ImportFileError(
        f"{table.source_name}: no date column (expected 'date'); the file has "
        f'{", ".join(table.header[:8])}... Map one with --map "Your Column=date".'
    )
