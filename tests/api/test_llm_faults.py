"""The chat endpoint when the configured LLM fails: the offline planner answers, and says so."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.settings import ApiSettings
from bench.loopback_openai import ScriptedOpenAI
from core.settings import Settings
from store.db import Database
from tests.api.conftest import auth, create_key
from tests.conftest import AS_OF

QUESTION = "What should 5000 lb of epoxy coated rebar 703-06029 cost?"


@pytest.mark.parametrize(
    ("status", "delay", "reason"),
    [(429, 0.0, "rate-limited"), (200, 4.0, "timed out")],
    ids=["rate-limited", "timeout"],
)
def test_a_failing_llm_falls_back_to_the_offline_planner(
    llm_settings: Callable[..., Settings],
    database: Database,
    sample_org: uuid.UUID,
    status: int,
    delay: float,
    reason: str,
) -> None:
    key = auth(create_key(database, sample_org, "buyer"))
    script = [{"content": "The fair price is USD 1.00/lb."}]
    with ScriptedOpenAI(script, status=status, delay=delay, headers={"Retry-After": "30"}) as llm:
        app = create_app(
            database=database,
            settings=llm_settings(llm.base_url, timeout=1.0),
            api_settings=ApiSettings(),
            warm_models=False,
        )
        with TestClient(app) as client:
            started = time.monotonic()
            response = client.post(
                "/api/v1/chat", json={"message": QUESTION, "as_of": AS_OF.isoformat()}, headers=key
            )
            elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "offline-fallback"
    assert reason in body["answer"]
    assert "predict_price" in [c["name"] for c in body["tool_calls"]]
    assert llm.requests  # the LLM was really asked first
    assert elapsed < 60  # bounded: never the 30 s Retry-After, never repeated timeouts
