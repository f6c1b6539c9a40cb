"""Chainlit's data layer over the store: users, the thread list, steps and pictures.

Every read and write runs in a transaction scoped to one organisation, so row-level
security covers the chat as it covers the API. The organisation comes from the person
in the chat session; calls Chainlit makes without one (its HTTP routes: the thread
list, a past thread, renaming) find the thread's owner by its exact id, and Chainlit
itself then checks that the owner is the person asking.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from chainlit.context import context
from chainlit.data.base import BaseDataLayer
from chainlit.data.utils import queue_until_user_message
from chainlit.element import Element, ElementDict
from chainlit.step import StepDict
from chainlit.types import (
    Feedback,
    PageInfo,
    PaginatedResponse,
    Pagination,
    ThreadDict,
    ThreadFilter,
)
from chainlit.user import PersistedUser, User

from core.errors import PricingAgentError
from store import chat_log, threads
from store.models import AgentThread
from store.models import User as StoreUser
from ui.chat.identity import ChatIdentity, parse_identifier
from ui.chat.kept import kept_url
from ui.chat.runtime import current

log = logging.getLogger(__name__)
T = TypeVar("T")
CHANNEL = "chat"
# Pictures are kept with their content so a resumed thread shows them; uploaded files
# are already in the store through the importer, so only their description is kept.
_KEEP_CONTENT = {"plotly", "text"}
_MAX_KEPT_BYTES = 2 * 1024 * 1024


def _iso(value: dt.datetime | None) -> str:
    return (value or dt.datetime.now(dt.UTC)).isoformat()


def session_identity() -> ChatIdentity | None:
    """The identity of the person in the current chat session, if there is one."""
    try:
        user = context.session.user
    except Exception:
        return None
    return parse_identifier(getattr(user, "identifier", None))


class StoreDataLayer(BaseDataLayer):
    """Keeps the chat's conversations in the store, one organisation per transaction."""

    def __init__(self) -> None:
        # One writer thread keeps a streamed message's create and updates in order.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-writes")

    # ------------------------------------------------------------------ plumbing

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, functools.partial(fn, *args))

    def _owner(self, thread_id: str) -> chat_log.ThreadOwner | None:
        me = session_identity()
        with current().database.unscoped_session() as session:
            owners = chat_log.thread_owners(session=session, thread_id=thread_id)
        if me is not None:
            owners = [o for o in owners if o.org_id == me.org_id] or owners
        return owners[0] if len(owners) == 1 else None

    def _org_for(self, thread_id: str | None) -> uuid.UUID | None:
        me = session_identity()
        if me is not None:
            return me.org_id
        owner = self._owner(thread_id) if thread_id else None
        return owner.org_id if owner else None

    # ------------------------------------------------------------------ users

    def _user(self, identifier: str) -> PersistedUser | None:
        ident = parse_identifier(identifier)
        if ident is None:
            return None
        user_id = int(ident.agent_user.removeprefix("user:"))
        with current().database.session_scope(ident.org_id) as session:
            row = session.get(StoreUser, (ident.org_id, user_id))
            if row is None or row.disabled_at is not None:
                return None
            return PersistedUser(
                id=identifier,
                identifier=identifier,
                display_name=row.display_name or row.email,
                metadata={"org_id": str(ident.org_id), "role": row.role, "email": row.email},
                createdAt=_iso(row.created_at),
            )

    async def get_user(self, identifier: str) -> PersistedUser | None:
        """Return the person an identifier names, if they may still log in."""
        return await self._read(self._user, identifier)

    async def create_user(self, user: User) -> PersistedUser | None:
        """People are created by admins (``pricing-agent users create``), not by the chat."""
        return await self._read(self._user, user.identifier)

    # ------------------------------------------------------------------ threads

    def _author(self, thread_id: str) -> str:
        owner = self._owner(thread_id)
        return f"{owner.user_id}@{owner.org_id}" if owner else ""

    async def get_thread_author(self, thread_id: str) -> str:
        """Return the identifier of the thread's owner ('' when there is none)."""
        return await self._read(self._author, thread_id)

    def _update_thread(
        self,
        thread_id: str,
        name: str | None,
        user_id: str | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        ident = parse_identifier(user_id)
        org_id = ident.org_id if ident else self._org_for(thread_id)
        if org_id is None:
            return
        with current().database.session_scope(org_id) as session:
            if ident is not None:
                try:
                    threads.claim_thread(
                        session=session,
                        org_id=org_id,
                        thread_id=thread_id,
                        user_id=ident.agent_user,
                        title=name,
                    )
                except PricingAgentError as exc:
                    log.warning("chat thread %s not claimed: %s", thread_id, exc)
                    return
            chat_log.update_thread(
                session=session,
                org_id=org_id,
                thread_id=thread_id,
                title=name,
                metadata=metadata,
                channel=CHANNEL,
            )

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Create the thread for its owner, or rename it / merge its metadata."""
        await self._write(self._update_thread, thread_id, name, user_id, metadata)

    def _thread_dict(
        self,
        thread: AgentThread,
        steps: list[dict[str, Any]],
        elements: list[dict[str, Any]] | None = None,
    ) -> ThreadDict:
        identifier = f"{thread.user_id}@{thread.org_id}"
        return ThreadDict(
            id=thread.thread_id,
            createdAt=_iso(thread.created_at),
            name=thread.title,
            userId=identifier,
            userIdentifier=identifier,
            tags=[],
            metadata=dict(thread.face_metadata or {}),
            steps=steps,  # type: ignore[typeddict-item]
            elements=elements or [],  # type: ignore[typeddict-item]
        )

    def _list(self, pagination: Pagination, filters: ThreadFilter) -> PaginatedResponse[ThreadDict]:
        ident = parse_identifier(filters.userId)
        empty: PaginatedResponse[ThreadDict] = PaginatedResponse(
            pageInfo=PageInfo(hasNextPage=False, startCursor=None, endCursor=None), data=[]
        )
        if ident is None:
            return empty
        before = None
        if pagination.cursor and "|" in pagination.cursor:
            at, _, tid = pagination.cursor.partition("|")
            try:
                before = (dt.datetime.fromisoformat(at), tid)
            except ValueError:
                return empty
        size = max(1, min(pagination.first, 100))
        with current().database.session_scope(ident.org_id) as session:
            rows = chat_log.list_threads(
                session=session,
                org_id=ident.org_id,
                user_id=ident.agent_user,
                search=filters.search,
                limit=size + 1,
                before=before,
                channel=CHANNEL,
            )
            page = [self._thread_dict(t, []) for t in rows[:size]]
            last = rows[size - 1] if len(rows) > size else None
        end = f"{last.updated_at.isoformat()}|{last.thread_id}" if last else None
        return PaginatedResponse(
            pageInfo=PageInfo(
                hasNextPage=last is not None,
                startCursor=page[0]["id"] if page else None,
                endCursor=end,
            ),
            data=page,
        )

    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse[ThreadDict]:
        """The person's own chat threads, newest first."""
        return await self._read(self._list, pagination, filters)

    def _get_thread(self, thread_id: str) -> ThreadDict | None:
        owner = self._owner(thread_id)
        if owner is None:
            return None
        with current().database.session_scope(owner.org_id) as session:
            thread = session.get(AgentThread, (owner.org_id, thread_id))
            if thread is None:
                return None
            steps = chat_log.thread_steps(session=session, org_id=owner.org_id, thread_id=thread_id)
            root = current().chat.path
            elements = [
                {**row.element, "url": kept_url(root, thread_id, row.element_id)}
                for row in chat_log.thread_elements(
                    session=session, org_id=owner.org_id, thread_id=thread_id
                )
                if row.content is not None
            ]
            return self._thread_dict(thread, steps, elements)

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        """A thread with its steps, as the chat showed them."""
        return await self._read(self._get_thread, thread_id)

    def _delete_thread(self, thread_id: str) -> None:
        owner = self._owner(thread_id)
        if owner is not None:
            with current().database.session_scope(owner.org_id) as session:
                chat_log.delete_thread(session=session, org_id=owner.org_id, thread_id=thread_id)

    async def delete_thread(self, thread_id: str) -> None:
        """Delete a thread with its steps and pictures."""
        await self._write(self._delete_thread, thread_id)

    # ------------------------------------------------------------------ steps

    def _save_step(self, step: dict[str, Any], org_id: uuid.UUID | None) -> None:
        thread_id = step.get("threadId")
        if not thread_id or not step.get("id"):
            return
        org_id = org_id or self._org_for(thread_id)
        if org_id is None:
            return
        with current().database.session_scope(org_id) as session:
            if session.get(AgentThread, (org_id, thread_id)) is None:
                return  # a step of a thread this person does not own
            chat_log.save_step(session=session, org_id=org_id, thread_id=thread_id, step=step)

    @queue_until_user_message()
    async def create_step(self, step_dict: StepDict) -> None:
        """Keep a step the chat showed."""
        ident = session_identity()
        await self._write(self._save_step, dict(step_dict), ident.org_id if ident else None)

    @queue_until_user_message()
    async def update_step(self, step_dict: StepDict) -> None:
        """Merge a step's new fields (a streamed message's growing text)."""
        ident = session_identity()
        await self._write(self._save_step, dict(step_dict), ident.org_id if ident else None)

    def _delete_step(self, step_id: str, org_id: uuid.UUID) -> None:
        with current().database.session_scope(org_id) as session:
            chat_log.delete_step(session=session, org_id=org_id, step_id=step_id)

    @queue_until_user_message()
    async def delete_step(self, step_id: str) -> None:
        """Delete one step of the person's organisation."""
        ident = session_identity()
        if ident is not None:
            await self._write(self._delete_step, step_id, ident.org_id)

    # ------------------------------------------------------------------ elements

    def _save_element(self, element: dict[str, Any], content: bytes | None) -> None:
        thread_id = element.get("threadId")
        org_id = self._org_for(thread_id)
        if not thread_id or org_id is None:
            return
        with current().database.session_scope(org_id) as session:
            if session.get(AgentThread, (org_id, thread_id)) is None:
                return
            chat_log.save_element(
                session=session,
                org_id=org_id,
                thread_id=thread_id,
                element=element,
                content=content,
            )

    @queue_until_user_message()
    async def create_element(self, element: Element) -> None:
        """Keep a picture (with its content) or the description of a file."""
        content: bytes | None = None
        if element.type in _KEEP_CONTENT:
            raw = element.content
            if raw is None and element.path:
                raw = Path(element.path).read_bytes()
            if isinstance(raw, str):
                raw = raw.encode()
            if raw is not None and len(raw) <= _MAX_KEPT_BYTES:
                content = bytes(raw)
        await self._write(self._save_element, dict(element.to_dict()), content)

    def _get_element(self, thread_id: str, element_id: str) -> ElementDict | None:
        org_id = self._org_for(thread_id)
        if org_id is None:
            return None
        with current().database.session_scope(org_id) as session:
            row = chat_log.get_element(session=session, org_id=org_id, element_id=element_id)
            if row is None or row.thread_id != thread_id:
                return None
            element: ElementDict = {**row.element}  # type: ignore[typeddict-item]
            return element

    async def get_element(self, thread_id: str, element_id: str) -> ElementDict | None:
        """Return a kept element's description."""
        return await self._read(self._get_element, thread_id, element_id)

    def _delete_element(self, element_id: str, org_id: uuid.UUID) -> None:
        with current().database.session_scope(org_id) as session:
            chat_log.delete_element(session=session, org_id=org_id, element_id=element_id)

    @queue_until_user_message()
    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        """Delete one element of the person's organisation."""
        org_id = await self._read(self._org_for, thread_id)
        if org_id is not None:
            await self._write(self._delete_element, element_id, org_id)

    # ------------------------------------------------------------------ feedback

    async def upsert_feedback(self, feedback: Feedback) -> str:
        """Keep a thumbs up or down on the step it is for."""
        feedback_id = feedback.id or uuid.uuid4().hex
        ident = session_identity()
        step = {
            "id": feedback.forId,
            "threadId": feedback.threadId,
            "feedback": {
                "id": feedback_id,
                "forId": feedback.forId,
                "value": feedback.value,
                "comment": feedback.comment,
            },
        }
        await self._write(self._save_step, step, ident.org_id if ident else None)
        return feedback_id

    async def delete_feedback(self, feedback_id: str) -> bool:
        """Feedback is kept on its step; removing it is not offered."""
        return False

    # ------------------------------------------------------------------ the rest

    async def build_debug_url(self) -> str:
        """No external tracing UI."""
        return ""

    async def get_favorite_steps(self, user_id: str) -> list[StepDict]:
        """Favourites are switched off in the chat's configuration."""
        return []

    async def close(self) -> None:
        """Finish pending writes."""
        self._writer.shutdown(wait=True)
