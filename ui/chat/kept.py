"""Serve a kept picture of a past thread to its owner (``GET {chat}/project/kept/...``).

A chart shown live travels in the chat session; a past thread's charts come from the
store. The route answers only the logged-in owner of the thread, in a transaction
scoped to the owner's organisation.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from chainlit.auth import get_current_user
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Response

from store import chat_log
from store.models import AgentThread
from ui.chat.identity import parse_identifier
from ui.chat.runtime import current

PATH = "/project/kept/{thread_id}/{element_id}"


def kept_url(root: str, thread_id: str, element_id: str) -> str:
    """The URL the browser loads a kept element's content from."""
    return f"{root}/project/kept/{thread_id}/{element_id}"


def _load(identifier: str | None, thread_id: str, element_id: str) -> tuple[bytes, str] | None:
    ident = parse_identifier(identifier)
    if ident is None:
        return None
    with current().database.session_scope(ident.org_id) as session:
        thread = session.get(AgentThread, (ident.org_id, thread_id))
        if thread is None or thread.user_id != ident.agent_user:
            return None
        row = chat_log.get_element(session=session, org_id=ident.org_id, element_id=element_id)
        if row is None or row.thread_id != thread_id or row.content is None:
            return None
        return row.content, str(row.element.get("mime") or "application/octet-stream")


CurrentUser = Annotated[Any, Depends(get_current_user)]


async def kept_element(thread_id: str, element_id: str, user: CurrentUser) -> Response:
    """The content of a kept element of one of the caller's threads."""
    found = await asyncio.to_thread(_load, getattr(user, "identifier", None), thread_id, element_id)
    if found is None:
        raise HTTPException(status_code=404, detail="no such element")
    content, mime = found
    return Response(content, media_type=mime, headers={"Cache-Control": "private, max-age=3600"})


def install(chainlit_app: FastAPI) -> None:
    """Add the route ahead of Chainlit's catch-all page route."""
    router = APIRouter()
    router.add_api_route(PATH, kept_element, methods=["GET"], include_in_schema=False)
    chainlit_app.router.routes[0:0] = router.routes
