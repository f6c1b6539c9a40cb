"""The chat's HTTP side without a browser: login, the thread list, past threads, tenancy.

Threads are made as the chat makes them (the data layer's own writes) and read back
through Chainlit's routes on the served app, as each person's browser would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from store import chat_log, threads
from store.db import Database
from tests.ui.chat.conftest import Login
from ui.chat.identity import ChatIdentity


@contextmanager
def client_for(chat_url: str, login: Login | None) -> Iterator[httpx.Client]:
    """An HTTP client logged in as ``login`` (its cookie kept), or anonymous."""
    with httpx.Client(base_url=chat_url, timeout=30) as client:
        if login is not None:
            reply = client.post(
                "/login", data={"username": login.email, "password": login.password}
            )
            assert reply.status_code == 200, reply.text
        yield client


def make_chat_thread(database: Database, login: Login, *, chart: bytes | None = None) -> str:
    """A chat thread of ``login`` with two steps (and a kept chart), as the chat writes it."""
    thread_id = str(uuid.uuid4())
    with database.session_scope(login.org_id) as session:
        threads.claim_thread(
            session=session,
            org_id=login.org_id,
            thread_id=thread_id,
            user_id=login.agent_user,
            title="What should rebar cost?",
        )
        chat_log.update_thread(
            session=session, org_id=login.org_id, thread_id=thread_id, channel="chat"
        )
        for n, kind in enumerate(("user_message", "assistant_message")):
            chat_log.save_step(
                session=session,
                org_id=login.org_id,
                thread_id=thread_id,
                step={
                    "id": f"{thread_id}-{n}",
                    "threadId": thread_id,
                    "type": kind,
                    "output": kind,
                },
            )
        if chart is not None:
            chat_log.save_element(
                session=session,
                org_id=login.org_id,
                thread_id=thread_id,
                element={
                    "id": f"{thread_id}-chart",
                    "threadId": thread_id,
                    "type": "plotly",
                    "mime": "application/json",
                    "forId": f"{thread_id}-1",
                },
                content=chart,
            )
    return thread_id


def list_threads(client: httpx.Client) -> list[dict[str, Any]]:
    """The logged-in person's thread list, as the sidebar asks for it."""
    reply = client.post("/project/threads", json={"pagination": {"first": 50}, "filter": {}})
    assert reply.status_code == 200, reply.text
    return list(reply.json()["data"])


def test_login_refuses_wrong_passwords_and_unknown_people(chat_url: str, chat_buyer: Login) -> None:
    with client_for(chat_url, None) as client:
        wrong = client.post("/login", data={"username": chat_buyer.email, "password": "nope"})
        assert wrong.status_code == 401
        unknown = client.post(
            "/login", data={"username": "nobody@example.com", "password": chat_buyer.password}
        )
        assert unknown.status_code == 401
        assert client.get("/user").status_code == 401
    with client_for(chat_url, chat_buyer) as client:
        me = client.get("/user").json()
        assert me["identifier"] == f"{chat_buyer.agent_user}@{chat_buyer.org_id}"
        assert me["display_name"] == "Test buyer"


