"""POST /api/v1/predictions/*: the fair-price band as JSON, equal to the tool's own answer."""

from __future__ import annotations

import uuid
from decimal import Decimal

from fastapi.testclient import TestClient

from store.db import Database
from tests.conftest import AS_OF
from tools.base import ToolContext
from tools.predict_price import PredictPriceInput, predict_price

ITEM = "703-06029"


def test_price_band_matches_the_tool(
    client: TestClient, buyer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.post(
        "/api/v1/predictions/price", json={"item": ITEM, "quantity": 5000}, headers=buyer
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"p10", "p50", "p90", "currency", "unit", "model_version"} <= body.keys()
    p10, p50, p90 = (Decimal(body[k]) for k in ("p10", "p50", "p90"))
    assert p10 < p50 < p90
    with database.session_scope(sample_org) as session:
        direct = predict_price(
            ToolContext(session=session, org_id=sample_org, as_of=AS_OF),
            PredictPriceInput(item=ITEM, quantity=Decimal(5000)),
        )
    assert p50 == direct.p50.amount
    assert body["unit"] == direct.p50.unit
    assert body["model_version"] == direct.model_version


def test_unknown_item_is_404_problem(client: TestClient, buyer: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/predictions/price", json={"item": "NO-SUCH-ITEM-XYZ", "quantity": 1}, headers=buyer
    )
    assert response.status_code in {404, 422}
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"]


def test_bad_quantity_names_the_field(client: TestClient, buyer: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/predictions/price", json={"item": ITEM, "quantity": -3}, headers=buyer
    )
    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == "quantity"
    assert "quantity" in body["detail"]
