"""Who owns a conversation with the agent."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from store.models import AgentThread

THREAD_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def new_thread_id() -> str:
    """Return a fresh, unguessable thread id."""
    return uuid.uuid4().hex


def claim_thread(
    *, session: Session, org_id: uuid.UUID, thread_id: str, user_id: str, title: str | None
) -> AgentThread:
    """Return the thread, creating it for ``user_id``; refuse a thread another user owns.

    Row-level security hides other organisations' threads, so the same id used in
    another organisation is simply a different thread.
    """
    if not THREAD_ID.fullmatch(thread_id):
        raise InvalidInputError("a thread id is 1-64 letters, digits, '.', '_' or '-'")
    session.execute(
        insert(AgentThread)
        .values(org_id=org_id, thread_id=thread_id, user_id=user_id, title=title)
        .on_conflict_do_nothing()
    )
    thread = session.scalar(
        select(AgentThread)
        .where(AgentThread.org_id == org_id, AgentThread.thread_id == thread_id)
        .with_for_update()
    )
    assert thread is not None
    if thread.user_id != user_id:
        raise PermissionDeniedError("this conversation belongs to another user")
    thread.updated_at = dt.datetime.now(dt.UTC)
    return thread


def user_threads(*, session: Session, org_id: uuid.UUID, user_id: str) -> list[AgentThread]:
    """Return a user's threads, newest first."""
    return list(
        session.scalars(
            select(AgentThread)
            .where(AgentThread.org_id == org_id, AgentThread.user_id == user_id)
            .order_by(AgentThread.updated_at.desc())
        )
    )


def get_thread(*, session: Session, org_id: uuid.UUID, thread_id: str) -> AgentThread:
    """Return a thread of the organisation, or NotFoundError."""
    thread = session.get(AgentThread, (org_id, thread_id))
    if thread is None:
        raise NotFoundError(f"no conversation {thread_id!r}")
    return thread
