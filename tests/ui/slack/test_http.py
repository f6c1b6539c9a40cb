"""The bot over HTTP: signed Slack requests in, Web API calls out to the loopback fake."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_sdk import WebClient
from sqlalchemy import func, select

from core.settings import load_settings
from store import threads
from store.db import Database
from store.models import AgentThread, AuditLog, CounterOffer
from store.users import Person
from tests.conftest import AS_OF
from tests.ui.slack.conftest import (
    APPROVER,
    BUYER,
    TEAM,
    TOKEN,
    VIEWER,
    FakeSlack,
    SlackPeer,
    next_ts,
    slack_settings,
)
from tools.base import ToolContext
from tools.compare_quotes import CompareQuotesInput, compare_quotes
from tools.predict_price import PredictPriceInput, predict_price
from ui.slack.blocks import APPROVE, REJECT, total, unit_price
from ui.slack.http import mount_slack

QUESTION = "What should 5000 lb of epoxy coated rebar 703-06029 cost?"
COMPARE = "Compare the bids on B -40276-A"
DRAFT = "Draft a counter offer to Milestone for epoxy coated rebar at $1.60/lb for 20,000 lb"


def mention(
    text: str, *, channel: str, user: str = BUYER, thread_ts: str | None = None
) -> dict[str, Any]:
    """An app_mention event (in a thread when ``thread_ts`` is given)."""
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT0001> {text}",
        "ts": next_ts(),
        "channel": channel,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def band(output: Any) -> list[str]:
    """P10, P50 and P90 of a predict_price output, as the bot shows them."""
    data = output.model_dump(mode="json")
    return [unit_price(data[p]) for p in ("p10", "p50", "p90")]


def direct_price(database: Database, org: uuid.UUID, **args: Any) -> Any:
    """predict_price called directly, as of the sample's date."""
    with database.session_scope(org) as session:
        ctx = ToolContext(session=session, org_id=org, as_of=AS_OF)
        return predict_price(ctx, PredictPriceInput(**args), explain=False)


# --------------------------------------------------------------------------- questions


