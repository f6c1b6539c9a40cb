"""/api/v1/items: search, one item, and its price history, against the tools and SQL."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, as_json, assert_problem, direct, segment
from tools.price_history import PriceHistoryInput, price_history
from tools.search_items import SearchItemsInput, search_items

REBAR = "703-06029"


def sql(database: Database, org_id: uuid.UUID, query: str, **params: Any) -> list[Any]:
    with database.session_scope(org_id) as session:
        return list(session.execute(text(query), params).all())


def test_search_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.get(f"{API}/items", params={"q": "epoxy rebar", "limit": 3}, headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = direct(
        database, sample_org, search_items, SearchItemsInput(query="epoxy rebar", limit=3)
    )
    assert body == as_json(expected)
    assert body["results"][0]["code"] == REBAR
    assert body["results"][0]["unit"] == "lb"
    by_code = client.get(f"{API}/items", params={"q": REBAR}, headers=viewer).json()
    assert by_code["results"][0]["code"] == REBAR
    assert by_code["results"][0]["score"] == 1.0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "rebar", "limit": 51}, "limit"),
        ({"q": "x", "limit": 0}, "limit"),
    ],
)
def test_search_invalid_parameters_are_named(
    client: TestClient, viewer: dict[str, str], params: dict[str, Any], field: str
) -> None:
    assert_problem(client.get(f"{API}/items", params=params, headers=viewer), 422, field)


def test_get_item_with_counts(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.get(f"{API}/items/{REBAR}", headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    (row,) = sql(
        database,
        sample_org,
        """
        SELECT i.name, i.unit, i.category, count(ql.id) AS lines,
               count(DISTINCT ql.supplier_id) AS suppliers, max(ql.quote_date) AS last
        FROM items i LEFT JOIN quote_lines ql ON ql.org_id = i.org_id AND ql.item_id = i.id
        WHERE i.code = :code GROUP BY i.org_id, i.id
        """,
        code=REBAR,
    )
    assert body["code"] == REBAR
    assert body["name"] == row.name
    assert body["unit"] == row.unit == "lb"
    assert body["category"] == row.category
    assert body["quote_lines"] == row.lines
    assert body["suppliers"] == row.suppliers
    assert body["last_quote_date"] == row.last.isoformat()
    assert body["aliases"] == []
    assert client.get(f"{API}/items/{REBAR.lower()}", headers=viewer).json()["code"] == REBAR


def test_unknown_item_is_404_not_a_search(client: TestClient, viewer: dict[str, str]) -> None:
    # "epoxy rebar" finds 703-06029 in a search; as a code it names nothing.
    assert_problem(client.get(f"{API}/items/{segment('epoxy rebar')}", headers=viewer), 404)
    assert_problem(
        client.get(f"{API}/items/{segment('epoxy rebar')}/price-history", headers=viewer), 404
    )
    assert_problem(client.get(f"{API}/items/{segment('NO/SUCH ITEM')}", headers=viewer), 404)


def test_price_history_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    params = {"since": "2025-01-01", "limit": 50}
    response = client.get(f"{API}/items/{REBAR}/price-history", params=params, headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = direct(
        database,
        sample_org,
        price_history,
        PriceHistoryInput(item=REBAR, since="2025-01-01", limit=50),  # type: ignore[arg-type]
    )
    assert body == as_json(expected)
    (row,) = sql(
        database,
        sample_org,
        """
        SELECT count(*) AS n FROM quote_lines ql JOIN items i ON i.org_id = ql.org_id
        AND i.id = ql.item_id WHERE i.code = :code AND ql.quote_date >= '2025-01-01'
        AND ql.quote_date <= '2026-06-01'
        """,
        code=REBAR,
    )
    assert body["count"] == row.n
    assert len(body["points"]) == 50
    point = body["points"][0]
    assert point["price"]["currency"] == "USD"
    assert point["price"]["unit"] == "lb"
    per_ton = client.get(
        f"{API}/items/{REBAR}/price-history", params={**params, "unit": "ton"}, headers=viewer
    ).json()
    assert Decimal(per_ton["median"]["amount"]) == Decimal(body["median"]["amount"]) * 2000
    assert per_ton["median"]["unit"] == "ton"


def test_price_history_invalid_parameters(client: TestClient, viewer: dict[str, str]) -> None:
    url = f"{API}/items/{REBAR}/price-history"
    assert_problem(client.get(url, params={"limit": 5001}, headers=viewer), 422, "limit")
    assert_problem(client.get(url, params={"since": "soon"}, headers=viewer), 422, "since")
    assert_problem(client.get(url, params={"currency": "US"}, headers=viewer), 422, "currency")
    # A unit of another dimension cannot express a price per lb.
    assert_problem(client.get(url, params={"unit": "yd3"}, headers=viewer), 422)


def test_another_org_sees_no_sample_item(client: TestClient, other_key: str) -> None:
    other = auth(other_key)
    assert_problem(client.get(f"{API}/items/{REBAR}", headers=other), 404)
    assert_problem(client.get(f"{API}/items/{REBAR}/price-history", headers=other), 404)
    found = client.get(f"{API}/items", params={"q": REBAR}, headers=other)
    assert found.status_code == 200, found.text
    assert found.json()["results"] == []
    assert (
        client.get(f"{API}/items", params={"q": "epoxy rebar"}, headers=other).json()["results"]
        == []
    )
