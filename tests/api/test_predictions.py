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
    assert body["drivers"] == []  # drivers only on request: the band is the same
    explained = client.post(
        "/api/v1/predictions/price",
        json={"item": ITEM, "quantity": 5000, "explain": True},
        headers=buyer,
    ).json()
    assert explained["p50"] == body["p50"]
    assert explained["drivers"] == [d.model_dump() for d in direct.drivers]


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


def test_batch_prices_good_lines_and_reports_bad_ones(
    client: TestClient, buyer: dict[str, str]
) -> None:
    lines = [
        {"item": ITEM, "quantity": 5000},
        {"item": "NO-SUCH-ITEM-XYZ", "quantity": 1},
        {"item": ITEM, "quantity": 20000},
        {"item": ITEM, "quantity": 5000, "unit": "gallon"},
    ]
    response = client.post("/api/v1/predictions/batch", json={"lines": lines}, headers=buyer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["priced"], body["failed"]) == (2, 2)
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert body["results"][1]["error"]["kind"] == "Not found"
    assert body["results"][3]["error"] is not None
    single = client.post(
        "/api/v1/predictions/price", json={**lines[0], "explain": False}, headers=buyer
    ).json()
    first = body["results"][0]["prediction"]
    assert (first["p10"], first["p50"], first["p90"]) == (
        single["p10"],
        single["p50"],
        single["p90"],
    )
    assert single["drivers"] == []


def test_batch_limits(client: TestClient, buyer: dict[str, str]) -> None:
    empty = client.post("/api/v1/predictions/batch", json={"lines": []}, headers=buyer)
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "lines"
    many = [{"item": ITEM, "quantity": 1}] * 10_001
    too_many = client.post("/api/v1/predictions/batch", json={"lines": many}, headers=buyer)
    assert too_many.status_code in {413, 422}
    assert too_many.headers["content-type"].startswith("application/problem+json")
    bad_line = client.post(
        "/api/v1/predictions/batch",
        json={"lines": [{"item": ITEM, "quantity": 1}, {"item": ITEM, "quantity": "lots"}]},
        headers=buyer,
    )
    assert bad_line.status_code == 422
    assert bad_line.json()["errors"][0]["field"] == "lines[1].quantity"


def test_ten_thousand_lines_in_one_batch(client: TestClient, buyer: dict[str, str]) -> None:
    quantities = [100 + 7 * i for i in range(10_000)]
    lines = [{"item": ITEM, "quantity": q} for q in quantities]
    response = client.post("/api/v1/predictions/batch", json={"lines": lines}, headers=buyer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["priced"] == 10_000
    p50s = [Decimal(r["prediction"]["p50"]) for r in body["results"]]
    assert len(set(p50s)) > 1  # quantity moves the price


def test_dates_out_of_range_are_refused(client: TestClient, buyer: dict[str, str]) -> None:
    far = {"item": ITEM, "quantity": 1, "date": "9999-12-31"}
    single = client.post("/api/v1/predictions/price", json=far, headers=buyer)
    assert single.status_code == 422
    assert single.json()["errors"][0]["field"] == "date"
    batch = client.post("/api/v1/predictions/batch", json={"lines": [far]}, headers=buyer)
    assert batch.json()["errors"][0]["field"] == "lines[0].date"
    as_of = client.post(
        "/api/v1/predictions/price",
        json={"item": ITEM, "quantity": 1},
        headers={**buyer, "X-As-Of": "9999-01-01"},
    )
    assert as_of.status_code == 422