def test_a_mention_streams_a_turn_and_ends_with_the_tool_numbers(
    peer: SlackPeer,
    fake_slack: FakeSlack,
    database: Database,
    sample_org: uuid.UUID,
    slack_people: dict[str, Person],
) -> None:
    event = mention(QUESTION, channel="CASK00001")
    started = time.monotonic()
    response = peer.event(event)
    assert response.status_code == 200
    assert time.monotonic() - started < 2  # acked before the turn runs

    ts = fake_slack.reply_in("CASK00001", event["ts"])
    first = fake_slack.find("chat.postMessage", lambda c: c.reply.get("ts") == ts)[0]
    assert "Working on it" in first.params["text"]
    assert first.authorization == "Bearer xoxb-loopback-test"
    final = fake_slack.final_of(ts)
    progress = fake_slack.find(
        "chat.update", lambda c: c.params.get("ts") == ts and not c.params.get("blocks")
    )
    assert any("`predict_price`" in c.params["text"] for c in progress)  # tool steps streamed

    direct = direct_price(database, sample_org, item="703-06029", quantity=Decimal(5000), unit="lb")
    shown = final.text()
    for price in band(direct):
        assert price in shown
    assert "5,000 lb" in shown
    assert f"{direct.history_lines:,} earlier quote lines" in shown
    assert "Tools: `predict_price`" in shown
    assert "offline planner" in shown
    assert not any(b["type"] == "actions" for b in final.params["blocks"])
    for block in final.params["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000

    # A reply in the same Slack thread continues the same agent conversation.
    follow = mention("and for 20000 lb?", channel="CASK00001", thread_ts=event["ts"])
    assert peer.event(follow).status_code == 200
    second = fake_slack.final_of(
        fake_slack.wait_for(
            "chat.postMessage",
            lambda c: c.params.get("thread_ts") == event["ts"] and c.reply["ts"] != ts,
        ).reply["ts"]
    )
    again = direct_price(database, sample_org, item="703-06029", quantity=Decimal(20000), unit="lb")
    for price in band(again):
        assert price in second.text()
    assert "20,000 lb" in second.text()
    thread_id = f"slack-{TEAM}-CASK00001-{event['ts']}"
    with database.session_scope(sample_org) as session:
        thread = threads.get_thread(session=session, org_id=sample_org, thread_id=thread_id)
        assert thread.user_id == slack_people[BUYER].agent_user
        assert (
            session.scalar(
                select(func.count())
                .select_from(AgentThread)
                .where(AgentThread.thread_id.like(f"slack-{TEAM}-CASK00001-%"))
            )
            == 1
        )

    # Someone else writing in that thread is told the conversation is not theirs.
    intruder = mention("and for 30000 lb?", channel="CASK00001", user=VIEWER, thread_ts=event["ts"])
    peer.event(intruder)
    refused = fake_slack.wait_for(
        "chat.update",
        lambda c: (
            c.params.get("channel") == "CASK00001"
            and "belongs to another user" in c.params.get("text", "")
        ),
    )
    assert "Start a new message" in refused.params["text"]


def test_a_direct_message_compares_bids_and_bot_messages_are_ignored(
    peer: SlackPeer,
    fake_slack: FakeSlack,
    database: Database,
    sample_org: uuid.UUID,
    slack_people: dict[str, Person],
) -> None:
    ignored = {
        "type": "message",
        "channel_type": "im",
        "subtype": "bot_message",
        "bot_id": "BOTHER001",
        "text": COMPARE,
        "ts": next_ts(),
        "channel": "DBUYER001",
    }
    assert peer.event(ignored).status_code == 200
    event = {
        "type": "message",
        "channel_type": "im",
        "user": BUYER,
        "text": COMPARE,
        "ts": next_ts(),
        "channel": "DBUYER001",
    }
    assert peer.event(event).status_code == 200
    final = fake_slack.final_of(fake_slack.reply_in("DBUYER001", event["ts"]))

    with database.session_scope(sample_org) as session:
        ctx = ToolContext(session=session, org_id=sample_org, as_of=AS_OF)
        direct = compare_quotes(ctx, CompareQuotesInput(rfq="B -40276-A"))
    shown = final.text()
    assert "```" in shown
    assert direct.bid_totals
    for bid in direct.bid_totals:
        assert total(bid.landed_total) in shown
    leader = direct.bid_totals[0]
    assert re.search(rf"1\s+{re.escape(leader.supplier[:20])}", shown)
    assert "Tools: `compare_quotes`" in shown
    assert not fake_slack.find(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == ignored["ts"]
    )


def test_an_unknown_workspace_is_refused_and_nothing_is_stored(
    peer: SlackPeer, fake_slack: FakeSlack, database: Database
) -> None:
    def counts() -> tuple[int, int]:
        with database.owner_session() as session:
            return (
                int(session.scalar(select(func.count()).select_from(AgentThread)) or 0),
                int(session.scalar(select(func.count()).select_from(AuditLog)) or 0),
            )

    before = counts()
    event = mention(QUESTION, channel="CSTRANGE1", user="USTRANGE1")
    assert peer.event(event, team="TNOTLINKED").status_code == 200
    ts = fake_slack.reply_in("CSTRANGE1", event["ts"])
    refusal = fake_slack.find("chat.postMessage", lambda c: c.reply.get("ts") == ts)[0]
    assert "not linked" in refusal.params["text"]
    assert "pricing-agent slack link-workspace TNOTLINKED --org" in refusal.params["text"]
    assert counts() == before


def test_an_agent_error_is_a_short_message_in_the_thread(
    peer: SlackPeer, fake_slack: FakeSlack, slack_people: dict[str, Person]
) -> None:
    event = mention("x" * 9000, channel="CERROR001")
    assert peer.event(event).status_code == 200
    ts = fake_slack.reply_in("CERROR001", event["ts"])
    said = fake_slack.edit_of(ts, lambda c: "Invalid input" in c.params.get("text", ""))
    assert "longer than 8000 characters" in said.params["text"]
    assert len(said.params["text"]) < 300


# --------------------------------------------------------------------------- approvals


def test_a_buyer_approves_a_counter_offer_a_viewer_cannot(
    peer: SlackPeer,
    fake_slack: FakeSlack,
    database: Database,
    sample_org: uuid.UUID,
    slack_people: dict[str, Person],
) -> None:
    event = mention(DRAFT, channel="CDEAL0001")
    assert peer.event(event).status_code == 200
    ts = fake_slack.reply_in("CDEAL0001", event["ts"])
    final = fake_slack.final_of(ts)
    actions = [b for b in final.params["blocks"] if b["type"] == "actions"]
    assert actions
    buttons = {e["action_id"]: e["value"] for e in actions[0]["elements"]}
    assert set(buttons) == {APPROVE, REJECT}
    thread_id = buttons[APPROVE]
    assert thread_id == f"slack-{TEAM}-CDEAL0001-{event['ts']}"
    offer_id = int(re.search(r"#(\d+) to", final.text()).group(1))
    assert "at USD 1.60/lb for 20,000 lb" in final.text()
    message = {"ts": ts, "text": final.params["text"], "blocks": final.params["blocks"]}

    def offer() -> CounterOffer:
        with database.session_scope(sample_org) as session:
            found = session.get(CounterOffer, (sample_org, offer_id))
            assert found is not None
            return found

    assert offer().status == "pending_approval"

    # A viewer's press is refused, privately, and changes nothing.
    response = peer.press(APPROVE, thread_id, user=VIEWER, channel="CDEAL0001", message=message)
    assert response.status_code == 200
    refusal = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params.get("user") == VIEWER)
    assert "Only a buyer or admin" in refusal.params["text"]
    assert refusal.params["channel"] == "CDEAL0001"
    assert offer().status == "pending_approval"

    # Another buyer than the one who asked approves it.
    response = peer.press(APPROVE, thread_id, user=APPROVER, channel="CDEAL0001", message=message)
    assert response.status_code == 200
    decided = fake_slack.edit_of(ts, lambda c: "approved by" in c.params.get("text", ""))
    assert f"<@{APPROVER}>" in decided.text()
    assert "Approved" in decided.text()
    assert not any(b["type"] == "actions" for b in decided.params["blocks"])
    approved = offer()
    assert approved.status == "approved"
    assert approved.decided_by == slack_people[APPROVER].agent_user
    with database.session_scope(sample_org) as session:
        logged = session.scalars(
            select(AuditLog).where(
                AuditLog.entity == "counter_offers",
                AuditLog.entity_ids.contains([offer_id]),
                AuditLog.action == "counter_offer.approved",
            )
        ).all()
    assert [a.actor for a in logged] == [slack_people[APPROVER].agent_user]

    # A second press finds nothing waiting: said privately, the decision stands.
    peer.press(REJECT, thread_id, user=APPROVER, channel="CDEAL0001", message=message)
    late = fake_slack.wait_for(
        "chat.postEphemeral",
        lambda c: c.params.get("user") == APPROVER and "Conflict" in c.params.get("text", ""),
    )
    assert "waiting for approval" in late.params["text"]
    assert offer().status == "approved"


