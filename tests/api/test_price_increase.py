"""POST /api/v1/price-increase/check: the verdict equals check_price_increase's."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, as_json, assert_problem, direct
from tools.check_price_increase import CheckPriceIncreaseInput, check_price_increase

URL = f"{API}/price-increase/check"
MILESTONE = "MILESTONE CONTRACTORS, L.P."
REBAR = "703-06029"


def test_percent_request_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    payload = {"supplier": MILESTONE, "item": REBAR, "requested_increase_pct": "8"}
    response = client.post(URL, json=payload, headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = direct(
        database, sample_org, check_price_increase, CheckPriceIncreaseInput.model_validate(payload)
    )
    assert body == as_json(expected)
    assert Decimal(body["requested_increase_pct"]) == 8
    last = Decimal(body["last_price"]["price"]["amount"])
    assert Decimal(body["requested_price"]["amount"]) == last * Decimal("1.08")
    assert body["requested_price"]["unit"] == body["last_price"]["price"]["unit"] == "lb"
    assert sum(Decimal(c["pct"]) for c in body["components"]) == Decimal(
        body["requested_increase_pct"]
    )
    assert body["verdict"] in {"justified", "partly justified", "not justified"}


def test_new_price_request_is_read_as_a_percentage(
    client: TestClient, viewer: dict[str, str]
) -> None:
    payload = {"supplier": MILESTONE, "item": REBAR, "new_unit_price": "2000", "unit": "ton"}
    body = client.post(URL, json=payload, headers=viewer).json()
    last = Decimal(body["last_price"]["price"]["amount"])
    assert Decimal(body["requested_price"]["amount"]) == 1  # 2000 USD/ton is 1 USD/lb
    expected_pct = (1 / last - 1) * 100
    assert abs(Decimal(body["requested_increase_pct"]) - expected_pct) < Decimal("0.01")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"supplier": MILESTONE, "item": REBAR}, None),
        (
            {
                "supplier": MILESTONE,
                "item": REBAR,
                "requested_increase_pct": 5,
                "new_unit_price": 1,
            },
            None,
        ),
        (
            {"supplier": MILESTONE, "item": REBAR, "requested_increase_pct": -100},
            "requested_increase_pct",
        ),
        ({"supplier": MILESTONE, "requested_increase_pct": 5}, "item"),
        (
            {"supplier": MILESTONE, "item": REBAR, "requested_increase_pct": 5, "as_of": "x"},
            "as_of",
        ),
        ({"supplier": MILESTONE, "item": REBAR, "requested_increase_pct": 5, "pct": 5}, "pct"),
    ],
)
def test_invalid_fields_are_422(
    client: TestClient, viewer: dict[str, str], payload: dict[str, Any], field: str | None
) -> None:
    assert_problem(client.post(URL, json=payload, headers=viewer), 422, field)


@pytest.mark.parametrize(
    "payload",
    [
        {"supplier": "NOBODY AT ALL", "item": REBAR, "requested_increase_pct": 5},
        {"supplier": MILESTONE, "item": "unobtainium flux capacitor", "requested_increase_pct": 5},
    ],
)
def test_unknown_supplier_or_item_is_404(
    client: TestClient, viewer: dict[str, str], payload: dict[str, Any]
) -> None:
    assert_problem(client.post(URL, json=payload, headers=viewer), 404)


def test_another_org_cannot_check_sample_prices(client: TestClient, other_key: str) -> None:
    payload = {"supplier": MILESTONE, "item": REBAR, "requested_increase_pct": 5}
    assert_problem(client.post(URL, json=payload, headers=auth(other_key)), 404)
