"""One agent turn per request, as JSON or streamed as server-sent events; approvals resume it.

The agent opens its own organisation-scoped sessions (``agent.run_turn``); a thread
belongs to the key that started it, so another key (or another organisation) cannot read
or continue it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agent import run_turn, stream_turn
from agent.approvals import Decision
from agent.runner import MAX_MESSAGE_CHARS, TurnEvent, TurnResult
from api.deps import CallerDep, ServicesDep
from api.metrics import Metrics
from api.problems import problem_body
from core.errors import PricingAgentError
from store import threads
from tools.base import EARLIEST_DATE, LATEST_DATE

router = APIRouter(prefix="/chat", tags=["chat"])

ThreadId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="The thread.")]
EVENT_STREAM = "text/event-stream"


class ChatRequest(BaseModel):
    """A buyer's message; ``thread_id`` continues a conversation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"message": "What should 5000 lb of epoxy coated rebar (703-06029) cost?"},
                {"message": "and from the second-lowest bidder?", "thread_id": "t-2f1c9a"},
            ]
        },
    )

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    thread_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Continue this thread; omit to start a new one (its id is in the answer).",
    )
    as_of: dt.date | None = Field(
        default=None, ge=EARLIEST_DATE, le=LATEST_DATE, description="Answer as of this date."
    )


class ApprovalRequestBody(BaseModel):
    """A person's decision on the action the thread waits on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"decision": "approve", "note": "agreed with Dana"}]},
    )

    decision: Literal["approve", "reject"] = "approve"
    note: str | None = Field(default=None, max_length=2000)


def _count_tools(metrics: Metrics, result: TurnResult) -> None:
    for call in result.tool_calls:
        metrics.tool_calls.labels(call.name, "chat", "ok" if call.ok else "error").inc()


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def _encode(event: TurnEvent) -> str:
    if event.type == "done" and event.result is not None:
        return _sse("done", event.result.model_dump(mode="json"))
    payload = event.model_dump(mode="json", exclude_none=True, exclude={"type", "result"})
    return _sse(event.type, payload)


def _stream(first: TurnEvent, rest: Iterator[TurnEvent], metrics: Metrics) -> Iterator[str]:
    """Relay the turn's events; a failure mid-stream becomes an ``error`` event, never silence."""
    try:
        yield _encode(first)
        for event in rest:
            if event.type == "done" and event.result is not None:
                _count_tools(metrics, event.result)
            yield _encode(event)
    except PricingAgentError as exc:
        yield _sse("error", problem_body(exc.http_status, exc.title, exc.message))
    except Exception:  # the stream has started: the status line is gone, say it in-band
        yield _sse("error", problem_body(500, "Internal error", "the turn failed; it is logged"))
        raise


@router.post(
    "",
    summary="Ask the agent (one turn); stream it with Accept: text/event-stream",
    response_model=TurnResult,
    responses={
        200: {
            "content": {
                EVENT_STREAM: {
                    "schema": {"type": "string"},
                    "example": 'event: token\ndata: {"text": "Fair"}\n\n'
                    'event: done\ndata: {"answer": "...", "thread_id": "t-1", ...}\n\n',
                }
            },
            "description": "The turn's answer; or, as server-sent events: token, tool_call, "
            "tool_result, approval_required, done (the full result), error.",
        }
    },
)
def chat(
    body: ChatRequest,
    caller: CallerDep,
    svc: ServicesDep,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TurnResult | StreamingResponse:
    """Answer a buyer's message with the agent, showing which tools ran on what data."""
    turn: dict[str, Any] = {
        "database": svc.database,
        "org_id": caller.org_id,
        "user_id": caller.user_id,
        "thread_id": body.thread_id,
        "as_of": body.as_of,
        "settings": svc.settings,
    }
    if accept and EVENT_STREAM in accept:
        events = stream_turn(body.message, **turn)
        # The first event is pulled here, so a refusal (another user's thread, a bad
        # message) is still an HTTP error with its status, not an event in a 200 stream.
        first = next(events)
        return StreamingResponse(
            _stream(first, events, svc.metrics),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    result = run_turn(body.message, **turn)
    _count_tools(svc.metrics, result)
    return result


@router.post(
    "/{thread_id}/approve",
    summary="Approve or reject the action a thread waits on",
    response_model=TurnResult,
)
def approve(
    thread_id: ThreadId, body: ApprovalRequestBody, caller: CallerDep, svc: ServicesDep
) -> TurnResult:
    """Resume the interrupted turn with a person's decision; recorded in the audit log."""
    caller.require("buyer", "approve or reject actions")
    with svc.database.session_scope(caller.org_id) as session:
        # Only a thread of the caller's organisation can be decided on; others do not exist.
        owner = threads.get_thread(
            session=session, org_id=caller.org_id, thread_id=thread_id
        ).user_id
    decision = Decision(approved=body.decision == "approve", by=caller.actor, note=body.note)
    # Any buyer of the organisation may decide: the thread resumes as its owner's, and the
    # decision (and the audit log) names the caller.
    result = run_turn(
        None,
        database=svc.database,
        org_id=caller.org_id,
        user_id=owner,
        thread_id=thread_id,
        decision=decision,
        settings=svc.settings,
        erp_connectors=svc.erp_connectors,
    )
    _count_tools(svc.metrics, result)
    return result
