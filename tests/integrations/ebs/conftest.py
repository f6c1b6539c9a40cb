"""An EBS-shaped schema in the test server, filled once per module and dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text

from integrations.ebs import EbsConnector, EbsSettings
from store.db import Database
from tests.integrations.ebs import ebs_data


@pytest.fixture(scope="module")
def ebs_rows() -> ebs_data.EbsData:
    """The generated EBS rows."""
    return ebs_data.generate()


@contextmanager
def _schema(database: Database, rows: ebs_data.EbsData) -> Iterator[str]:
    schema = f"ebs_test_{uuid.uuid4().hex[:10]}"
    with database.owner_engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        conn.execute(text(f"SET LOCAL search_path TO {schema}"))
        ebs_data.load(conn, rows)
    try:
        yield schema
    finally:
        with database.owner_engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@contextmanager
def _engine(database: Database, schema: str) -> Iterator[Engine]:
    # Unqualified table names resolve in the EBS schema, as synonyms do under APPS.
    engine = create_engine(
        database.owner_engine.url, connect_args={"options": f"-csearch_path={schema}"}
    )
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def ebs_schema(database: Database, ebs_rows: ebs_data.EbsData) -> Iterator[str]:
    """A schema ``ebs_test_<random>`` holding the EBS tables and rows; read-only tests."""
    with _schema(database, ebs_rows) as schema:
        yield schema


@pytest.fixture(scope="module")
def ebs_engine(database: Database, ebs_schema: str) -> Iterator[Engine]:
    """An engine on the shared, read-only EBS schema."""
    with _engine(database, ebs_schema) as engine:
        yield engine


@pytest.fixture
def scratch_engine(database: Database, ebs_rows: ebs_data.EbsData) -> Iterator[Engine]:
    """An engine on a schema of its own, for tests that change EBS data."""
    with _schema(database, ebs_rows) as schema, _engine(database, schema) as engine:
        yield engine


@pytest.fixture
def ebs_settings() -> EbsSettings:
    """Settings as production would give them, minus the URL (the engine is injected)."""
    return EbsSettings(url=None, fetch_size=1000, requisition_org_id=ebs_data.OU_A)


@pytest.fixture
def connector(ebs_settings: EbsSettings, ebs_engine: Engine) -> Iterator[EbsConnector]:
    """The connector over the test schema."""
    ebs = EbsConnector(ebs_settings, engine=ebs_engine)
    yield ebs
    ebs.close()
