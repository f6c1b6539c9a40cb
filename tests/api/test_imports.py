"""POST /api/v1/imports: the CLI's importer over HTTP, with the same rejection report."""

from __future__ import annotations

import gzip
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from store.db import Database
from store.models import AuditLog, QuoteLine
from tests.api.conftest import auth, create_key
from tests.api.test_auth import assert_problem
from tests.conftest import FIXTURES, make_org

BAD_ROWS = (FIXTURES / "quotes_with_bad_rows.csv").read_bytes()
SLICE = (FIXTURES / "indot_slice_30.csv").read_bytes()
SLICE_MAPS = [
    "Bid Date=quote_date",
    "ProjectID=rfq",
    "Pay Item=item",
    "Description=item_description",
    "Unit Price=unit_price",
    "Bidder Name=supplier",
]


@pytest.fixture
def fresh(database: Database) -> tuple[uuid.UUID, dict[str, str]]:
    """A new organisation and a buyer key of it."""
    org_id = make_org(database, "imports")
    return org_id, auth(create_key(database, org_id, "buyer"))


def test_good_rows_kept_bad_rows_reported_by_line(
    client: TestClient, database: Database, fresh: tuple[uuid.UUID, dict[str, str]]
) -> None:
    org_id, buyer = fresh
    response = client.post(
        "/api/v1/imports",
        data={"kind": "quotes"},
        files={"file": ("bad rows.csv", BAD_ROWS, "text/csv")},
        headers=buyer,
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["rows_read"], report["imported"], report["rejected"]) == (16, 4, 12)
    assert report["source"] == "bad rows.csv"
    assert {"line": 4, "reason": "supplier is missing"} in report["rejections"]
    assert "rejected_file" not in report  # a server path is none of the caller's business
    with database.session_scope(org_id) as session:
        assert session.scalar(select(func.count()).select_from(QuoteLine)) == 4
        audit = session.scalars(select(AuditLog).where(AuditLog.entity == "import_run")).all()
    assert audit
    assert audit[0].actor.startswith("api-key:")
    stored = client.get(f"/api/v1/imports/{report['run_id']}", headers=buyer)
    assert stored.status_code == 200
    assert stored.json()["rejected"] == 12
    assert stored.json()["rejections"][0]["line"] == min(r["line"] for r in report["rejections"])


def test_column_maps_and_gzip_like_the_cli(
    client: TestClient, database: Database, fresh: tuple[uuid.UUID, dict[str, str]]
) -> None:
    org_id, buyer = fresh
    response = client.post(
        "/api/v1/imports",
        data={"kind": "quotes", "map": SLICE_MAPS},
        files={"file": ("slice.csv.gz", gzip.compress(SLICE), "application/gzip")},
        headers=buyer,
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["imported"] == 30
    assert report["rejected"] == 0
    again = client.post(
        "/api/v1/imports",
        data={"kind": "quotes", "map": SLICE_MAPS},
        files={"file": ("slice.csv.gz", gzip.compress(SLICE), "application/gzip")},
        headers=buyer,
    ).json()
    assert (again["inserted"], again["unchanged"]) == (0, 30)  # a re-run duplicates nothing
    with database.session_scope(org_id) as session:
        assert session.scalar(select(func.count()).select_from(QuoteLine)) == 30


def test_unreadable_uploads_are_4xx(
    client: TestClient, fresh: tuple[uuid.UUID, dict[str, str]]
) -> None:
    _, buyer = fresh
    wrong_type = client.post(
        "/api/v1/imports",
        data={"kind": "quotes"},
        files={"file": ("notes.pdf", b"%PDF-1.4", "application/pdf")},
        headers=buyer,
    )
    assert "CSV" in assert_problem(wrong_type, 422)["detail"]
    no_columns = client.post(
        "/api/v1/imports",
        data={"kind": "quotes"},
        files={"file": ("x.csv", b"foo,bar\n1,2\n", "text/csv")},
        headers=buyer,
    )
    assert_problem(no_columns, 422)
    bad_kind = client.post(
        "/api/v1/imports",
        data={"kind": "orders"},
        files={"file": ("x.csv", BAD_ROWS, "text/csv")},
        headers=buyer,
    )
    assert assert_problem(bad_kind, 422)["errors"][0]["field"] == "kind"
    no_file = client.post("/api/v1/imports", data={"kind": "quotes"}, headers=buyer)
    assert assert_problem(no_file, 422)["errors"][0]["field"] == "file"
    path_mapping = client.post(
        "/api/v1/imports",
        data={"kind": "quotes", "mapping": "../../etc/passwd"},
        files={"file": ("x.csv", BAD_ROWS, "text/csv")},
        headers=buyer,
    )
    assert "shipped" in assert_problem(path_mapping, 422)["detail"]


def test_imports_of_another_org_are_404(
    client: TestClient, fresh: tuple[uuid.UUID, dict[str, str]], other_key: str
) -> None:
    _, buyer = fresh
    run_id = client.post(
        "/api/v1/imports",
        data={"kind": "quotes"},
        files={"file": ("bad.csv", BAD_ROWS, "text/csv")},
        headers=buyer,
    ).json()["run_id"]
    assert_problem(client.get(f"/api/v1/imports/{run_id}", headers=auth(other_key)), 404)
    assert_problem(client.get("/api/v1/imports/99999999999", headers=buyer), 404)
