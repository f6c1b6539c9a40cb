"""Migrations on a fresh database: up from empty, down and up again, and schema == models.

Each test gets its own empty database inside the test session's embedded server, so the
tests do not depend on one another's order (or on running in the same xdist worker).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from core.settings import Settings, load_settings
from store import migrate
from store.db import Database
from store.models import REFERENCE_TABLES, TENANT_TABLES, Base


@pytest.fixture
def fresh(settings: Settings, database: Database) -> Iterator[Database]:
    """An empty database on the same embedded server; dropped after the test."""
    name = f"pricing_agent_migr_{uuid.uuid4().hex[:12]}"
    fresh_settings = load_settings(
        database_url=None, database_app_url=None, data_dir=settings.data_dir, db_name=name
    )
    db = Database(fresh_settings)
    try:
        yield db
    finally:
        db.dispose()
        with database.owner_engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _tables(db: Database) -> set[str]:
    with db.owner_engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def _rls(db: Database) -> dict[str, bool]:
    with db.owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, relrowsecurity FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
            )
        ).all()
    return {r.relname: r.relrowsecurity for r in rows}


def _scalar(db: Database, sql: str, **params: object) -> object:
    with db.owner_engine.connect() as conn:
        return conn.scalar(text(sql), params)


def _isolation_state(db: Database) -> dict[str, object]:
    role = db.settings.db_app_role
    rls = _rls(db)
    return {
        "rls_on": sorted(t for t in (*TENANT_TABLES, "organizations") if rls.get(t)),
        "policies": _scalar(
            db, "SELECT count(*) FROM pg_policies WHERE schemaname = current_schema()"
        ),
        "functions": _scalar(
            db,
            "SELECT count(*) FROM pg_proc WHERE proname IN "
            "('pricing_authenticate_api_key', 'pricing_current_org')",
        ),
        "app_reads_items": _scalar(db, "SELECT has_table_privilege(:r, 'items', 'SELECT')", r=role),
        "app_reads_units": _scalar(db, "SELECT has_table_privilege(:r, 'units', 'SELECT')", r=role),
    }


_ISOLATED = {
    "rls_on": sorted((*TENANT_TABLES, "organizations")),
    "policies": len(TENANT_TABLES) + 1,
    "functions": 2,
    "app_reads_items": True,
    "app_reads_units": True,
}
_NOT_ISOLATED = {
    "rls_on": [],
    "policies": 0,
    "functions": 0,
    "app_reads_items": False,
    "app_reads_units": False,
}


def test_revisions_form_one_line_of_dated_files() -> None:
    scripts = ScriptDirectory(str(migrate.MIGRATIONS_DIR))
    assert scripts.get_heads() == [migrate.head_revision()]
    revisions = list(scripts.walk_revisions())
    assert revisions[-1].down_revision is None
    for rev in revisions:
        assert rev.path is not None
        assert re.fullmatch(
            rf"\d{{4}}_\d{{2}}_\d{{2}}_{rev.revision}_[a-z0-9_]+\.py", rev.path.rsplit("/", 1)[-1]
        ), rev.path


def test_upgrade_from_empty_to_head(fresh: Database) -> None:
    assert migrate.current_revision(fresh) is None
    assert _tables(fresh) == set()

    migrate.upgrade(fresh)

    assert migrate.current_revision(fresh) == migrate.head_revision()
    assert migrate.is_current(fresh)
    assert _tables(fresh) == set(Base.metadata.tables) | {"alembic_version"}
    for table in REFERENCE_TABLES:
        assert int(_scalar(fresh, f'SELECT count(*) FROM "{table}"') or 0) > 0, table
    assert _scalar(fresh, "SELECT extname FROM pg_extension WHERE extname = 'vector'") == "vector"
    assert _isolation_state(fresh) == _ISOLATED


def test_downgrade_one_step_turns_isolation_off_and_upgrade_restores_it(
    fresh: Database,
) -> None:
    migrate.upgrade(fresh)
    head = migrate.head_revision()
    previous = ScriptDirectory(str(migrate.MIGRATIONS_DIR)).get_revision(head).down_revision

    migrate.downgrade(fresh, "-1")
    assert migrate.current_revision(fresh) == previous
    assert not migrate.is_current(fresh)
    if head == "0003":
        assert _isolation_state(fresh) == _NOT_ISOLATED

    migrate.upgrade(fresh)
    assert migrate.current_revision(fresh) == head
    assert _isolation_state(fresh) == _ISOLATED


def test_downgrade_of_0003_turns_row_level_security_off(fresh: Database) -> None:
    migrate.upgrade(fresh, "0003")
    migrate.downgrade(fresh, "0002")
    assert migrate.current_revision(fresh) == "0002"
    assert _isolation_state(fresh) == _NOT_ISOLATED
    # The reference data of 0002 is untouched by undoing 0003.
    assert int(_scalar(fresh, "SELECT count(*) FROM units") or 0) > 0


def test_full_round_trip_to_base(fresh: Database) -> None:
    migrate.upgrade(fresh)
    migrate.downgrade(fresh, "base")
    assert migrate.current_revision(fresh) is None
    assert _tables(fresh) <= {"alembic_version"}
    migrate.upgrade(fresh)
    assert migrate.is_current(fresh)
    assert _isolation_state(fresh) == _ISOLATED


def test_models_match_the_migrated_schema(fresh: Database) -> None:
    migrate.upgrade(fresh)
    with fresh.owner_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def _metadata_constraint_names() -> set[str]:
    # Render the DDL the models would emit, so the naming convention is applied exactly.
    names: set[str] = set()
    for table in Base.metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
        names.update(re.findall(r"CONSTRAINT (\w+)", ddl))
    return names


def test_migrated_constraints_are_named_as_the_models_name_them(fresh: Database) -> None:
    # compare_metadata ignores CHECK constraints and constraint names; this covers both.
    migrate.upgrade(fresh)
    with fresh.owner_engine.connect() as conn:
        in_db = set(
            conn.scalars(
                text(
                    "SELECT conname FROM pg_constraint "
                    "WHERE connamespace = current_schema()::regnamespace "
                    "AND contype IN ('p', 'f', 'u', 'c')"
                )
            )
        )
    assert in_db - {"alembic_version_pkc"} == _metadata_constraint_names()
