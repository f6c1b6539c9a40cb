"""A chat conversation as the chat showed it: its steps, its pictures, its thread list.

The agent's own memory (the checkpointer) holds what the model saw; these rows hold what
the person saw (messages, tool steps with their summaries, charts), so a resumed thread
looks as it did. Rows are keyed by the chat's own ids and scoped by organisation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.models import AgentThread, ChatElement, ChatStep


@dataclass(frozen=True, slots=True)
class ThreadOwner:
    """The organisation and user a thread id belongs to."""

    org_id: uuid.UUID
    user_id: str


def thread_owners(*, session: Session, thread_id: str) -> list[ThreadOwner]:
    """Return who owns ``thread_id`` in any organisation (an unscoped look-up by exact id).

    Thread ids the chat makes are random UUIDs, so this is one row; the same id chosen
    by hand in two organisations gives two, and callers then match on the user.
    """
    rows = session.execute(
        text("SELECT org_id, user_id FROM pricing_thread_owner(:t)"), {"t": thread_id}
    ).all()
    return [ThreadOwner(org_id=r.org_id, user_id=r.user_id) for r in rows]


def update_thread(
    *,
    session: Session,
    org_id: uuid.UUID,
    thread_id: str,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
    channel: str | None = None,
    replace_title: bool = True,
) -> None:
    """Set a thread's title (or only a missing one), face metadata (merged) or channel."""
    thread = session.get(AgentThread, (org_id, thread_id))
    if thread is None:
        return
    if title and (replace_title or not thread.title):
        thread.title = title[:200]
    if metadata:
        thread.face_metadata = {**(thread.face_metadata or {}), **metadata}
    if channel and not thread.channel:
        thread.channel = channel
    thread.updated_at = dt.datetime.now(dt.UTC)


def list_threads(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: str,
    search: str | None = None,
    limit: int = 20,
    before: tuple[dt.datetime, str] | None = None,
    channel: str | None = None,
) -> list[AgentThread]:
    """Return a user's threads newest first; ``before`` is the (updated_at, id) cursor."""
    query = select(AgentThread).where(AgentThread.org_id == org_id, AgentThread.user_id == user_id)
    if channel is not None:
        # A face's list shows conversations that have something to show: the chat opens a
        # thread row on connect, before anyone has said anything.
        has_steps = (
            select(ChatStep.step_id)
            .where(
                ChatStep.org_id == AgentThread.org_id, ChatStep.thread_id == AgentThread.thread_id
            )
            .exists()
        )
        query = query.where(AgentThread.channel == channel, has_steps)
    if search:
        query = query.where(AgentThread.title.ilike(f"%{_like_escape(search)}%", escape="\\"))
    if before is not None:
        at, tid = before
        query = query.where(
            or_(
                AgentThread.updated_at < at,
                (AgentThread.updated_at == at) & (AgentThread.thread_id < tid),
            )
        )
    query = query.order_by(AgentThread.updated_at.desc(), AgentThread.thread_id.desc())
    return list(session.scalars(query.limit(limit)))


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def delete_thread(*, session: Session, org_id: uuid.UUID, thread_id: str) -> None:
    """Delete a thread with its steps and pictures (the agent's memory of it stays keyed)."""
    session.execute(
        delete(AgentThread).where(AgentThread.org_id == org_id, AgentThread.thread_id == thread_id)
    )


def save_step(*, session: Session, org_id: uuid.UUID, thread_id: str, step: dict[str, Any]) -> None:
    """Insert a step, or merge the given fields into the stored one."""
    step_id = str(step["id"])
    statement = insert(ChatStep).values(
        org_id=org_id, step_id=step_id, thread_id=thread_id, step=step
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ChatStep.org_id, ChatStep.step_id],
            set_={"step": ChatStep.step.op("||")(statement.excluded.step)},
        )
    )


def delete_step(*, session: Session, org_id: uuid.UUID, step_id: str) -> None:
    """Delete one step."""
    session.execute(delete(ChatStep).where(ChatStep.org_id == org_id, ChatStep.step_id == step_id))


def thread_steps(*, session: Session, org_id: uuid.UUID, thread_id: str) -> list[dict[str, Any]]:
    """Return a thread's steps in the order they were made."""
    rows = session.scalars(
        select(ChatStep.step)
        .where(ChatStep.org_id == org_id, ChatStep.thread_id == thread_id)
        .order_by(ChatStep.created_at, ChatStep.step_id)
    )
    return [dict(row) for row in rows]


def save_element(
    *,
    session: Session,
    org_id: uuid.UUID,
    thread_id: str,
    element: dict[str, Any],
    content: bytes | None,
) -> None:
    """Keep a picture or file shown in a thread (its description and its bytes)."""
    statement = insert(ChatElement).values(
        org_id=org_id,
        element_id=str(element["id"]),
        thread_id=thread_id,
        element=element,
        content=content,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ChatElement.org_id, ChatElement.element_id],
            set_={"element": statement.excluded.element, "content": statement.excluded.content},
        )
    )


def get_element(*, session: Session, org_id: uuid.UUID, element_id: str) -> ChatElement | None:
    """Return one kept element, or None."""
    return session.get(ChatElement, (org_id, element_id))


def thread_elements(*, session: Session, org_id: uuid.UUID, thread_id: str) -> list[ChatElement]:
    """Return a thread's kept elements in the order they were made."""
    return list(
        session.scalars(
            select(ChatElement)
            .where(ChatElement.org_id == org_id, ChatElement.thread_id == thread_id)
            .order_by(ChatElement.created_at, ChatElement.element_id)
        )
    )


def delete_element(*, session: Session, org_id: uuid.UUID, element_id: str) -> None:
    """Delete one element."""
    session.execute(
        delete(ChatElement).where(
            ChatElement.org_id == org_id, ChatElement.element_id == element_id
        )
    )


def count_steps(*, session: Session, org_id: uuid.UUID, thread_id: str) -> int:
    """Return how many steps a thread has."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ChatStep)
            .where(ChatStep.org_id == org_id, ChatStep.thread_id == thread_id)
        )
        or 0
    )
