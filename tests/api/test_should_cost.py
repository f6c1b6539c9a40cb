"""POST /api/v1/should-cost: the build-up equals should_cost's, and its lines add up."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, as_json, assert_problem, direct
from tools.should_cost import ShouldCostInput, should_cost

REBAR = "703-06029"
URL = f"{API}/should-cost"


def test_build_up_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.post(URL, json={"item": REBAR, "quantity": "20000"}, headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = direct(
        database, sample_org, should_cost, ShouldCostInput(item=REBAR, quantity=Decimal(20000))
    )
    assert body == as_json(expected)
    assert body["unit"] == "lb"
    assert body["currency"] == "USD"
    unit_total = Decimal(body["unit_total"]["amount"])
    assert sum(Decimal(line["amount"]["amount"]) for line in body["lines"]) == unit_total
    assert Decimal(body["total"]) == unit_total * 20000
    assert {line["amount"]["unit"] for line in body["lines"]} == {"lb"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"quantity": 5}, "item"),
        ({"item": REBAR, "quantity": 0}, "quantity"),
        ({"item": REBAR, "quantity": "NaN"}, "quantity"),
        ({"item": REBAR, "calibrated": "maybe"}, "calibrated"),
        ({"item": REBAR, "date": "2025-02-30"}, "date"),
        ({"item": REBAR, "qty": 5}, "qty"),
    ],
)
def test_invalid_fields_are_named(
    client: TestClient, viewer: dict[str, str], payload: dict[str, Any], field: str
) -> None:
    assert_problem(client.post(URL, json=payload, headers=viewer), 422, field)


def test_item_without_a_template_is_422_and_unknown_item_404(
    client: TestClient, viewer: dict[str, str]
) -> None:
    body = assert_problem(
        client.post(URL, json={"item": "203-02000", "quantity": 100}, headers=viewer), 422
    )
    assert "template" in body["detail"]
    assert_problem(
        client.post(URL, json={"item": "unobtainium flux capacitor"}, headers=viewer), 404
    )


def test_another_org_cannot_cost_a_sample_item(client: TestClient, other_key: str) -> None:
    assert_problem(
        client.post(URL, json={"item": REBAR, "quantity": 100}, headers=auth(other_key)), 404
    )
