"""POST /api/v1/anomalies/detect: flags equal detect_anomalies', on the lines SQL names."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from store.db import Database
from tests.api.conftest import auth
from tests.api.support import API, as_json, assert_problem, direct
from tools.detect_anomalies import DetectAnomaliesInput, detect_anomalies

RFQ = "B -43801-A"
URL = f"{API}/anomalies/detect"


def rfq_line_ids(database: Database, org_id: uuid.UUID) -> set[int]:
    with database.session_scope(org_id) as session:
        rows = session.execute(
            text(
                "SELECT ql.id FROM quote_lines ql JOIN quotes q ON q.org_id = ql.org_id "
                "AND q.id = ql.quote_id JOIN rfqs r ON r.org_id = q.org_id AND r.id = q.rfq_id "
                "WHERE r.code = :rfq"
            ),
            {"rfq": RFQ},
        )
        return {row.id for row in rows}


def test_rfq_check_equals_the_tool(
    client: TestClient, viewer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    response = client.post(URL, json={"rfq": RFQ}, headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == as_json(
        direct(database, sample_org, detect_anomalies, DetectAnomaliesInput(rfq=RFQ))
    )
    ids = rfq_line_ids(database, sample_org)
    assert body["checked"] == len(ids) == len(body["lines"])
    assert {line["quote_line_id"] for line in body["lines"]} == ids
    assert body["flagged"] == sum(1 for line in body["lines"] if line["flags"])
    assert all(line["price"]["currency"] == "USD" for line in body["lines"])
    line_id = body["lines"][0]["quote_line_id"]
    one = client.post(URL, json={"quote_line_id": line_id}, headers=viewer).json()
    assert one["checked"] == 1
    assert one["lines"][0] == body["lines"][0]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"rfq": RFQ, "min_severity": "loud"}, None),
        ({"rfq": RFQ, "supplier": "X"}, None),
        ({}, None),
        ({"supplier": "X", "days": 0}, "days"),
        ({"quote_line_id": 2**63}, "quote_line_id"),
        ({"quote_line_id": "seven"}, "quote_line_id"),
        ({"rfq": RFQ, "severity": "info"}, "severity"),
    ],
)
def test_invalid_fields_are_422(
    client: TestClient, viewer: dict[str, str], payload: dict[str, Any], field: str | None
) -> None:
    assert_problem(client.post(URL, json=payload, headers=viewer), 422, field)


@pytest.mark.parametrize(
    "payload", [{"rfq": "NO-SUCH-RFQ"}, {"quote_line_id": 2**62}, {"supplier": "NOBODY AT ALL"}]
)
def test_unknown_targets_are_404(
    client: TestClient, viewer: dict[str, str], payload: dict[str, Any]
) -> None:
    assert_problem(client.post(URL, json=payload, headers=viewer), 404)


def test_another_org_cannot_check_sample_quotes(
    client: TestClient, other_key: str, database: Database, sample_org: uuid.UUID
) -> None:
    other = auth(other_key)
    assert_problem(client.post(URL, json={"rfq": RFQ}, headers=other), 404)
    line_id = min(rfq_line_ids(database, sample_org))
    assert_problem(client.post(URL, json={"quote_line_id": line_id}, headers=other), 404)
    assert_problem(
        client.post(URL, json={"supplier": "MILESTONE CONTRACTORS, L.P."}, headers=other), 404
    )