def test_a_person_sees_only_their_own_threads(
    chat_url: str, chat_buyer: Login, chat_viewer: Login, outsider: Login, database: Database
) -> None:
    chart = b'{"data": [], "layout": {}}'
    mine = make_chat_thread(database, chat_buyer, chart=chart)
    with client_for(chat_url, chat_buyer) as client:
        listed = {t["id"] for t in list_threads(client)}
        assert mine in listed
        thread = client.get(f"/project/thread/{mine}")
        assert thread.status_code == 200, thread.text
        body = thread.json()
        assert [s["type"] for s in body["steps"]] == ["user_message", "assistant_message"]
        [element] = body["elements"]
        kept = client.get(element["url"].removeprefix("/chat"))
        assert kept.status_code == 200
        assert kept.content == chart

    for other in (chat_viewer, outsider):  # same organisation, and another organisation
        with client_for(chat_url, other) as client:
            assert mine not in {t["id"] for t in list_threads(client)}
            assert client.get(f"/project/thread/{mine}").status_code in (401, 404)
            url = f"/project/kept/{mine}/{mine}-chart"
            assert client.get(url).status_code == 404
            renamed = client.put("/project/thread", json={"threadId": mine, "name": "mine now"})
            assert renamed.status_code in (401, 404)
            deleted = client.request("DELETE", "/project/thread", json={"threadId": mine})
            assert deleted.status_code in (401, 404)
    with client_for(chat_url, None) as anonymous:
        assert anonymous.get(f"/project/kept/{mine}/{mine}-chart").status_code == 401
    with database.session_scope(chat_buyer.org_id) as session:
        still = threads.get_thread(session=session, org_id=chat_buyer.org_id, thread_id=mine)
        assert still.title == "What should rebar cost?"


def test_the_owner_can_rename_and_delete_a_thread(
    chat_url: str, chat_buyer: Login, database: Database
) -> None:
    mine = make_chat_thread(database, chat_buyer)
    with client_for(chat_url, chat_buyer) as client:
        renamed = client.put("/project/thread", json={"threadId": mine, "name": "Rebar, June"})
        assert renamed.status_code == 200, renamed.text
        assert client.get(f"/project/thread/{mine}").json()["name"] == "Rebar, June"
        deleted = client.request("DELETE", "/project/thread", json={"threadId": mine})
        assert deleted.status_code == 200, deleted.text
        assert mine not in {t["id"] for t in list_threads(client)}
    with database.session_scope(chat_buyer.org_id) as session:
        assert (
            chat_log.thread_steps(session=session, org_id=chat_buyer.org_id, thread_id=mine) == []
        )


def test_threads_without_anything_shown_stay_out_of_the_list(
    chat_url: str, chat_buyer: Login, database: Database
) -> None:
    empty = str(uuid.uuid4())
    with database.session_scope(chat_buyer.org_id) as session:
        threads.claim_thread(
            session=session,
            org_id=chat_buyer.org_id,
            thread_id=empty,
            user_id=chat_buyer.agent_user,
            title=None,
        )
        chat_log.update_thread(
            session=session, org_id=chat_buyer.org_id, thread_id=empty, channel="chat"
        )
    with client_for(chat_url, chat_buyer) as client:
        assert empty not in {t["id"] for t in list_threads(client)}


@pytest.mark.usefixtures("chat_url")  # the chat runtime is configured by the served app
def test_a_streamed_message_keeps_its_last_text_whatever_the_write_order(
    chat_buyer: Login, database: Database
) -> None:
    # Imported here, after the chat is mounted: Chainlit reads its folder when first imported.
    from ui.chat.data_layer import StoreDataLayer

    thread_id = make_chat_thread(database, chat_buyer)
    layer = StoreDataLayer()
    step = {"id": f"{thread_id}-reply", "threadId": thread_id, "type": "assistant_message"}

    async def stream() -> None:
        # Chainlit fires these as separate tasks; the layer's one writer keeps their order.
        tasks = [
            asyncio.create_task(layer._write(layer._save_step, {**step, "output": text}, org))
            for text, org in (("Fair", chat_buyer.org_id), ("Fair price: 2.54", None))
        ]
        await asyncio.gather(*tasks)

    asyncio.run(stream())
    with database.session_scope(chat_buyer.org_id) as session:
        steps = chat_log.thread_steps(
            session=session, org_id=chat_buyer.org_id, thread_id=thread_id
        )
    assert [s["output"] for s in steps if s["id"] == step["id"]] == ["Fair price: 2.54"]
    identity = ChatIdentity(org_id=chat_buyer.org_id, agent_user=chat_buyer.agent_user)
    assert identity.identifier == f"{chat_buyer.agent_user}@{chat_buyer.org_id}"
