"""A failing language model hands the turn to the offline planner, which says so.

langchain-openai's real HTTP client runs against the loopback server scripted to fail:
429 with Retry-After, a reply slower than the timeout, 500, and no server at all. The
circuit breaker is counted by the requests the server saw.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import pytest

from agent import Decision, TurnResult, run_turn, stream_turn
from agent.fallback import CircuitBreaker, classify
from agent.planner.model import OfflinePlanner
from agent.settings import AgentSettings
from bench.loopback_openai import ScriptedOpenAI
from tests.agent.conftest import ScriptedChatModel, Turn
from tests.conftest import AS_OF, LOOPBACK_KEY

QUESTION = "What should 500 tons of epoxy coated rebar cost?"
ANSWER = "A fair price is about the P50 the model gave."
SCRIPT: list[dict[str, Any]] = [
    {"tool_calls": [("search_items", {"query": "epoxy coated rebar"})]},
    {"tool_calls": [("predict_price", {"item": "703-06029", "quantity": 500, "unit": "ton"})]},
    {"content": ANSWER},
]


@pytest.fixture(scope="module")
def offline() -> dict[str, TurnResult]:
    """Offline turns, by question, computed once per module."""
    return {}


@pytest.fixture
def offline_turn(turn: Turn, offline: dict[str, TurnResult]):
    def get(question: str) -> TurnResult:
        if question not in offline:
            offline[question] = turn(question)
            assert offline[question].mode == "offline"
        return offline[question]

    return get


@pytest.fixture
def llm_turn(database, sample_org, llm_settings):
    def run(
        base_url: str, question: str | None = QUESTION, timeout: float = 10, **kw: Any
    ) -> TurnResult:
        kw.setdefault("user_id", "buyer")
        return run_turn(
            question,
            database=database,
            org_id=sample_org,
            as_of=AS_OF,
            settings=llm_settings(base_url, timeout),
            **kw,
        )

    return run


def _refused_url() -> str:
    """A loopback URL where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _same_tools(result: TurnResult, reference: TurnResult) -> None:
    assert [(c.name, c.args) for c in result.tool_calls] == [
        (c.name, c.args) for c in reference.tool_calls
    ]
    assert result.results == reference.results
    assert all(c.ok for c in result.tool_calls)


def _says_fallback(result: TurnResult, reason: str) -> None:
    assert result.mode == "offline-fallback"
    assert result.fallback_reason == reason
    assert f"The language model was unavailable ({reason})" in result.answer
    assert "the offline planner answered" in result.answer
    assert "no language model is configured" not in result.answer


def test_a_rate_limited_llm_hands_the_turn_to_the_offline_planner(
    llm_turn, offline_turn, caplog: pytest.LogCaptureFixture
):
    reference = offline_turn(QUESTION)
    caplog.set_level(logging.INFO)
    with ScriptedOpenAI(SCRIPT, status=429, headers={"Retry-After": "1"}) as server:
        started = time.monotonic()
        result = llm_turn(server.base_url)
        elapsed = time.monotonic() - started

    _says_fallback(result, "rate-limited, HTTP 429")
    _same_tools(result, reference)
    # The answer is the offline one but for the note: same numbers, same words.
    note_free = result.answer.split("\n\n_The language model")[0]
    assert note_free == reference.answer.split("\n\n_Offline planner")[0]
    # One retry after the server's Retry-After (1 s), then the planner.
    assert len(server.requests) == 2
    assert elapsed >= 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "RateLimitError" in warnings[0].getMessage()
    assert "rate-limited, HTTP 429" in warnings[0].getMessage()
    assert not any(LOOPBACK_KEY in r.getMessage() for r in caplog.records)


def test_a_long_retry_after_is_not_waited_out(llm_turn):
    with ScriptedOpenAI(SCRIPT, status=429, headers={"Retry-After": "90"}) as server:
        started = time.monotonic()
        result = llm_turn(server.base_url)
        elapsed = time.monotonic() - started

    _says_fallback(result, "rate-limited, HTTP 429")
    assert len(server.requests) == 1
    assert elapsed < 30  # not 90 s (the OpenAI client alone would wait up to 120 s)


def test_a_timed_out_llm_falls_back_within_a_bound(llm_turn, turn: Turn):
    started = time.monotonic()
    reference = turn(QUESTION)
    offline_seconds = time.monotonic() - started  # the tools' own work, on this machine now
    timeout = 2.0
    with ScriptedOpenAI(SCRIPT, delay=60) as server:
        started = time.monotonic()
        result = llm_turn(server.base_url, timeout=timeout)
        elapsed = time.monotonic() - started

    _says_fallback(result, "timed out after 2 s")
    _same_tools(result, reference)
    assert len(server.requests) == 1  # a timed-out call is not retried
    # Loose: one timeout plus an offline turn's work, far from the server's 60 s.
    assert elapsed < timeout * 3 + offline_seconds * 2


