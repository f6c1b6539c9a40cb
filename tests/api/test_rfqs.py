"""/api/v1/rfqs: RFQs listed and read with their lines and quotes, checked against SQL."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, assert_problem, pages, segment

RFQ = "B -43801-A"
REBAR = "703-06029"


def sql(database: Database, org_id: uuid.UUID, query: str, **params: Any) -> list[Any]:
    with database.session_scope(org_id) as session:
        return list(session.execute(text(query), params).all())


def test_get_rfq_by_its_encoded_code(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.get(f"{API}/rfqs/{segment(RFQ)}", headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == RFQ
    lines = sql(
        database,
        sample_org,
        """
        SELECT rl.line_code, i.code AS item, rl.quantity, rl.unit,
               (SELECT count(*) FROM quote_lines ql
                WHERE ql.org_id = rl.org_id AND ql.rfq_line_id = rl.id) AS bids
        FROM rfq_lines rl JOIN rfqs r ON r.org_id = rl.org_id AND r.id = rl.rfq_id
        JOIN items i ON i.org_id = rl.org_id AND i.id = rl.item_id
        WHERE r.code = :rfq ORDER BY rl.line_code
        """,
        rfq=RFQ,
    )
    assert len(body["lines"]) == len(lines) == 34
    for got, row in zip(body["lines"], lines, strict=True):
        assert got["line_code"] == row.line_code
        assert got["item_code"] == row.item
        assert Decimal(got["quantity"]) == row.quantity
        assert got["unit"] == row.unit
        assert got["bids"] == row.bids
    rebar = next(line for line in body["lines"] if line["item_code"] == REBAR)
    assert rebar["unit"] == "lb"
    quotes = sql(
        database,
        sample_org,
        """
        SELECT q.id, s.code, sum(ql.quantity * ql.unit_price) AS total
        FROM quotes q JOIN rfqs r ON r.org_id = q.org_id AND r.id = q.rfq_id
        JOIN suppliers s ON s.org_id = q.org_id AND s.id = q.supplier_id
        JOIN quote_lines ql ON ql.org_id = q.org_id AND ql.quote_id = q.id
        WHERE r.code = :rfq GROUP BY q.id, s.code ORDER BY q.id
        """,
        rfq=RFQ,
    )
    got_quotes = sorted(body["quotes"], key=lambda q: q["id"])
    assert [q["id"] for q in got_quotes] == [row.id for row in quotes]
    assert [Decimal(q["total"]) for q in got_quotes] == [row.total for row in quotes]
    assert {q["supplier_code"] for q in got_quotes} == {
        "BROOKS CONSTRUCTION COMPANY, INC.",
        "E & B PAVING, INC.",
    }


@pytest.mark.parametrize("spelling", ["b -43801-a", "B-43801-A", "B%20-43801-A"])
def test_code_spelling_is_forgiven(
    client: TestClient, viewer: dict[str, str], spelling: str
) -> None:
    response = client.get(f"{API}/rfqs/{spelling}", headers=viewer)
    assert response.status_code == 200, response.text
    assert response.json()["code"] == RFQ


def test_unknown_rfq_is_404(client: TestClient, viewer: dict[str, str]) -> None:
    body = assert_problem(client.get(f"{API}/rfqs/{segment('NO/SUCH RFQ')}", headers=viewer), 404)
    assert "NO/SUCH RFQ" in body["detail"]


def test_list_filters_match_sql(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    params = {"item": REBAR, "date_from": "2025-07-01", "date_to": "2025-12-31"}
    body = client.get(f"{API}/rfqs", params={**params, "limit": 500}, headers=viewer).json()
    expected = sql(
        database,
        sample_org,
        """
        SELECT r.code, r.issued_date,
               (SELECT count(*) FROM rfq_lines x WHERE x.org_id = r.org_id AND x.rfq_id = r.id)
                 AS lines,
               (SELECT count(*) FROM quotes q WHERE q.org_id = r.org_id AND q.rfq_id = r.id)
                 AS quotes
        FROM rfqs r
        WHERE r.issued_date BETWEEN '2025-07-01' AND '2025-12-31'
          AND EXISTS (SELECT 1 FROM rfq_lines rl JOIN items i
                      ON i.org_id = rl.org_id AND i.id = rl.item_id
                      WHERE rl.org_id = r.org_id AND rl.rfq_id = r.id AND i.code = :item)
        ORDER BY r.issued_date DESC, r.id DESC
        """,
        item=REBAR,
    )
    assert body["total"] == len(expected) > 0
    assert [(r["code"], r["lines"], r["quotes"]) for r in body["items"]] == [
        (row.code, row.lines, row.quotes) for row in expected
    ]
    assert RFQ in [r["code"] for r in body["items"]]
    by_supplier = client.get(
        f"{API}/rfqs",
        params={"supplier": "BROOKS CONSTRUCTION COMPANY, INC.", "q": "43801"},
        headers=viewer,
    ).json()
    assert [r["code"] for r in by_supplier["items"]] == [RFQ]


def test_pages_cover_every_rfq_exactly_once(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    walked = pages(client, f"{API}/rfqs", viewer, limit=400)
    codes = [r["code"] for page in walked for r in page["items"]]
    expected = {row.code for row in sql(database, sample_org, "SELECT code FROM rfqs")}
    assert len(codes) == len(set(codes)) == len(expected) == walked[0]["total"]
    assert set(codes) == expected
    assert walked[-1]["next_offset"] is None
    dates = [r["issued_date"] for page in walked for r in page["items"]]
    assert dates == sorted(dates, reverse=True)


def test_limit_above_the_maximum_is_422(client: TestClient, viewer: dict[str, str]) -> None:
    body = assert_problem(client.get(f"{API}/rfqs?limit=501", headers=viewer), 422, "limit")
    assert "500" in body["detail"]


def test_another_org_sees_no_sample_rfq(
    client: TestClient, other_key: str, database: Database, sample_org: uuid.UUID
) -> None:
    other = auth(other_key)
    assert_problem(client.get(f"{API}/rfqs/{segment(RFQ)}", headers=other), 404)
    listed = client.get(f"{API}/rfqs", headers=other).json()
    sample = {row.code for row in sql(database, sample_org, "SELECT code FROM rfqs")}
    assert not sample & {r["code"] for r in listed["items"]}
    assert client.get(f"{API}/rfqs", params={"item": REBAR}, headers=other).json()["total"] == 0
