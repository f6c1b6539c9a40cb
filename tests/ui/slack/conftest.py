"""Slack's side on loopback: a fake Web API that records calls, and a signing peer.

The fake is a real HTTP server on 127.0.0.1 (the bot's WebClient points at it); the peer
signs requests as Slack does and sends them to the FastAPI app with ``mount_slack``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from store.db import Database
from store.users import Person, create_user, link_slack_user, link_slack_workspace, slack_person
from tests.conftest import AS_OF
from ui.slack.http import mount_slack
from ui.slack.settings import SlackSettings

TEAM = "TPRICING1"
BOT_USER = "UBOT0001"
BUYER = "UBUYER001"  # linked to a buyer user
APPROVER = "UBUYER002"  # linked to another buyer user
VIEWER = "UVIEWER01"  # not linked: the workspace's default role, viewer
SECRET = "test-signing-secret-0123456789"
TOKEN = "xoxb-loopback-test"
WAIT = 60.0


@dataclass
class Call:
    """One request the bot made to the fake Web API."""

    method: str
    params: dict[str, Any]
    authorization: str | None
    reply: dict[str, Any]

    def text(self) -> str:
        """The message text and every text inside its blocks, one per line."""
        parts = [str(self.params.get("text") or "")]

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "text" and isinstance(value, str):
                        parts.append(value)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.params.get("blocks") or [])
        return "\n".join(parts)


class FakeSlack:
    """A loopback stand-in for Slack's Web API (and response_url) that records each call."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.ws_url = "ws://127.0.0.1:9/"
        self._changed = threading.Condition()
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or b"{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                    if isinstance(params.get("blocks"), str):
                        params["blocks"] = json.loads(params["blocks"])
                method = self.path.strip("/").split("/")[-1]
                if self.path.startswith("/respond/"):
                    method = "respond"
                reply = fake.answer(method, params)
                fake.record(Call(method, params, self.headers.get("Authorization"), reply))
                body = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The Web API base URL (with its trailing slash)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """What Slack would answer."""
        stamp = f"{int(time.time())}.{next(self._ts):06d}"
        replies: dict[str, dict[str, Any]] = {
            "auth.test": {
                "url": "https://pricing-test.slack.com/",
                "team": "Pricing test",
                "user": "pricebot",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": "BBOT0001",
            },
            "chat.postMessage": {"channel": params.get("channel"), "ts": stamp},
            "chat.update": {"channel": params.get("channel"), "ts": params.get("ts")},
            "chat.postEphemeral": {"message_ts": stamp},
            "apps.connections.open": {"url": self.ws_url},
            "respond": {},
        }
        if method not in replies:
            return {"ok": False, "error": "unknown_method"}
        return {"ok": True, **replies[method]}

    def record(self, call: Call) -> None:
        """Keep a call and wake whoever waits for it."""
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def find(self, method: str, where: Callable[[Call], bool] = lambda c: True) -> list[Call]:
        """The calls of ``method`` that ``where`` accepts, oldest first."""
        with self._changed:
            return [c for c in self.calls if c.method == method and where(c)]

    def wait_for(
        self, method: str, where: Callable[[Call], bool] = lambda c: True, timeout: float = WAIT
    ) -> Call:
        """The first call of ``method`` that ``where`` accepts, waiting for it to come."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self.calls if c.method == method and where(c)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(c.method, c.params.get("channel")) for c in self.calls[-10:]]
                    raise AssertionError(f"no {method} call came in {timeout} s; last: {seen}")
                self._changed.wait(left)

    def reply_in(self, channel: str, thread_ts: str) -> str:
        """The ts of the bot's first post in a thread, waiting for it."""
        first = self.wait_for(
            "chat.postMessage",
            lambda c: c.params.get("channel") == channel and c.params.get("thread_ts") == thread_ts,
        )
        return str(first.reply["ts"])

    def edit_of(self, ts: str, where: Callable[[Call], bool] = lambda c: True) -> Call:
        """The first edit of message ``ts`` that ``where`` accepts, waiting for it."""
        return self.wait_for("chat.update", lambda c: c.params.get("ts") == ts and where(c))

    def final_of(self, ts: str) -> Call:
        """The final edit of message ``ts``: the one that carries blocks."""
        return self.edit_of(ts, lambda c: bool(c.params.get("blocks")))

    def close(self) -> None:
        """Stop the server."""
        self._server.shutdown()
        self._server.server_close()


_clock = itertools.count(1)


