"""When the language model fails: a bounded retry, a circuit breaker, the offline planner.

A failed model call (timeout, rate limit, server error, refused connection or credentials)
does not end the turn: the offline planner answers this step and the rest of the turn, and
its answer says why. The wait is bounded: a timed-out call is not retried, a retry happens
only soon (``llm_retry_max_wait_seconds``) and within one timeout of the first attempt, so
a turn waits at most about twice ``LLM_TIMEOUT_SECONDS`` for a failing model, usually once.

Each endpoint has a circuit breaker per process: after ``llm_breaker_failures`` failed
calls in a row it is skipped for ``llm_breaker_cooldown_seconds``, so under load a dead
model does not make every request wait for its timeout. Then one call tries it again.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from langchain_core.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.messages import AIMessage, AnyMessage

from agent.context import RunContext
from agent.planner.answer import fallback_note
from agent.planner.lexicon import Lexicon, load_lexicon
from agent.planner.model import OfflinePlanner
from agent.settings import AgentSettings
from agent.toolset import tool_schemas

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """What went wrong with a model call, in words for the buyer and flags for the caller."""

    reason: str  # short, for the answer: "timed out after 30 s", "rate-limited, HTTP 429"
    retry: bool  # another attempt soon may work
    unhealthy: bool  # says the endpoint is down (counts toward its breaker), not this request
    retry_after: float | None = None  # seconds the server asked to wait


def _is_timeout(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, (openai.APITimeoutError, ModelTimeoutError, TimeoutError))


def _is_connection(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, (openai.APIConnectionError, ModelConnectionError, ConnectionError))


def _refused(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # the cause chain: APIConnectionError <- ConnectError <- OSError
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retry_after(exc: BaseException) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max((when - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def classify(exc: BaseException, timeout: float) -> Failure:  # noqa: PLR0911 - a rule table
    """Say why a model call failed, whether to retry, and whether the endpoint looks down."""
    if _is_timeout(exc):
        # A call that took the whole timeout is not retried: that would double the wait.
        return Failure(f"timed out after {timeout:g} s", retry=False, unhealthy=True)
    if _is_connection(exc):
        reason = "connection refused" if _refused(exc) else "could not be reached"
        return Failure(reason, retry=True, unhealthy=True)
    status = getattr(exc, "status_code", None)
    if status == 429 or isinstance(exc, ModelRateLimitError):
        return Failure(
            "rate-limited, HTTP 429", retry=True, unhealthy=True, retry_after=_retry_after(exc)
        )
    if (isinstance(status, int) and status >= 500) or isinstance(exc, ModelAPIError):
        code = f", HTTP {status}" if isinstance(status, int) else ""
        return Failure(
            f"server error{code}", retry=True, unhealthy=True, retry_after=_retry_after(exc)
        )
    if status in (401, 403) or isinstance(
        exc, (ModelAuthenticationError, ModelPermissionDeniedError)
    ):
        code = f", HTTP {status}" if isinstance(status, int) else ""
        return Failure(f"credentials refused{code}", retry=False, unhealthy=True)
    if isinstance(status, int):
        # 400, 404, 422…: this request's problem, not the endpoint's.
        return Failure(f"request refused, HTTP {status}", retry=False, unhealthy=False)
    return Failure(f"failed with {type(exc).__name__}", retry=False, unhealthy=False)


class CircuitBreaker:
    """Failed calls in a row to one endpoint; after ``threshold`` of them, skip it a while.

    Open: calls are skipped for ``cooldown`` seconds. Then the first caller to ask is let
    through to try the endpoint while the others keep skipping; its success closes the
    breaker, its failure opens it for another cool-down (so does silence: a trial that never
    reports lets the next caller try after the cool-down). Safe to share between threads.
    """

    def __init__(
        self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._last: str | None = None
        self._open_until: float | None = None

    @property
    def failures(self) -> int:
        """Failed calls in a row."""
        with self._lock:
            return self._failures

    def check(self) -> str | None:
        """Return None when a call may go ahead, else why it is skipped."""
        with self._lock:
            if self._open_until is None:
                return None
            now = self._clock()
            if now < self._open_until:
                left = self._open_until - now
                return (
                    f"skipped for {left:.0f} s more after {self._failures} failed calls in a row; "
                    f"the last: {self._last}"
                )
            self._open_until = now + self.cooldown  # this caller tries; the others wait
            return None

    def success(self) -> None:
        """Close the breaker."""
        with self._lock:
            self._failures = 0
            self._last = None
            self._open_until = None

    def failure(self, reason: str) -> bool:
        """Count a failed call; return True when this one opened the breaker."""
        with self._lock:
            self._failures += 1
            self._last = reason
            if self._failures < self.threshold:
                return False
            was_closed = self._open_until is None
            self._open_until = self._clock() + self.cooldown
            return was_closed


_breakers: dict[tuple[str, int, float], CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(endpoint: str, settings: AgentSettings) -> CircuitBreaker:
    """The process's breaker of an endpoint (one per endpoint and breaker settings)."""
    key = (endpoint, settings.llm_breaker_failures, settings.llm_breaker_cooldown_seconds)
    with _breakers_lock:
        breaker = _breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(key[1], key[2])
            _breakers[key] = breaker
        return breaker