# --------------------------------------------------------------------------- /price


def test_price_command_answers_with_the_band_of_the_tool(
    peer: SlackPeer,
    fake_slack: FakeSlack,
    database: Database,
    sample_org: uuid.UUID,
    slack_people: dict[str, Person],
) -> None:
    response = peer.command("703-06029 5,000", channel="CPRICE001")
    assert response.status_code == 200
    assert response.text == ""
    posted = fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("channel") == "CPRICE001"
    )
    direct = direct_price(database, sample_org, item="703-06029", quantity=Decimal(5000))
    shown = posted.text()
    for price in band(direct):
        assert price in shown
    assert f"{direct.history_lines:,} earlier quote lines" in shown
    assert f"Fair price of 5,000 {direct.p50.unit} of 703-06029" in shown
    assert posted.params["blocks"]


def test_price_command_bad_usage_and_unknown_item(
    peer: SlackPeer, fake_slack: FakeSlack, slack_people: dict[str, Person]
) -> None:
    for text in ("", "help", "rebar 0"):
        response = peer.command(text, channel="CPRICE002")
        assert response.status_code == 200
        body = response.json()
        assert body["response_type"] == "ephemeral"
        assert "Usage: `/price <item> [quantity]`" in body["text"]

    peer.command("qqqq zzzz xxxx wwww", channel="CPRICE002")
    said = fake_slack.wait_for(
        "chat.postEphemeral", lambda c: c.params.get("channel") == "CPRICE002"
    )
    assert said.params["user"] == BUYER
    assert said.params["text"].startswith(":warning:")
    assert not fake_slack.find("chat.postMessage", lambda c: c.params.get("channel") == "CPRICE002")


