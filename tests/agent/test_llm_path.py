"""The LLM path over real HTTP: langchain-openai against a loopback OpenAI-compatible server.

The server returns scripted tool calls, so the real client, the real request encoding and
the graph's tool loop all run; no live model is called.
"""

from __future__ import annotations

import json

from agent import run_turn, stream_turn
from bench.loopback_openai import ScriptedOpenAI
from tests.conftest import AS_OF

SCRIPT = [
    {"tool_calls": [("search_items", {"query": "epoxy coated rebar"})]},
    {"tool_calls": [("predict_price", {"item": "703-06029", "quantity": 500, "unit": "ton"})]},
    {"content": "A fair price is about the P50 the model gave."},
]


def test_llm_mode_runs_tool_calls_over_real_http(database, sample_org, llm_settings):
    with ScriptedOpenAI(SCRIPT) as server:
        result = run_turn(
            "What should 500 tons of epoxy coated rebar cost?",
            database=database,
            org_id=sample_org,
            user_id="buyer",
            as_of=AS_OF,
            settings=llm_settings(server.base_url),
        )

    assert result.mode == "llm"
    assert result.answer == "A fair price is about the P50 the model gave."
    assert [c.name for c in result.tool_calls] == ["search_items", "predict_price"]
    assert all(c.ok for c in result.tool_calls)
    assert len(server.requests) == 3
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["auth"] == "Bearer sk-loopback-test-0000"
    assert first["body"]["model"] == "scripted-model"
    offered = {t["function"]["name"] for t in first["body"]["tools"]}
    assert {"search_items", "predict_price", "compare_quotes", "draft_counter_offer"} <= offered
    assert first["body"]["messages"][0]["role"] == "system"
    # The tool results went back as tool messages answering the model's call ids.
    last = server.requests[2]["body"]["messages"]
    tool_messages = [m for m in last if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_1_0", "call_2_0"]
    assert json.loads(tool_messages[1]["content"])["p50"]["unit"] == "ton"


def test_llm_mode_streams_tokens(database, sample_org, llm_settings):
    with ScriptedOpenAI(SCRIPT) as server:
        events = list(
            stream_turn(
                "What should 500 tons of epoxy coated rebar cost?",
                database=database,
                org_id=sample_org,
                user_id="buyer",
                as_of=AS_OF,
                settings=llm_settings(server.base_url),
            )
        )
    assert any(r["body"].get("stream") for r in server.requests)
    tokens = [e.text for e in events if e.type == "token"]
    assert "".join(tokens).split() == SCRIPT[-1]["content"].split()
    assert [e.name for e in events if e.type == "tool_call"] == ["search_items", "predict_price"]
    assert events[-1].type == "done"
    assert events[-1].result.mode == "llm"