@pytest.mark.parametrize(
    ("status", "reason", "calls"),
    [(500, "server error, HTTP 500", 2), (503, "server error, HTTP 503", 2)],
)
def test_a_server_error_falls_back_after_one_retry(llm_turn, offline_turn, status, reason, calls):
    reference = offline_turn(QUESTION)
    with ScriptedOpenAI(SCRIPT, status=status) as server:
        result = llm_turn(server.base_url)

    _says_fallback(result, reason)
    _same_tools(result, reference)
    assert len(server.requests) == calls


def test_a_refused_connection_falls_back(llm_turn, offline_turn):
    reference = offline_turn(QUESTION)
    started = time.monotonic()
    result = llm_turn(_refused_url())
    elapsed = time.monotonic() - started

    _says_fallback(result, "connection refused")
    _same_tools(result, reference)
    assert elapsed < 10 + 5


def test_refused_credentials_fall_back_without_retrying(llm_turn):
    with ScriptedOpenAI(SCRIPT, status=401) as server:
        result = llm_turn(server.base_url)

    _says_fallback(result, "credentials refused, HTTP 401")
    assert len(server.requests) == 1


def test_a_failure_mid_turn_keeps_the_models_tool_results(llm_turn, offline_turn):
    reference = offline_turn(QUESTION)
    script = [SCRIPT[0], {"status": 500}]
    with ScriptedOpenAI(script) as server:
        result = llm_turn(server.base_url)

    _says_fallback(result, "server error, HTTP 500")
    # The model's search stands; the planner read its result and priced the item it found.
    assert [c.name for c in result.tool_calls] == ["search_items", "predict_price"]
    assert result.tool_calls[0].args == {"query": "epoxy coated rebar"}
    assert result.tool_calls[1].args == reference.tool_calls[1].args
    assert result.results[1] == reference.results[1]
    assert len(server.requests) == 3  # the search step, then the failing step and its retry
    # The next turn in the thread asks the model again.
    with ScriptedOpenAI([{"content": "Back again."}]) as server:
        again = llm_turn(server.base_url, "thanks, and now?", thread_id=result.thread_id)
    assert (again.mode, again.answer, again.fallback_reason) == ("llm", "Back again.", None)


def test_a_fallback_draft_waits_for_approval_and_the_planner_finishes_the_turn(llm_turn):
    ask = "Draft a counter offer to Milestone for epoxy coated rebar at $1.60/lb for 20,000 lb"
    with ScriptedOpenAI(SCRIPT, status=429, headers={"Retry-After": "90"}) as server:
        draft = llm_turn(server.base_url, ask)
        assert draft.pending_approval is not None
        _says_fallback(draft, "rate-limited, HTTP 429")
        assert "NOT been sent" in draft.answer
        seen = len(server.requests)

        done = llm_turn(
            server.base_url, None, thread_id=draft.thread_id, decision=Decision(approved=False)
        )

    # The decision continues the same turn, which the planner carries to its end.
    assert len(server.requests) == seen
    _says_fallback(done, "rate-limited, HTTP 429")
    assert "rejected" in done.answer


def test_the_breaker_skips_a_failing_llm_then_tries_it_after_the_cooldown(llm_turn):
    limits = AgentSettings(
        llm_max_retries=0, llm_breaker_failures=2, llm_breaker_cooldown_seconds=3
    )
    hello = "hello"  # needs no tools, so each turn is quick next to the cool-down
    with ScriptedOpenAI([{"content": "Hi, ask me about prices."}], status=503) as server:
        first = llm_turn(server.base_url, hello, agent_settings=limits)
        second = llm_turn(server.base_url, hello, agent_settings=limits)
        assert len(server.requests) == 2  # the breaker opens on the second failure
        opened = time.monotonic()

        third = llm_turn(server.base_url, hello, agent_settings=limits)
        assert time.monotonic() - opened < 3, "the turn took longer than the cool-down"
        assert len(server.requests) == 2  # not contacted at all
        _says_fallback(third, third.fallback_reason or "")
        assert third.fallback_reason is not None
        assert third.fallback_reason.startswith("skipped for")
        assert "after 2 failed calls in a row; the last: server error, HTTP 503" in (
            third.fallback_reason
        )

        server.status = 200  # the model comes back
        time.sleep(max(0.0, 3.2 - (time.monotonic() - opened)))
        fourth = llm_turn(server.base_url, hello, agent_settings=limits)
        fifth = llm_turn(server.base_url, hello, agent_settings=limits)

    assert [r.mode for r in (first, second)] == ["offline-fallback"] * 2
    assert (fourth.mode, fourth.answer) == ("llm", "Hi, ask me about prices.")
    assert fifth.mode == "llm"
    assert len(server.requests) == 4


