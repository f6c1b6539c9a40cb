"""Socket Mode: envelopes pushed over a loopback websocket, acked, and answered via the Web API."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from typing import Any

from slack_sdk import WebClient
from websockets.sync.server import ServerConnection, serve

from store.db import Database
from store.users import Person
from tests.conftest import AS_OF
from tests.ui.slack.conftest import (
    BOT_USER,
    BUYER,
    TEAM,
    TOKEN,
    FakeSlack,
    command_payload,
    next_ts,
    slack_settings,
)
from ui.slack.socket import socket_mode_handler

APP_TOKEN = "xapp-1-loopback-test"
QUESTION = "What should 5000 lb of epoxy coated rebar 703-06029 cost?"


def test_socket_mode_acks_envelopes_and_answers(
    database: Database,
    sample_org: uuid.UUID,
    fake_slack: FakeSlack,
    slack_people: dict[str, Person],
) -> None:
    question_ts = next_ts()
    envelopes: list[dict[str, Any]] = [
        {
            "envelope_id": "env-event-1",
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": {
                "token": "legacy",
                "team_id": TEAM,
                "api_app_id": "APRICING1",
                "type": "event_callback",
                "event_id": "EvSOCKET1",
                "event_time": int(time.time()),
                "event": {
                    "type": "app_mention",
                    "user": BUYER,
                    "team": TEAM,
                    "text": f"<@{BOT_USER}> {QUESTION}",
                    "ts": question_ts,
                    "event_ts": question_ts,
                    "channel": "CSOCKET01",
                },
                "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
            },
        },
        {
            "envelope_id": "env-command-1",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": command_payload("703-06029 5000", channel="CSOCKET02"),
        },
        {
            "envelope_id": "env-command-2",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": command_payload("", channel="CSOCKET03"),
        },
    ]
    acks: queue.Queue[dict[str, Any]] = queue.Queue()

    def slack_side(connection: ServerConnection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1}))
        for envelope in envelopes:
            connection.send(json.dumps(envelope))
        for message in connection:
            acks.put(json.loads(message))

    with serve(slack_side, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        fake_slack.ws_url = f"ws://127.0.0.1:{port}/link/?ticket=loopback"
        handler = socket_mode_handler(
            database,
            database.settings,
            slack_settings(app_token=APP_TOKEN, signing_secret=None),
            client=WebClient(token=TOKEN, base_url=fake_slack.url),
            as_of=AS_OF,
        )
        handler.connect()  # type: ignore[no-untyped-call]
        try:
            got: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + 30
            while len(got) < len(envelopes):
                ack = acks.get(timeout=max(0.1, deadline - time.monotonic()))
                got[ack["envelope_id"]] = ack
            opened = fake_slack.wait_for("apps.connections.open")
            assert opened.authorization == f"Bearer {APP_TOKEN}"

            # The event: acked, then answered in its thread.
            assert got["env-event-1"] == {"envelope_id": "env-event-1"}
            first = fake_slack.wait_for(
                "chat.postMessage", lambda c: c.params.get("thread_ts") == question_ts
            )
            assert first.params["channel"] == "CSOCKET01"
            final = fake_slack.final_of(str(first.reply["ts"]))
            assert "predict_price" in final.text()

            # The command: an empty ack, then the band posted in its channel.
            assert not got["env-command-1"].get("payload")
            band = fake_slack.wait_for(
                "chat.postMessage", lambda c: c.params.get("channel") == "CSOCKET02"
            )
            assert "P50 (fair price)" in band.text()

            # Bad usage: the help is the ack's own (ephemeral) payload.
            usage = got["env-command-2"]["payload"]
            assert usage["response_type"] == "ephemeral"
            assert "/price <item> [quantity]" in usage["text"]
        finally:
            handler.close()  # type: ignore[no-untyped-call]
            server.shutdown()
