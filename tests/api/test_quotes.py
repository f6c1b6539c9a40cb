"""/api/v1/quotes: leveling bids (equal to compare_quotes), listing and reading quotes."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.routers.quotes import EXAMPLES
from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, as_json, assert_problem, direct, pages
from tools.compare_quotes import CompareQuotesInput, compare_quotes

RFQ = "B -43801-A"  # a bridge letting: 34 lines, two bidders
REBAR = "703-06029"


def sql(database: Database, org_id: uuid.UUID, query: str, **params: Any) -> list[Any]:
    with database.session_scope(org_id) as session:
        return list(session.execute(text(query), params).all())


# --------------------------------------------------------------------------- compare


def test_compare_rfq_line_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.post(
        f"{API}/quotes/compare", json={"rfq": RFQ, "line": REBAR}, headers=viewer
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expected = direct(database, sample_org, compare_quotes, CompareQuotesInput(rfq=RFQ, line=REBAR))
    assert body == as_json(expected)
    line = body["lines"][0]
    assert line["item_code"] == REBAR
    assert line["unit"] == "lb"
    assert line["currency"] == "USD"
    bids = sql(
        database,
        sample_org,
        """
        SELECT ql.id, ql.unit_price FROM quote_lines ql
        JOIN rfq_lines rl ON rl.org_id = ql.org_id AND rl.id = ql.rfq_line_id
        JOIN rfqs r ON r.org_id = rl.org_id AND r.id = rl.rfq_id
        JOIN items i ON i.org_id = rl.org_id AND i.id = rl.item_id
        WHERE r.code = :rfq AND i.code = :item
        """,
        rfq=RFQ,
        item=REBAR,
    )
    assert {q["quote_line_id"] for q in line["quotes"]} == {b.id for b in bids}
    for quote in line["quotes"]:
        price = quote["quoted_price"]
        assert (
            Decimal(price["amount"]) == {b.id: b.unit_price for b in bids}[quote["quote_line_id"]]
        )
        assert price["currency"] == "USD"
        assert price["unit"] == "lb"
        assert isinstance(quote["landed_total"], str)  # exact decimal, not a float


def test_compare_adhoc_quotes_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    payload = EXAMPLES["quotes"]["value"]
    response = client.post(f"{API}/quotes/compare", json=payload, headers=viewer)
    assert response.status_code == 200, response.text
    expected = direct(
        database, sample_org, compare_quotes, CompareQuotesInput.model_validate(payload)
    )
    assert response.json() == as_json(expected)
    ranked = response.json()["lines"][0]["quotes"]
    assert [q["rank"] for q in ranked] == [1, 2]
    # The MOQ of 10,000 lb is paid for in full against a need of 8,000 lb.
    midwest = next(q for q in ranked if q["supplier"] == "Midwest Steel Supply")
    assert Decimal(midwest["order_quantity"]) == 10000
    assert Decimal(midwest["excess_quantity"]) == 2000


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"rfq": RFQ, "quantitty": 5}, "quantitty"),
        ({"rfq": RFQ, "discount_rate": 3}, "discount_rate"),
        ({"rfq": RFQ, "max_lines": 0}, "max_lines"),
        ({"rfq": RFQ, "quantity": "-1"}, "quantity"),
        (
            {"item": REBAR, "quantity": 10, "quotes": [{"supplier": "A", "unit_price": 1}]},
            "quotes[0].unit",
        ),
    ],
)
def test_compare_invalid_fields_are_named(
    client: TestClient, viewer: dict[str, str], payload: dict[str, Any], field: str
) -> None:
    assert_problem(client.post(f"{API}/quotes/compare", json=payload, headers=viewer), 422, field)


def test_compare_needs_rfq_or_quotes(client: TestClient, viewer: dict[str, str]) -> None:
    body = assert_problem(
        client.post(f"{API}/quotes/compare", json={"quantity": 5}, headers=viewer), 422
    )
    assert "rfq" in body["detail"]
    assert "quotes" in body["detail"]
    assert_problem(client.post(f"{API}/quotes/compare", content=b"{", headers=viewer), 422)


def test_compare_unknown_rfq_is_404(client: TestClient, viewer: dict[str, str]) -> None:
    body = assert_problem(
        client.post(f"{API}/quotes/compare", json={"rfq": "NO-SUCH-RFQ"}, headers=viewer), 404
    )
    assert "NO-SUCH-RFQ" in body["detail"]


# --------------------------------------------------------------------------- list


def test_list_filters_match_sql(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    on_rfq = client.get(f"{API}/quotes", params={"rfq": RFQ}, headers=viewer).json()
    expected = sql(
        database,
        sample_org,
        """
        SELECT q.id, s.code, count(ql.id) AS lines, sum(ql.quantity * ql.unit_price) AS total
        FROM quotes q JOIN rfqs r ON r.org_id = q.org_id AND r.id = q.rfq_id
        JOIN suppliers s ON s.org_id = q.org_id AND s.id = q.supplier_id
        JOIN quote_lines ql ON ql.org_id = q.org_id AND ql.quote_id = q.id
        WHERE r.code = :rfq GROUP BY q.id, s.code
        """,
        rfq=RFQ,
    )
    assert on_rfq["total"] == len(expected) == len(on_rfq["items"])
    assert on_rfq["next_offset"] is None
    by_id = {row.id: row for row in expected}
    for quote in on_rfq["items"]:
        row = by_id[quote["id"]]
        assert quote["rfq_code"] == RFQ
        assert quote["supplier_code"] == row.code
        assert quote["lines"] == row.lines
        assert Decimal(quote["total"]) == row.total
        assert quote["currency"] == "USD"

    params = {
        "supplier": "MILESTONE CONTRACTORS, L.P.",
        "item": REBAR,
        "date_from": "2025-01-01",
        "date_to": "2025-12-31",
    }
    filtered = client.get(f"{API}/quotes", params=params, headers=viewer).json()
    (count,) = sql(
        database,
        sample_org,
        """
        SELECT count(DISTINCT q.id) FROM quotes q
        JOIN suppliers s ON s.org_id = q.org_id AND s.id = q.supplier_id
        JOIN quote_lines ql ON ql.org_id = q.org_id AND ql.quote_id = q.id
        JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id
        WHERE s.code = :supplier AND i.code = :item
          AND q.quote_date BETWEEN '2025-01-01' AND '2025-12-31'
        """,
        supplier=params["supplier"],
        item=REBAR,
    )
    assert filtered["total"] == count[0] > 0
    dates = [q["quote_date"] for q in filtered["items"]]
    assert dates == sorted(dates, reverse=True)
    assert all("2025-01-01" <= d <= "2025-12-31" for d in dates)
    assert {q["supplier_code"] for q in filtered["items"]} == {params["supplier"]}

    nothing = client.get(f"{API}/quotes", params={"supplier": "NOBODY AT ALL"}, headers=viewer)
    assert nothing.json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
        "next_offset": None,
    }


def test_pages_cover_every_quote_exactly_once(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    walked = pages(client, f"{API}/quotes", viewer, limit=500)
    ids = [q["id"] for page in walked for q in page["items"]]
    expected = {row.id for row in sql(database, sample_org, "SELECT id FROM quotes")}
    assert len(ids) == len(set(ids)) == len(expected) == walked[0]["total"]
    assert set(ids) == expected
    assert walked[-1]["next_offset"] is None
    assert all(p["next_offset"] == p["offset"] + 500 for p in walked[:-1])
    past_the_end = client.get(f"{API}/quotes", params={"offset": 10**6}, headers=viewer).json()
    assert past_the_end["items"] == []
    assert past_the_end["next_offset"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"date_from": "2025-13-01"}, "date_from"),
    ],
)
def test_list_invalid_parameters_are_named(
    client: TestClient, viewer: dict[str, str], params: dict[str, Any], field: str
) -> None:
    assert_problem(client.get(f"{API}/quotes", params=params, headers=viewer), 422, field)


# --------------------------------------------------------------------------- get


def test_get_quote_with_its_lines(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    (quote,) = sql(
        database,
        sample_org,
        """
        SELECT q.id, s.code AS supplier, r.code AS rfq, q.quote_date FROM quotes q
        JOIN rfqs r ON r.org_id = q.org_id AND r.id = q.rfq_id
        JOIN suppliers s ON s.org_id = q.org_id AND s.id = q.supplier_id
        WHERE r.code = :rfq ORDER BY q.id LIMIT 1
        """,
        rfq=RFQ,
    )
    lines = sql(
        database,
        sample_org,
        """
        SELECT ql.id, ql.unit_price, ql.quantity, ql.unit, ql.currency, i.code AS item,
               rl.line_code
        FROM quote_lines ql JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id
        LEFT JOIN rfq_lines rl ON rl.org_id = ql.org_id AND rl.id = ql.rfq_line_id
        WHERE ql.quote_id = :id ORDER BY ql.id
        """,
        id=quote.id,
    )
    response = client.get(f"{API}/quotes/{quote.id}", headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == quote.id
    assert body["supplier_code"] == quote.supplier
    assert body["rfq_code"] == RFQ
    assert body["quote_date"] == quote.quote_date.isoformat()
    assert body["lines"] == len(body["line_items"]) == len(lines)
    for got, row in zip(body["line_items"], lines, strict=True):
        assert got["id"] == row.id
        assert got["item_code"] == row.item
        assert got["rfq_line"] == row.line_code
        assert got["unit_price"] == {
            "amount": str(row.unit_price),
            "currency": row.currency,
            "unit": row.unit,
        }
        assert Decimal(got["line_total"]) == row.quantity * row.unit_price
    assert Decimal(body["total"]) == sum(row.quantity * row.unit_price for row in lines)


@pytest.mark.parametrize("quote_id", ["abc", "0", str(2**63)])
def test_invalid_quote_id_is_422(client: TestClient, viewer: dict[str, str], quote_id: str) -> None:
    assert_problem(client.get(f"{API}/quotes/{quote_id}", headers=viewer), 422, "quote_id")


def test_unknown_quote_is_404(client: TestClient, viewer: dict[str, str]) -> None:
    assert_problem(client.get(f"{API}/quotes/{2**62}", headers=viewer), 404)


# --------------------------------------------------------------------------- other org


def test_another_org_sees_no_sample_quote(
    client: TestClient, other_key: str, database: Database, sample_org: uuid.UUID
) -> None:
    other = auth(other_key)
    (row,) = sql(database, sample_org, "SELECT min(id) AS id FROM quotes")
    assert_problem(client.get(f"{API}/quotes/{row.id}", headers=other), 404)
    listed = client.get(f"{API}/quotes", params={"rfq": RFQ}, headers=other).json()
    assert listed["total"] == 0
    assert listed["items"] == []
    everything = client.get(f"{API}/quotes", headers=other).json()
    sample_ids = {r.id for r in sql(database, sample_org, "SELECT id FROM quotes")}
    assert not sample_ids & {q["id"] for q in everything["items"]}
    assert_problem(
        client.post(f"{API}/quotes/compare", json={"rfq": RFQ, "line": REBAR}, headers=other), 404
    )
