"""/api/v1/suppliers: listed, read (codes with slashes) and scored, against SQL and the tool."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, as_json, assert_problem, direct, pages, segment
from tools.supplier_scorecard import SupplierScorecardInput, supplier_scorecard

MILESTONE = "MILESTONE CONTRACTORS, L.P."
JOINT_VENTURE = "WALSH/MILESTONE US 31 J/V"  # a code with slashes
REBAR = "703-06029"


def sql(database: Database, org_id: uuid.UUID, query: str, **params: Any) -> list[Any]:
    with database.session_scope(org_id) as session:
        return list(session.execute(text(query), params).all())


def test_pages_list_every_supplier_once_in_code_order(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    walked = pages(client, f"{API}/suppliers", viewer, limit=50)
    rows = sql(
        database,
        sample_org,
        """
        SELECT s.code, count(q.id) AS quotes, max(q.quote_date) AS last
        FROM suppliers s LEFT JOIN quotes q ON q.org_id = s.org_id AND q.supplier_id = s.id
        GROUP BY s.id, s.code ORDER BY s.code, s.id
        """,
    )
    got = [s for page in walked for s in page["items"]]
    assert [s["code"] for s in got] == [row.code for row in rows]
    assert [s["quotes"] for s in got] == [row.quotes for row in rows]
    assert got[0]["last_quote_date"] == (rows[0].last.isoformat() if rows[0].last else None)
    assert len(walked) == -(-len(rows) // 50)
    assert walked[0]["total"] == len(rows)
    assert [p["next_offset"] for p in walked] == [
        *(50 * (i + 1) for i in range(len(walked) - 1)),
        None,
    ]


def test_name_filter_matches_sql(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    body = client.get(f"{API}/suppliers", params={"q": "milestone"}, headers=viewer).json()
    rows = sql(
        database,
        sample_org,
        "SELECT code FROM suppliers WHERE name ILIKE '%milestone%' OR code ILIKE '%milestone%' "
        "ORDER BY code, id",
    )
    assert [s["code"] for s in body["items"]] == [row.code for row in rows]
    assert body["total"] == len(rows) >= 3
    percent = client.get(f"{API}/suppliers", params={"q": "%"}, headers=viewer).json()
    assert percent["total"] == 0  # a literal percent sign, not a wildcard


def test_get_supplier_with_slashes_in_its_code(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.get(f"{API}/suppliers/{segment(JOINT_VENTURE)}", headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    (row,) = sql(
        database,
        sample_org,
        """
        SELECT count(DISTINCT ql.quote_id) AS quotes, count(*) AS lines,
               count(DISTINCT ql.item_id) AS items, min(ql.quote_date) AS first
        FROM quote_lines ql JOIN suppliers s ON s.org_id = ql.org_id AND s.id = ql.supplier_id
        WHERE s.code = :code
        """,
        code=JOINT_VENTURE,
    )
    assert body["code"] == JOINT_VENTURE
    assert body["quotes"] == row.quotes
    assert body["quote_lines"] == row.lines
    assert body["items"] == row.items
    assert body["first_quote_date"] == row.first.isoformat()
    # The same supplier under another spelling of its legal form and punctuation.
    again = client.get(f"{API}/suppliers/{segment('Milestone Contractors LP')}", headers=viewer)
    assert again.json()["code"] == MILESTONE


def test_unknown_supplier_is_404(client: TestClient, viewer: dict[str, str]) -> None:
    assert_problem(client.get(f"{API}/suppliers/{segment('NOBODY/AT ALL')}", headers=viewer), 404)
    assert_problem(client.get(f"{API}/suppliers/NOBODY/scorecard", headers=viewer), 404)


def test_scorecard_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.get(
        f"{API}/suppliers/{segment(MILESTONE)}/scorecard", params={"item": REBAR}, headers=viewer
    )
    assert response.status_code == 200, response.text
    expected = direct(
        database,
        sample_org,
        supplier_scorecard,
        SupplierScorecardInput(supplier=MILESTONE, item=REBAR),
    )
    assert response.json() == as_json(expected)
    assert expected.volume.lines > 0
    assert response.json()["volume"]["currency"] == "USD"
    joint = client.get(f"{API}/suppliers/{segment(JOINT_VENTURE)}/scorecard", headers=viewer)
    assert joint.status_code == 200, joint.text
    assert joint.json()["supplier_code"] == JOINT_VENTURE


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"currency": "dollars"}, "currency"),
        ({"item": REBAR, "category": "rebar"}, "query"),
    ],
)
def test_scorecard_invalid_parameters_are_422(
    client: TestClient, viewer: dict[str, str], params: dict[str, str], field: str
) -> None:
    url = f"{API}/suppliers/{segment(MILESTONE)}/scorecard"
    assert_problem(client.get(url, params=params, headers=viewer), 422, field)


def test_another_org_sees_no_sample_supplier(
    client: TestClient, other_key: str, database: Database, sample_org: uuid.UUID
) -> None:
    other = auth(other_key)
    assert_problem(client.get(f"{API}/suppliers/{segment(MILESTONE)}", headers=other), 404)
    assert_problem(
        client.get(f"{API}/suppliers/{segment(MILESTONE)}/scorecard", headers=other), 404
    )
    listed = client.get(f"{API}/suppliers", params={"limit": 500}, headers=other).json()
    sample = {row.code for row in sql(database, sample_org, "SELECT code FROM suppliers")}
    assert not sample & {s["code"] for s in listed["items"]}
    assert (
        client.get(f"{API}/suppliers", params={"q": "milestone"}, headers=other).json()["total"]
        == 0
    )
