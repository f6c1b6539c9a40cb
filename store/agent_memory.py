"""Conversation memory: LangGraph's Postgres checkpointer, isolated by organisation.

The checkpointer's tables live in their own schema, ``agent_memory``, created by the
library's own ``setup()`` (so its migrations stay its own). Every thread key there is
``"<org_id>:<thread_id>"`` and row-level security compares that prefix with the
transaction's organisation, exactly as ``org_id`` columns are compared elsewhere: a
service connection scoped to one organisation cannot read, resume or overwrite another's
conversation, whatever thread id it is given.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver

from store.db import Database
from store.tenancy import CURRENT_ORG_FUNCTION

SCHEMA = "agent_memory"
DATA_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
VERSION_TABLE = "checkpoint_migrations"


def thread_key(org_id: uuid.UUID, thread_id: str) -> str:
    """Return the checkpointer's key for an organisation's thread."""
    return f"{org_id}:{thread_id}"


def setup_statements(app_role: str, function_schema: str) -> list[str]:
    """Return the idempotent statements that isolate the checkpointer's tables."""
    owner_of_key = (
        f"split_part(thread_id, ':', 1) = {function_schema}.{CURRENT_ORG_FUNCTION}()::text"
    )
    statements = [f'GRANT USAGE ON SCHEMA {SCHEMA} TO "{app_role}"']
    for table in DATA_TABLES:
        qualified = f"{SCHEMA}.{table}"
        statements += [
            f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS tenant_isolation ON {qualified}",
            f"CREATE POLICY tenant_isolation ON {qualified} "
            f"USING ({owner_of_key}) WITH CHECK ({owner_of_key})",
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON {qualified} TO "{app_role}"',
        ]
    statements.append(f'GRANT SELECT ON {SCHEMA}.{VERSION_TABLE} TO "{app_role}"')
    return statements


def ensure_schema(dbapi_connection: Any, *, app_role: str) -> None:
    """Create or upgrade the checkpointer's tables and isolate them (owner, autocommit).

    ``dbapi_connection`` is a psycopg connection in autocommit mode: the library's
    migrations build indexes CONCURRENTLY, which a transaction block refuses.
    """
    function_schema = dbapi_connection.execute("SELECT current_schema()").fetchone()[0]
    search_path = dbapi_connection.execute("SHOW search_path").fetchone()[0]
    dbapi_connection.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    dbapi_connection.execute(f"SET search_path TO {SCHEMA}")
    try:
        PostgresSaver(dbapi_connection).setup()
    finally:
        dbapi_connection.execute(f"SET search_path TO {search_path}")
    for statement in setup_statements(app_role, function_schema):
        dbapi_connection.execute(statement)


def drop_schema(dbapi_connection: Any) -> None:
    """Remove the checkpointer's schema and every conversation in it."""
    dbapi_connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


@contextmanager
def checkpointer(database: Database, org_id: uuid.UUID) -> Iterator[PostgresSaver]:
    """Yield a checkpointer on a service connection scoped to ``org_id`` for one turn.

    The connection is borrowed from the service pool (so it acts as the application
    role) and handed back with its session settings undone.
    """
    raw = database.service_engine.raw_connection()
    connection: Any = raw.driver_connection
    clean = False
    try:
        connection.rollback()
        connection.autocommit = True
        connection.execute(f"SET search_path TO {SCHEMA}, public")
        connection.execute("SELECT set_config('app.org_id', %s, false)", (str(org_id),))
        yield PostgresSaver(connection)
        connection.execute("RESET search_path")
        connection.execute("RESET app.org_id")
        connection.autocommit = False
        clean = True
    finally:
        if not clean:
            # A connection whose session settings may still name this org never
            # goes back to the pool.
            raw.invalidate()
        raw.close()
