"""POST /api/v1/forecasts: index and item forecasts, against the stored series and the tool.

The sample organisation has no trained forecast model, so an index is fitted on request
(as a new organisation's would be); that is the path these tests take.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, as_json, assert_problem, direct
from tools.forecast_price import ForecastPriceInput, forecast_price

URL = f"{API}/forecasts"
SERIES = "WPU1333"  # BLS PPI ready-mix concrete
ITEM = "203-02000"  # EXCAVATION, COMMON, per yd3


def test_index_forecast_starts_after_the_last_stored_month(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.post(URL, json={"series": SERIES, "horizon": 3}, headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    with database.session_scope(sample_org) as session:
        last = session.execute(
            text(
                "SELECT o.obs_date, o.value FROM index_observations o JOIN index_series s "
                "ON s.org_id = o.org_id AND s.id = o.series_id WHERE s.code = :code "
                "ORDER BY o.obs_date DESC LIMIT 1"
            ),
            {"code": SERIES},
        ).one()
    assert body["kind"] == "index"
    assert body["target"] == SERIES
    assert body["last_date"] == last.obs_date.isoformat()
    assert Decimal(body["last_value"]) == round(last.value, 4)
    assert [p["date"] for p in body["points"]] == ["2023-12-01", "2024-01-01", "2024-02-01"]
    for point in body["points"]:
        assert Decimal(point["low"]) <= Decimal(point["expected"]) <= Decimal(point["high"])
    assert body["direction"] in {"rise", "fall", "flat"}
    assert "fitted on request" in body["evidence"][0]["detail"]


def test_item_forecast_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.post(URL, json={"item": ITEM, "horizon": 2}, headers=viewer)
    assert response.status_code == 200, response.text
    expected = direct(
        database, sample_org, forecast_price, ForecastPriceInput(item=ITEM, horizon=2)
    )
    assert response.json() == as_json(expected)
    assert response.json()["unit"] == "USD/yd3"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"series": SERIES, "horizon": 13}, "horizon"),
        ({"series": SERIES, "horizon": 0}, "horizon"),
        ({"series": SERIES, "item": ITEM}, None),
        ({"horizon": 3}, None),
        ({"series": SERIES, "months": 3}, "months"),
    ],
)
def test_invalid_fields_are_422(
    client: TestClient, viewer: dict[str, str], payload: dict[str, Any], field: str | None
) -> None:
    assert_problem(client.post(URL, json=payload, headers=viewer), 422, field)


def test_unknown_targets(client: TestClient, viewer: dict[str, str]) -> None:
    assert_problem(
        client.post(URL, json={"item": "unobtainium flux capacitor"}, headers=viewer), 404
    )
    # forecast_price reports an unknown series as invalid input (422), not as not found.
    body = assert_problem(client.post(URL, json={"series": "NOSUCHSERIES"}, headers=viewer), 422)
    assert "NOSUCHSERIES" in body["detail"]


def test_another_org_cannot_forecast_sample_data(client: TestClient, other_key: str) -> None:
    other = auth(other_key)
    assert_problem(client.post(URL, json={"item": ITEM}, headers=other), 404)
    response = client.post(URL, json={"series": SERIES}, headers=other)
    assert response.status_code in {404, 422}
    assert SERIES in response.json()["detail"]
