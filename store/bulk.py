"""Bulk writes through COPY.

PostgreSQL refuses ``COPY FROM`` into a table under row-level security for a role the
policy applies to, so bulk rows are copied into a temporary table (no policy, no WAL)
and moved with one ``INSERT ... SELECT``, where the policy checks every row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, text


def raw_cursor(connection: Connection) -> Any:
    """Return a psycopg cursor on the same connection and transaction."""
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]


def copy_rows_into(
    connection: Connection,
    *,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    on_conflict: str = "",
) -> int:
    """COPY ``rows`` into ``table`` through a temporary staging table; return rows inserted."""
    cols = ", ".join(columns)
    stage = f"_stage_{table}"
    connection.execute(
        text(f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA")
    )
    with raw_cursor(connection).copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    result = connection.execute(
        text(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} {on_conflict}")
    )
    connection.execute(text(f"DROP TABLE {stage}"))
    return int(result.rowcount or 0)