def next_ts() -> str:
    """A fresh Slack message timestamp."""
    return f"{int(time.time())}.{next(_clock):06d}"


class SlackPeer:
    """Sends requests to the app signed as Slack signs them."""

    def __init__(self, client: TestClient, secret: str = SECRET) -> None:
        self.client = client
        self.verifier = SignatureVerifier(secret)

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST ``body`` to /slack/events, signed (or with the given signature)."""
        ts = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature
            or self.verifier.generate_signature(timestamp=ts, body=body),
        }
        return self.client.post("/slack/events", content=body.encode(), headers=headers)

    def event(self, event: dict[str, Any], *, team: str = TEAM) -> httpx.Response:
        """An Events API callback carrying ``event``."""
        body = {
            "token": "legacy",
            "team_id": team,
            "api_app_id": "APRICING1",
            "event": {"team": team, "event_ts": event.get("ts"), **event},
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": BOT_USER, "is_bot": True}],
        }
        return self.post(json.dumps(body), "application/json")

    def command(
        self, text: str, *, user: str = BUYER, channel: str = "CPRICECMD", team: str = TEAM
    ) -> httpx.Response:
        """A ``/price`` slash command."""
        return self.post(
            urlencode(command_payload(text, user=user, channel=channel, team=team)),
            "application/x-www-form-urlencoded",
        )

    def press(
        self, action_id: str, value: str, *, user: str, channel: str, message: dict[str, Any]
    ) -> httpx.Response:
        """A button press (block_actions) on ``message``."""
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "pricing-test"},
            "user": {"id": user, "team_id": TEAM, "username": user.lower()},
            "api_app_id": "APRICING1",
            "token": "legacy",
            "trigger_id": "1.2.3",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "channel": {"id": channel, "name": "procurement"},
            "message": {"type": "message", "user": BOT_USER, **message},
            "response_url": "http://127.0.0.1:9/respond/unused",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "approval_actions",
                    "value": value,
                    "action_ts": next_ts(),
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, "application/x-www-form-urlencoded")


def command_payload(
    text: str, *, user: str = BUYER, channel: str = "CPRICECMD", team: str = TEAM
) -> dict[str, str]:
    """The fields of a ``/price`` slash command."""
    return {
        "token": "legacy",
        "team_id": team,
        "team_domain": "pricing-test",
        "channel_id": channel,
        "channel_name": "procurement",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/price",
        "text": text,
        "api_app_id": "APRICING1",
        "response_url": "http://127.0.0.1:9/respond/unused",
        "trigger_id": "1.2.3",
    }


@pytest.fixture(scope="session")
def slack_people(database: Database, sample_org: Any) -> dict[str, Person]:
    """The sample organisation linked to the test workspace: two buyers and a viewer."""
    with database.session_scope(sample_org) as session:
        link_slack_workspace(
            session=session, org_id=sample_org, team_id=TEAM, actor="test", name="Pricing test"
        )
        for email, slack_id in (
            ("slack.buyer@example.com", BUYER),
            ("slack.approver@example.com", APPROVER),
        ):
            create_user(session=session, org_id=sample_org, email=email, role="buyer", actor="test")
            link_slack_user(
                session=session,
                org_id=sample_org,
                email=email,
                team_id=TEAM,
                slack_user_id=slack_id,
                actor="test",
            )
    with database.unscoped_session() as session:
        return {
            slack_id: slack_person(session=session, team_id=TEAM, slack_user_id=slack_id)
            for slack_id in (BUYER, APPROVER, VIEWER)
        }


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[FakeSlack]:
    """The loopback Web API."""
    fake = FakeSlack()
    yield fake
    fake.close()


def slack_settings(**overrides: Any) -> SlackSettings:
    """Test settings (never the environment's): edits unthrottled so every step shows."""
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "signing_secret": SECRET,
        "app_token": None,
        "update_interval_seconds": 0.0,
    }
    values.update(overrides)
    return SlackSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def slack_client(
    database: Database, fake_slack: FakeSlack, slack_people: dict[str, Person]
) -> Iterator[TestClient]:
    """A FastAPI app with only the Slack endpoint, its bot posting to the fake."""
    app = FastAPI()
    mount_slack(
        app,
        database=database,
        settings=database.settings,
        slack_settings=slack_settings(),
        client=WebClient(token=TOKEN, base_url=fake_slack.url),
        as_of=AS_OF,
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture
def peer(slack_client: TestClient) -> SlackPeer:
    """Slack, signing its requests to the app."""
    return SlackPeer(slack_client)
