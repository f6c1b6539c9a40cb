"""Keys, roles, limits and the error shape: who may do what, and how refusals look."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api import create_app
from api.settings import ApiSettings
from store.db import Database
from store.models import ApiKey, AuditLog
from tests.api.conftest import auth, create_key

PREDICT = "/api/v1/predictions/price"
BODY = {"item": "703-06029", "quantity": 5000}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is RFC 9457 problem+json with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("https://")
    assert "Traceback" not in response.text
    return body


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-key", "Bearer pa_" + "x" * 43],
)
def test_missing_or_bad_key_is_401(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.post(PREDICT, json=BODY, headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_revoked_key_stops_working_at_once(
    client: TestClient, database: Database, sample_org: uuid.UUID, sample_keys: dict[str, str]
) -> None:
    admin = auth(sample_keys["admin"])
    created = client.post(
        "/api/v1/keys", json={"name": "short-lived", "role": "viewer"}, headers=admin
    )
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["secret"].startswith(key["prefix"])
    assert client.get("/api/v1/keys", headers=auth(key["secret"])).status_code == 403  # viewer
    assert client.get("/health").status_code == 200
    ok = client.post(PREDICT, json=BODY, headers=auth(key["secret"]))
    assert ok.status_code == 200
    revoked = client.delete(f"/api/v1/keys/{key['id']}", headers=admin)
    assert revoked.status_code == 204
    assert_problem(client.post(PREDICT, json=BODY, headers=auth(key["secret"])), 401)
    with database.session_scope(sample_org) as session:
        actions = session.scalars(
            select(AuditLog.action).where(
                AuditLog.entity == "api_key",
                AuditLog.entity_ids.contains([key["id"]]),
            )
        ).all()
        assert sorted(actions) == ["api_key.create", "api_key.revoke"]
        actor = session.scalar(
            select(AuditLog.actor)
            .where(AuditLog.action == "api_key.revoke")
            .order_by(AuditLog.id.desc())
        )
        assert actor is not None
        assert actor.startswith("api-key:")


def test_key_use_is_stamped(client: TestClient, database: Database, sample_org: uuid.UUID) -> None:
    secret = create_key(database, sample_org, "viewer")
    client.get("/api/v1/keys", headers=auth(secret))  # refused (viewer), but authenticated
    with database.session_scope(sample_org) as session:
        used = session.scalar(select(ApiKey.last_used_at).where(ApiKey.prefix == secret[:10]))
    assert used is not None


def test_roles_gate_writes(client: TestClient, sample_keys: dict[str, str]) -> None:
    viewer, buyer = auth(sample_keys["viewer"]), auth(sample_keys["buyer"])
    files = {"file": ("q.csv", b"item_code,unit_price\n", "text/csv")}
    body = assert_problem(
        client.post("/api/v1/imports", data={"kind": "quotes"}, files=files, headers=viewer), 403
    )
    assert "viewer" in str(body["detail"])
    assert_problem(client.post("/api/v1/chat/t-1/approve", json={}, headers=viewer), 403)
    assert_problem(client.get("/api/v1/keys", headers=buyer), 403)
    assert_problem(
        client.post("/api/v1/keys", json={"name": "x", "role": "admin"}, headers=buyer), 403
    )


def test_keys_are_per_organisation(
    client: TestClient, database: Database, sample_org: uuid.UUID, other_key: str
) -> None:
    with database.session_scope(sample_org) as session:
        sample_key_ids = session.scalars(select(ApiKey.id)).all()
    listed = client.get("/api/v1/keys", headers=auth(other_key))
    assert listed.status_code == 200
    assert not {k["id"] for k in listed.json()} & set(sample_key_ids)
    assert_problem(client.delete(f"/api/v1/keys/{sample_key_ids[0]}", headers=auth(other_key)), 404)
    with database.session_scope(sample_org) as session:
        assert session.get(ApiKey, (sample_org, sample_key_ids[0])).revoked_at is None  # type: ignore[union-attr]


def test_rate_limit_answers_429_with_retry_after(database: Database, sample_org: uuid.UUID) -> None:
    app = create_app(
        database=database,
        api_settings=ApiSettings(rate_limit_per_minute=6, rate_limit_burst=3),
        warm_models=False,
    )
    key = auth(create_key(database, sample_org, "viewer"))
    with TestClient(app) as limited:
        statuses = [limited.get("/api/v1/keys", headers=key).status_code for _ in range(3)]
        assert statuses == [403, 403, 403]  # authenticated, refused by role, counted
        body = assert_problem(limited.get("/api/v1/keys", headers=key), 429)
        assert "rate limit" in str(body["detail"])
        retry = limited.get("/api/v1/keys", headers=key)
        assert 1 <= int(retry.headers["retry-after"]) <= 10
        # Another key has its own bucket.
        other = auth(create_key(database, sample_org, "viewer"))
        assert limited.get("/api/v1/keys", headers=other).status_code == 403


def test_oversized_body_is_413(database: Database, buyer: dict[str, str]) -> None:
    app = create_app(
        database=database, api_settings=ApiSettings(max_body_bytes=2048), warm_models=False
    )
    with TestClient(app) as small:
        response = small.post(PREDICT, json={**BODY, "item": "x" * 5000}, headers=buyer)
    assert_problem(response, 413)


def test_malformed_json_and_unknown_fields(client: TestClient, buyer: dict[str, str]) -> None:
    bad_json = client.post(
        PREDICT, content=b"{not json", headers={**buyer, "Content-Type": "application/json"}
    )
    assert_problem(bad_json, 422)
    extra = assert_problem(client.post(PREDICT, json={**BODY, "org_id": "x"}, headers=buyer), 422)
    assert extra["errors"][0]["field"] == "org_id"


def test_unknown_route_and_method(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.get(PREDICT), 405)


def test_health_ready_metrics(client: TestClient, buyer: dict[str, str]) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    schema = ready.json()["checks"]["schema"]
    assert schema["current"] == schema["head"]
    assert client.post(PREDICT, json=BODY, headers=buyer).status_code == 200
    metrics = client.get("/metrics").text
    assert (
        'pricing_http_requests_total{method="POST",route="/api/v1/predictions/price",status="200"}'
        in metrics
    )
    assert 'pricing_tool_calls_total{face="api",outcome="ok",tool="predict_price"}' in metrics
    assert "pricing_active_model_version{" in metrics
    assert 'route="unmatched"' not in metrics or "/api/v1/nothing" not in metrics


def test_nul_characters_are_refused_at_the_door(client: TestClient, buyer: dict[str, str]) -> None:
    body = assert_problem(
        client.post(PREDICT, json={**BODY, "item": "703\x0006029"}, headers=buyer), 422
    )
    assert "NUL" in body["detail"]
    assert_problem(client.post("/api/v1/chat", json={"message": "hi\x00"}, headers=buyer), 422)
    assert_problem(client.get("/api/v1/items?q=re%00bar", headers=buyer), 422)
