"""The tool context: the sample organisation (see tests/conftest.py), rolled back per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from store.db import Database
from tests.conftest import AS_OF
from tools.base import ToolContext


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
