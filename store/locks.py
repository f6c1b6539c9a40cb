"""Work that must not run twice at once, across processes: PostgreSQL advisory locks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from core.errors import ConflictError
from store.db import Database


@contextmanager
def exclusive(database: Database, key: str, busy: str) -> Iterator[None]:
    """Hold the session advisory lock named ``key``, or raise ConflictError(``busy``) at once.

    The lock lives on a connection of its own for as long as the block runs, and goes
    with that connection if the process dies, so a crash never leaves it held.
    """
    with database.service_engine.connect() as connection:
        held = connection.scalar(
            text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": key}
        )
        connection.commit()
        if not held:
            raise ConflictError(busy)
        try:
            yield
        finally:
            connection.execute(
                text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": key}
            )
            connection.commit()