# --------------------------------------------------------------------------- protocol


def test_signatures_and_url_verification(peer: SlackPeer) -> None:
    body = json.dumps({"token": "legacy", "challenge": "ch4llenge-xyz", "type": "url_verification"})
    ok = peer.post(body, "application/json")
    assert ok.status_code == 200
    assert "ch4llenge-xyz" in ok.text

    forged = peer.post(body, "application/json", signature="v0=" + "0" * 64)
    assert forged.status_code == 401
    stale = int(time.time()) - 6 * 60
    old = peer.post(body, "application/json", timestamp=stale)  # correctly signed, too old
    assert old.status_code == 401
    unsigned = peer.client.post(
        "/slack/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401


def test_unconfigured_slack_answers_503_problem(database: Database, fake_slack: FakeSlack) -> None:
    app = FastAPI()
    mount_slack(
        app,
        database=database,
        settings=database.settings,
        slack_settings=slack_settings(bot_token=None, signing_secret=None),
    )
    # Mounting on many apps in one process is fine (no network call, no shared state).
    other = FastAPI()
    mount_slack(
        other,
        database=database,
        settings=database.settings,
        slack_settings=slack_settings(),
        client=WebClient(token="xoxb-another", base_url=fake_slack.url),
    )
    with TestClient(app) as client:
        response = client.post("/slack/events", content=b"{}")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 503
    assert problem["title"] == "Slack not configured"
    assert "SLACK_SIGNING_SECRET" in problem["detail"]
    assert problem["type"].endswith("slack-not-configured")


def test_a_store_outage_and_an_unexpected_failure_are_short_messages(
    tmp_path: Any,
    database: Database,
    fake_slack: FakeSlack,
    slack_people: dict[str, Person],
    caplog: Any,
) -> None:
    # A store nobody listens on: every session fails to connect.
    down = Database(
        load_settings(
            database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", data_dir=tmp_path
        )
    )

    def broken_clock() -> dt.date:
        raise RuntimeError("the clock broke")

    for name, db, as_of in (("outage", down, AS_OF), ("bug", database, broken_clock)):
        app = FastAPI()
        mount_slack(
            app,
            database=db,
            settings=db.settings,
            slack_settings=slack_settings(),
            client=WebClient(token=TOKEN, base_url=fake_slack.url),
            as_of=as_of,
        )
        with TestClient(app) as client:
            event = mention(QUESTION, channel=f"CFAIL{name.upper()}")
            assert SlackPeer(client).event(event).status_code == 200
            ts = fake_slack.reply_in(event["channel"], event["ts"])
            if name == "outage":
                said = fake_slack.find("chat.postMessage", lambda c, ts=ts: c.reply["ts"] == ts)
                assert said[0].params["text"].startswith(":warning: Store unavailable:")
            else:
                edit = fake_slack.edit_of(ts, lambda c: "went wrong" in c.params.get("text", ""))
                ref = re.search(r"\(ref (\w+)\)", edit.params["text"]).group(1)
                assert "the clock broke" not in edit.params["text"]
                assert any(ref in r.getMessage() and r.exc_info for r in caplog.records), (
                    "the failure is logged with its reference and traceback"
                )
    down.dispose()
