"""POST /api/v1/chat: an agent turn as JSON or server-sent events; approvals resume it."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from store.db import Database
from store.models import AuditLog, CounterOffer
from tests.api.conftest import auth, create_key
from tests.api.test_auth import assert_problem

QUESTION = "What should 5000 lb of epoxy coated rebar 703-06029 cost?"
DRAFT = "Draft a counter offer to Milestone for epoxy coated rebar at $1.60/lb for 20,000 lb"


def events_of(text: str) -> list[tuple[str, Any]]:
    """Parse a text/event-stream body into (event, data) pairs."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_a_turn_as_json_and_a_follow_up(client: TestClient, buyer: dict[str, str]) -> None:
    first = client.post("/api/v1/chat", json={"message": QUESTION}, headers=buyer)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["mode"] == "offline"
    assert "predict_price" in [c["name"] for c in body["tool_calls"]]
    assert "offline" in body["answer"].lower()
    prediction = next(r["output"] for r in body["results"] if r["tool"] == "predict_price")
    assert prediction["p50"]["amount"] in body["answer"] or "USD" in body["answer"]
    follow = client.post(
        "/api/v1/chat",
        json={"message": "and for 20000 lb?", "thread_id": body["thread_id"]},
        headers=buyer,
    )
    assert follow.status_code == 200, follow.text
    assert follow.json()["thread_id"] == body["thread_id"]
    args = [c["args"] for c in follow.json()["tool_calls"] if c["name"] == "predict_price"]
    assert args
    assert args[0]["item"] == "703-06029"  # carried over from the thread


def test_streamed_turn_sends_tokens_tool_steps_and_done(
    client: TestClient, buyer: dict[str, str]
) -> None:
    with client.stream(
        "POST",
        "/api/v1/chat",
        json={"message": QUESTION},
        headers={**buyer, "Accept": "text/event-stream"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    events = events_of(text)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done"
    assert "tool_call" in kinds
    assert "tool_result" in kinds
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("done")
    assert "token" in kinds
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    done = events[-1][1]
    assert streamed.strip() == done["answer"].strip()
    assert done["thread_id"]


def test_refusal_before_the_stream_is_an_http_error(
    client: TestClient, buyer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    started = client.post("/api/v1/chat", json={"message": QUESTION}, headers=buyer).json()
    someone_else = auth(create_key(database, sample_org, "buyer"))
    response = client.post(
        "/api/v1/chat",
        json={"message": "and the second-lowest bidder?", "thread_id": started["thread_id"]},
        headers={**someone_else, "Accept": "text/event-stream"},
    )
    assert_problem(response, 403)


def test_another_org_cannot_reach_a_thread(
    client: TestClient, buyer: dict[str, str], other_key: str
) -> None:
    started = client.post("/api/v1/chat", json={"message": DRAFT}, headers=buyer).json()
    assert started["pending_approval"] is not None
    approve = f"/api/v1/chat/{started['thread_id']}/approve"
    assert_problem(client.post(approve, json={}, headers=auth(other_key)), 404)
    intruder = client.post(
        "/api/v1/chat",
        json={"message": "and for 20000 lb?", "thread_id": started["thread_id"]},
        headers=auth(other_key),
    )
    # The other organisation gets a thread of its own under that id: nothing of ours.
    assert intruder.status_code == 200
    assert "703-06029" not in intruder.text
    assert not intruder.json()["results"]
    assert_problem(client.post(approve, json={}, headers=auth(other_key)), 409)
    # Our draft still waits for our decision.
    assert client.post(approve, json={"decision": "reject"}, headers=buyer).status_code == 200


def test_approve_and_reject_drafted_counter_offers(
    client: TestClient, buyer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    draft = client.post("/api/v1/chat", json={"message": DRAFT}, headers=buyer).json()
    pending = draft["pending_approval"]
    assert pending is not None
    assert pending["tool"] == "draft_counter_offer"
    offer_id = pending["draft"]["id"]
    approved = client.post(
        f"/api/v1/chat/{draft['thread_id']}/approve",
        json={"decision": "approve", "note": "go"},
        headers=buyer,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["pending_approval"] is None
    again = client.post(f"/api/v1/chat/{draft['thread_id']}/approve", json={}, headers=buyer)
    assert_problem(again, 409)

    second = client.post("/api/v1/chat", json={"message": DRAFT}, headers=buyer).json()
    rejected = client.post(
        f"/api/v1/chat/{second['thread_id']}/approve",
        json={"decision": "reject", "note": "too low"},
        headers=buyer,
    )
    assert rejected.status_code == 200, rejected.text
    with database.session_scope(sample_org) as session:
        first_offer = session.get(CounterOffer, (sample_org, offer_id))
        second_offer = session.get(
            CounterOffer, (sample_org, second["pending_approval"]["draft"]["id"])
        )
        assert first_offer is not None
        assert second_offer is not None
        assert first_offer.status == "approved"
        assert first_offer.decided_by is not None
        assert first_offer.decided_by.startswith("api-key:")
        assert (second_offer.status, second_offer.decision_note) == ("rejected", "too low")
        actions = set(
            session.scalars(
                select(AuditLog.action).where(
                    AuditLog.entity == "counter_offers",
                    AuditLog.entity_ids.contains([offer_id]),
                )
            )
        )
    assert {"counter_offer.drafted", "counter_offer.approved"} <= actions


def test_bad_chat_input(client: TestClient, buyer: dict[str, str]) -> None:
    assert_problem(client.post("/api/v1/chat", json={"message": ""}, headers=buyer), 422)
    assert_problem(client.post("/api/v1/chat", json={"message": "x" * 9000}, headers=buyer), 422)
    bad_thread = client.post(
        "/api/v1/chat", json={"message": "hi", "thread_id": "a:b"}, headers=buyer
    )
    assert assert_problem(bad_thread, 422)["errors"][0]["field"] == "thread_id"
    assert_problem(client.post("/api/v1/chat/a:b/approve", json={}, headers=buyer), 422)


def test_another_buyer_of_the_organisation_may_decide(
    client: TestClient, buyer: dict[str, str], database: Database, sample_org: uuid.UUID
) -> None:
    draft = client.post("/api/v1/chat", json={"message": DRAFT}, headers=buyer).json()
    offer_id = draft["pending_approval"]["draft"]["id"]
    colleague = auth(create_key(database, sample_org, "buyer"))
    approved = client.post(
        f"/api/v1/chat/{draft['thread_id']}/approve",
        json={"decision": "approve"},
        headers=colleague,
    )
    assert approved.status_code == 200, approved.text
    with database.session_scope(sample_org) as session:
        offer = session.get(CounterOffer, (sample_org, offer_id))
        assert offer is not None
        assert offer.status == "approved"
        starter = session.scalar(
            select(AuditLog.actor).where(
                AuditLog.action == "counter_offer.drafted",
                AuditLog.entity_ids.contains([offer_id]),
            )
        )
    assert offer.decided_by != starter  # the colleague's key, not the thread's starter
    assert offer.decided_by is not None
    assert offer.decided_by.startswith("api-key:")