def reset_breakers() -> None:
    """Forget every endpoint's failures (tests, or after the model was reconfigured)."""
    with _breakers_lock:
        _breakers.clear()


def _timeout(run: RunContext) -> float:
    configured = getattr(run.model, "request_timeout", None)
    if isinstance(configured, (int, float)) and not isinstance(configured, bool):
        return float(configured)
    return run.settings.llm_timeout_seconds


def _pause(
    failure: Failure, attempt: int, started: float, timeout: float, run: RunContext
) -> float | None:
    """Seconds to wait before retrying, or None to fall back now."""
    settings = run.agent_settings
    if not failure.retry or attempt >= settings.llm_max_retries:
        return None
    wait = failure.retry_after
    if wait is None:
        wait = min(0.5 * 2**attempt, settings.llm_retry_max_wait_seconds)
    if wait > settings.llm_retry_max_wait_seconds:
        return None  # the server wants a long pause: the planner answers instead
    if time.monotonic() - started + wait >= timeout:
        return None  # retries stay within one timeout of the first attempt
    return wait


def ask_model(run: RunContext, prompt: list[AnyMessage]) -> AIMessage | str:
    """Ask the turn's model for the next step; if it fails, return why, in a few words."""
    breaker = breaker_for(run.llm_endpoint, run.agent_settings) if run.llm_endpoint else None
    if breaker is not None:
        skipped = breaker.check()
        if skipped is not None:
            log.info("language model skipped: %s", skipped)
            return skipped
    timeout = _timeout(run)
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            reply = run.model.bind_tools(tool_schemas()).invoke(prompt)
        except Exception as exc:
            failure = classify(exc, timeout)
            pause = _pause(failure, attempt, started, timeout, run)
            if pause is not None:
                attempt += 1
                log.info(
                    "language model call failed (%s: %s); retry %d in %.1f s",
                    type(exc).__name__,
                    failure.reason,
                    attempt,
                    pause,
                )
                time.sleep(pause)
                continue
            opened = breaker is not None and failure.unhealthy and breaker.failure(failure.reason)
            # The class and our own words only: an SDK's message may quote the request.
            log.warning(
                "language model failed (%s: %s); the offline planner answers%s",
                type(exc).__name__,
                failure.reason,
                f"; skipping the model for {breaker.cooldown:g} s"
                if opened and breaker is not None
                else "",
            )
            return failure.reason
        if breaker is not None:
            breaker.success()
        return reply


def stand_in(run: RunContext, reason: str) -> OfflinePlanner:
    """The offline planner standing in for a failed model, saying why in its answer."""
    loader: Callable[[], Lexicon] = run.lexicon or (lambda: _load_lexicon(run))
    return OfflinePlanner(lexicon_loader=loader, as_of=run.as_of, note=fallback_note(reason))


def _load_lexicon(run: RunContext) -> Lexicon:
    with run.session_factory(run.org_id) as session:
        return load_lexicon(session, run.org_id)
