"""A committed organisation holding the real sample data and a trained price model."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from rich.console import Console
from sqlalchemy.orm import Session

from store.db import Database
from tests.conftest import make_org
from tools.base import ToolContext
from tools.training import train_price
from ui.demo import load_sample_data

AS_OF = dt.date(2026, 6, 1)


@pytest.fixture(scope="session")
def sample_org(database: Database) -> uuid.UUID:
    """An organisation with the INDOT sample, index series, links and an active price model."""
    org_id = make_org(database, "sample")
    load_sample_data(database, org_id, Console(quiet=True))
    with database.session_scope(org_id) as session:
        train_price(session=session, org_id=org_id, actor="test")
    return org_id


@pytest.fixture
def ctx(database: Database, sample_org: uuid.UUID) -> Iterator[ToolContext]:
    """A tool context on the sample organisation, rolled back afterwards."""
    with database.service_engine.connect() as connection:
        outer = connection.begin()
        from store.db import TenantSession

        session: Session = TenantSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        session.info["org_id"] = sample_org
        try:
            yield ToolContext(session=session, org_id=sample_org, as_of=AS_OF, actor="test")
        finally:
            session.close()
            outer.rollback()
