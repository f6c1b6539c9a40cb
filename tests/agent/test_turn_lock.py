"""One turn at a time per conversation: a second message while one runs is refused at once."""

from __future__ import annotations

import uuid

import pytest

from agent.runner import run_turn
from core.errors import ConflictError
from store import locks
from store.db import Database
from tests.conftest import AS_OF

QUESTION = "What should 5000 lb of epoxy coated rebar 703-06029 cost?"


def test_a_busy_conversation_refuses_a_second_turn_and_frees_after(
    database: Database, sample_org: uuid.UUID
) -> None:
    thread = f"t-{uuid.uuid4().hex[:12]}"
    # What a turn in another process holds while it runs.
    with (
        locks.exclusive(database, f"turn:{sample_org}:{thread}", "busy"),
        pytest.raises(ConflictError, match="still answering"),
    ):
        run_turn(
            QUESTION,
            database=database,
            org_id=sample_org,
            user_id="u1",
            thread_id=thread,
            as_of=AS_OF,
        )
    # Other conversations are not held up, and the thread is free once the turn is over.
    other = run_turn(QUESTION, database=database, org_id=sample_org, user_id="u1", as_of=AS_OF)
    assert other.thread_id != thread
    done = run_turn(
        QUESTION,
        database=database,
        org_id=sample_org,
        user_id="u1",
        thread_id=thread,
        as_of=AS_OF,
    )
    assert done.thread_id == thread
    assert "predict_price" in [c.name for c in done.tool_calls]
