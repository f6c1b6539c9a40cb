"""Run Alembic migrations programmatically (no alembic.ini to find)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from store import agent_memory
from store.db import Database, unavailable_as_domain_error

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> Config:
    """Build an Alembic config for this store."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s",
    )
    cfg.attributes["app_role"] = db.settings.db_app_role
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` as the owner."""
    cfg = alembic_config(db)
    with db.owner_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
    if revision == "head":
        ensure_agent_memory(db)


def ensure_agent_memory(db: Database) -> None:
    """Apply the checkpointer library's own newer migrations, if any, and re-isolate them."""
    with db.owner_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        agent_memory.ensure_schema(
            conn.connection.driver_connection, app_role=db.settings.db_app_role
        )


def downgrade(db: Database, revision: str) -> None:
    """Downgrade the schema to ``revision`` (e.g. ``-1``) as the owner."""
    cfg = alembic_config(db)
    with db.owner_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()


def current_revision(db: Database) -> str | None:
    """Return the revision the store is at, or None when it has no schema."""
    with unavailable_as_domain_error(), db.owner_engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """Return the newest revision shipped with this code."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def is_current(db: Database) -> bool:
    """Tell whether the store's schema is at this code's head."""
    return current_revision(db) == head_revision()