def test_streaming_falls_back_with_tokens_and_the_mode_in_done(
    database, sample_org, llm_settings, offline_turn
):
    reference = offline_turn(QUESTION)
    with ScriptedOpenAI(SCRIPT, status=429, headers={"Retry-After": "90"}) as server:
        events = list(
            stream_turn(
                QUESTION,
                database=database,
                org_id=sample_org,
                user_id="buyer",
                as_of=AS_OF,
                settings=llm_settings(server.base_url),
            )
        )

    assert any(r["body"].get("stream") for r in server.requests)
    assert [e.name for e in events if e.type == "tool_call"] == ["search_items", "predict_price"]
    done = events[-1]
    assert done.type == "done"
    assert done.result is not None
    _says_fallback(done.result, "rate-limited, HTTP 429")
    _same_tools(done.result, reference)
    tokens = [e.text or "" for e in events if e.type == "token"]
    assert len(tokens) > 3
    assert "".join(tokens) == done.result.answer


def test_a_failing_caller_model_is_stood_in_for_too(turn: Turn, offline_turn):
    class Broken(ScriptedChatModel):
        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            raise TimeoutError("upstream took too long")

    result = turn(QUESTION, model=Broken(replies=[]))

    _says_fallback(result, "timed out after 30 s")
    _same_tools(result, offline_turn(QUESTION))


def test_a_failing_planner_ends_the_turn_with_a_plain_message(turn: Turn):
    def no_store() -> Any:
        raise ConnectionError("the store is down")

    planner = OfflinePlanner(lexicon_loader=no_store, as_of=AS_OF)
    result = turn(QUESTION, model=planner)

    assert result.mode == "offline"
    assert "could not answer just now (ConnectionError)" in result.answer
    assert result.tool_calls == []


# --------------------------------------------------------------------------- units


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_at_the_threshold_and_lets_one_trial_through():
    clock = _Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock)
    assert breaker.check() is None
    assert [breaker.failure("timed out after 30 s") for _ in range(3)] == [False, False, True]
    skipped = breaker.check()
    assert skipped == (
        "skipped for 30 s more after 3 failed calls in a row; the last: timed out after 30 s"
    )

    clock.now += 30
    assert breaker.check() is None  # the trial
    assert breaker.check() is not None  # the others keep skipping while it runs
    assert breaker.failure("rate-limited, HTTP 429") is False  # still open, not newly
    assert breaker.check() is not None
    clock.now += 30
    assert breaker.check() is None
    breaker.success()
    assert breaker.failures == 0
    assert breaker.check() is None
    assert breaker.check() is None

    # A trial that never reports back: the next caller tries after another cool-down.
    for _ in range(3):
        breaker.failure("connection refused")
    clock.now += 30
    assert breaker.check() is None
    clock.now += 29
    assert breaker.check() is not None
    clock.now += 1
    assert breaker.check() is None


def test_the_breaker_counts_and_admits_exactly_under_threads():
    clock = _Clock()
    breaker = CircuitBreaker(threshold=5, cooldown=10, clock=clock)
    start = threading.Barrier(40)
    opened: list[bool] = []
    admitted: list[bool] = []

    def fail() -> None:
        start.wait()
        opened.append(breaker.failure("server error, HTTP 500"))

    def ask() -> None:
        start.wait()
        admitted.append(breaker.check() is None)

    for target in (fail, ask):
        if target is ask:
            clock.now += 10
        threads = [threading.Thread(target=target) for _ in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert breaker.failures == 40
    assert opened.count(True) == 1
    assert admitted.count(True) == 1


def test_failures_are_classified_from_the_sdks_errors():
    import httpx2
    import openai

    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")

    def error(kind: type[openai.APIStatusError], code: int, **headers: str) -> Exception:
        response = httpx2.Response(code, headers=headers, request=request)
        return kind("failed", response=response, body=None)

    limited = classify(error(openai.RateLimitError, 429, **{"retry-after": "7"}), 30)
    assert (limited.reason, limited.retry, limited.unhealthy, limited.retry_after) == (
        "rate-limited, HTTP 429",
        True,
        True,
        7.0,
    )
    ms = classify(error(openai.RateLimitError, 429, **{"retry-after-ms": "250"}), 30)
    assert ms.retry_after == 0.25
    timed_out = classify(openai.APITimeoutError(request=request), 12.5)
    assert (timed_out.reason, timed_out.retry) == ("timed out after 12.5 s", False)
    assert classify(error(openai.InternalServerError, 502), 30).reason == "server error, HTTP 502"
    bad = classify(error(openai.BadRequestError, 400), 30)
    assert (bad.reason, bad.retry, bad.unhealthy) == ("request refused, HTTP 400", False, False)
    assert classify(KeyError("x"), 30).reason == "failed with KeyError"
