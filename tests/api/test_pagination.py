"""Pages: the default and the largest limit follow the service's page_max setting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.settings import ApiSettings
from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, assert_problem, pages
from tests.conftest import AS_OF


@pytest.fixture(scope="module")
def small_pages(database: Database) -> Iterator[TestClient]:
    """The service configured with pages of at most three rows."""
    settings = ApiSettings(rate_limit_per_minute=100_000, rate_limit_burst=10_000, page_max=3)
    app = create_app(database=database, api_settings=settings, warm_models=False)
    with TestClient(app, headers={"X-As-Of": AS_OF.isoformat()}) as client:
        yield client


def test_default_limit_is_capped_by_page_max(
    small_pages: TestClient, sample_keys: dict[str, str]
) -> None:
    body = small_pages.get(f"{API}/suppliers", headers=auth(sample_keys["viewer"])).json()
    assert body["limit"] == 3
    assert len(body["items"]) == 3
    assert body["next_offset"] == 3


def test_limit_above_page_max_is_422_naming_it(
    small_pages: TestClient, sample_keys: dict[str, str]
) -> None:
    for url in ("suppliers", "rfqs", "quotes"):
        response = small_pages.get(f"{API}/{url}?limit=4", headers=auth(sample_keys["viewer"]))
        body = assert_problem(response, 422, "limit")
        assert "3" in body["detail"]


def test_small_pages_still_cover_a_list_exactly_once(
    small_pages: TestClient, client: TestClient, sample_keys: dict[str, str]
) -> None:
    viewer = auth(sample_keys["viewer"])
    url = f"{API}/suppliers?q=paving"
    walked = pages(small_pages, url, viewer, limit=3)
    codes = [s["code"] for page in walked for s in page["items"]]
    whole = client.get(url, headers=viewer).json()
    assert codes == [s["code"] for s in whole["items"]]
    assert len(codes) == whole["total"] > 3
