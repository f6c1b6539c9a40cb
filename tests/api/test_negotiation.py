"""POST /api/v1/negotiation/advice: the advice equals negotiation_advice's."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, as_json, assert_problem, direct
from tools.negotiation_advice import NegotiationAdviceInput, negotiation_advice

URL = f"{API}/negotiation/advice"
RFQ = "B -43801-A"
REBAR = "703-06029"
E_AND_B = "E & B PAVING, INC."


def test_rfq_line_advice_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    payload = {"rfq": RFQ, "line": REBAR, "supplier": E_AND_B}
    response = client.post(URL, json=payload, headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = direct(
        database, sample_org, negotiation_advice, NegotiationAdviceInput.model_validate(payload)
    )
    assert body == as_json(expected)
    assert body["item_code"] == REBAR
    assert body["rfq"] == RFQ
    assert body["unit"] == "lb"
    assert body["bids"] == 2
    opening, target, walk_away = (
        Decimal(body[k]["amount"]) for k in ("opening_offer", "target_price", "walk_away_price")
    )
    assert opening <= target <= walk_away
    assert {body[k]["unit"] for k in ("opening_offer", "target_price", "walk_away_price")} == {"lb"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, None),
        ({"item": REBAR, "rfq": RFQ}, None),
        ({"item": REBAR, "line": "x"}, None),
        ({"quote_line_id": 0}, "quote_line_id"),
        ({"item": REBAR, "quantity": "-5"}, "quantity"),
        ({"item": REBAR, "discount_rate": 2}, "discount_rate"),
        ({"item": REBAR, "target": 1}, "target"),
    ],
)
def test_invalid_fields_are_422(
    client: TestClient, viewer: dict[str, str], payload: dict[str, Any], field: str | None
) -> None:
    assert_problem(client.post(URL, json=payload, headers=viewer), 422, field)


@pytest.mark.parametrize(
    "payload",
    [
        {"rfq": "NO-SUCH-RFQ", "line": "x"},
        {"quote_line_id": 2**62},
        {"rfq": RFQ, "line": REBAR, "supplier": "Nobody At All"},
    ],
)
def test_unknown_subjects_are_404(
    client: TestClient, viewer: dict[str, str], payload: dict[str, Any]
) -> None:
    assert_problem(client.post(URL, json=payload, headers=viewer), 404)


def test_another_org_cannot_negotiate_on_sample_data(client: TestClient, other_key: str) -> None:
    other = auth(other_key)
    assert_problem(client.post(URL, json={"rfq": RFQ, "line": REBAR}, headers=other), 404)
    assert_problem(client.post(URL, json={"item": REBAR, "quantity": 100}, headers=other), 404)
