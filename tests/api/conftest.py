"""The service under test: the real app over the session's real store, called in-process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import create_app
from api.settings import ApiSettings
from store import orgs
from store.db import Database
from tests.conftest import AS_OF, make_org

KeyMaker = Callable[..., str]


@pytest.fixture(scope="session")
def api_settings() -> ApiSettings:
    """Limits loose enough that only the rate-limit tests meet them."""
    return ApiSettings(rate_limit_per_minute=100_000, rate_limit_burst=10_000)


@pytest.fixture(scope="session")
def app(database: Database, api_settings: ApiSettings) -> FastAPI:
    """One app for the session (its caches warm up once)."""
    return create_app(database=database, api_settings=api_settings, warm_models=False)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client speaking to the app in-process; the sample's as-of date by default."""
    with TestClient(app, headers={"X-As-Of": AS_OF.isoformat()}) as test_client:
        yield test_client


def create_key(database: Database, org_id: uuid.UUID, role: str = "buyer") -> str:
    """Create (and commit) an API key; return its secret."""
    with database.session_scope(org_id) as session:
        _, secret = orgs.create_api_key(
            session=session, org_id=org_id, name=f"test-{role}", role=role, actor="test"
        )
    return secret


@pytest.fixture(scope="session")
def sample_keys(database: Database, sample_org: uuid.UUID) -> dict[str, str]:
    """One key per role of the sample organisation."""
    return {role: create_key(database, sample_org, role) for role in ("viewer", "buyer", "admin")}


@pytest.fixture(scope="session")
def other_org(database: Database) -> uuid.UUID:
    """A second organisation, with a little data of its own (see test_tenancy)."""
    return make_org(database, "other")


@pytest.fixture(scope="session")
def other_key(database: Database, other_org: uuid.UUID) -> str:
    """An admin key of the other organisation."""
    return create_key(database, other_org, "admin")


def auth(key: str) -> dict[str, str]:
    """The Authorization header of ``key``."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def buyer(sample_keys: dict[str, str]) -> dict[str, str]:
    """Headers of the sample organisation's buyer key."""
    return auth(sample_keys["buyer"])


@pytest.fixture(scope="session")
def viewer(sample_keys: dict[str, str]) -> dict[str, str]:
    """Headers of the sample organisation's viewer key."""
    return auth(sample_keys["viewer"])
