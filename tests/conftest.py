"""Fixtures: one embedded PostgreSQL per test session, migrated once; tests roll back."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.settings import Settings, load_settings
from store import migrate, orgs
from store.db import Database, TenantSession

# Tests never call a live model or embedding API, whatever the environment or .env holds.
for _name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"):
    os.environ.pop(_name, None)
os.environ["PRICING_AGENT_EMBEDDINGS"] = "local"

AS_OF = dt.date(2026, 6, 1)
"""The as-of date of questions about the sample (its bids end in May 2026)."""

LOOPBACK_KEY = "sk-loopback-test-0000"
"""The API key tests give a loopback OpenAI-compatible server (never a real one)."""

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at a throw-away embedded store."""
    data_dir = tmp_path_factory.mktemp("store")
    return load_settings(
        database_url=None,
        database_app_url=None,
        data_dir=data_dir,
        db_name="pricing_agent_test",
    )


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    """The migrated test store."""
    db = Database(settings)
    migrate.upgrade(db)
    yield db
    db.dispose()
    shutil.rmtree(settings.data_dir / "pgdata", ignore_errors=True)


def make_org(database: Database, prefix: str = "org") -> uuid.UUID:
    """Create (and commit) an organisation with a unique name."""
    with database.owner_session() as session:
        return orgs.create_org(session=session, name=f"{prefix}-{uuid.uuid4().hex[:10]}").id


@pytest.fixture
def org_id(database: Database) -> uuid.UUID:
    """A fresh organisation for this test."""
    return make_org(database)


@pytest.fixture
def session(database: Database, org_id: uuid.UUID) -> Iterator[Session]:
    """A service session scoped to ``org_id`` whose work is rolled back after the test."""
    connection = database.service_engine.connect()
    outer = connection.begin()
    tenant = TenantSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    tenant.info["org_id"] = org_id
    try:
        yield tenant
    finally:
        tenant.close()
        outer.rollback()
        connection.close()


def count(session: Session, table: str) -> int:
    """Rows of ``table`` visible to the session."""
    return int(session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


@pytest.fixture(scope="session")
def sample_org(database: Database) -> uuid.UUID:
    """An organisation with the INDOT sample, index series, links and an active price model."""
    org_id = make_org(database, "sample")
    from tools.training import train_price
    from ui.demo import load_sample_data

    load_sample_data(database, org_id, Console(quiet=True))
    with database.session_scope(org_id) as session:
        train_price(session=session, org_id=org_id, actor="test")
    return org_id


@pytest.fixture
def llm_settings(settings: Settings) -> Callable[..., Settings]:
    """Settings that point the agent at an OpenAI-compatible server at ``base_url``."""

    def make(base_url: str, timeout: float = 10) -> Settings:
        return load_settings(
            database_url=None,
            database_app_url=None,
            data_dir=settings.data_dir,
            db_name=settings.db_name,
            openai_api_key=LOOPBACK_KEY,
            openai_base_url=base_url,
            openai_model="scripted-model",
            llm_timeout_seconds=timeout,
        )

    return make


@pytest.fixture
def cli(settings: Settings, database):
    """Run ``pricing-agent`` against the test store; return the finished process."""
    env = {
        **os.environ,
        "PRICING_AGENT_DATA_DIR": str(settings.data_dir),
        "PRICING_AGENT_DB_NAME": settings.db_name,
    }
    env.pop("DATABASE_URL", None)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "ui.cli", *args],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parents[1],
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run
