"""Bolt listeners: questions in threads, approval buttons, and the ``/price`` command.

Thin edges (DESIGN.md): each listener parses Slack's payload, calls ``agent.stream_turn`` /
``run_turn`` or one tool, and formats the outcome. Every failure ends as a short message
the person sees (in the thread, or ephemeral for commands and buttons), never silence.
Listeners run after Bolt has acknowledged the request, on Bolt's listener threads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from agent import Decision, TurnResult, run_turn, stream_turn
from core.errors import NotFoundError, PermissionDeniedError, PricingAgentError
from core.settings import Settings
from store import threads
from store.db import Database
from store.users import Person, role_at_least, slack_person
from tools.base import ToolContext
from tools.predict_price import PredictPriceInput, predict_price
from ui.slack import blocks
from ui.slack.settings import SlackSettings

log = logging.getLogger(__name__)

PRICE_USAGE = (
    "Usage: `/price <item> [quantity]`: the fair-price band (P10 / P50 / P90) of an item, "
    "by code or description, for a quantity in the item's unit (default: the usual one).\n"
    "Examples: `/price 703-06029 5000`, `/price epoxy coated rebar`"
)
ASK_HELP = (
    "Ask me about prices, e.g. _What should 5000 lb of epoxy coated rebar cost?_ or "
    "_Compare the bids on B -40276-A_. Reply in this thread to follow up."
)
_NUMBER = re.compile(r"^\d[\d,]*(?:\.\d+)?$")


def not_linked_text(team_id: str) -> str:
    """The refusal for a workspace no organisation has linked, and how an admin links it."""
    team = blocks.escape(team_id or "?")
    return (
        f":no_entry: This Slack workspace (`{team}`) is not linked to an organisation of the "
        "pricing assistant, so I cannot answer here. An admin links it with "
        f"`pricing-agent slack link-workspace {team} --org <organisation>`."
    )


def thread_key(team_id: str, channel_id: str, thread_ts: str) -> str:
    """The agent thread of a Slack thread: the same Slack thread continues one conversation.

    ``slack-<team>-<channel>-<thread ts>``; Slack ids and timestamps are letters, digits and
    a dot, so this fits the thread-id alphabet. Should it ever exceed 64 characters, a
    digest of the same parts stands in (still one agent thread per Slack thread).
    """
    key = f"slack-{team_id}-{channel_id}-{thread_ts}"
    if threads.THREAD_ID.fullmatch(key):
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"slack-{digest}"


def parse_price_command(text: str) -> tuple[str, Decimal | None] | None:
    """``/price``'s text as (item, quantity); None when it is not a usable request."""
    words = text.split()
    if not words or words[0].lower() in {"help", "-h", "--help", "?"}:
        return None
    amount: Decimal | None = None
    if len(words) >= 2 and _NUMBER.fullmatch(words[-1]):
        try:
            amount = Decimal(words[-1].replace(",", ""))
        except InvalidOperation:
            return None
        if amount <= 0:
            return None
        words = words[:-1]
    return " ".join(words), amount


def _retry(request: BoltRequest) -> bool:
    """Whether Slack is re-delivering an event it already sent (the first one was acked)."""
    values = request.headers.get("x-slack-retry-num") or []
    try:
        return any(int(v) > 0 for v in values)
    except ValueError:
        return False


@dataclass
class Reply:
    """The bot's reply in one Slack thread: posted once, then edited (throttled) as it grows."""

    client: WebClient
    channel: str
    thread_ts: str
    interval: float
    ts: str | None = None
    _last: float = field(default=0.0)
    _shown: str = ""

    def post(self, text: str, reply_blocks: list[blocks.Block] | None = None) -> None:
        """Post a new message in the thread and remember it as the one to edit."""
        response = self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts, text=text, blocks=reply_blocks
        )
        self.ts = str(response["ts"])
        self._last = time.monotonic()
        self._shown = text

    def progress(self, text: str) -> None:
        """Show progress, at most once per interval; a failed edit only costs the edit."""
        if self.ts is None:
            self.post(text)
            return
        if text == self._shown or time.monotonic() - self._last < self.interval:
            return
        try:
            self.client.chat_update(channel=self.channel, ts=self.ts, text=text)
        except SlackApiError as exc:  # rate-limited or gone: the final edit will still come
            log.info("Slack progress edit failed: %s", exc.response.get("error"))
        self._last = time.monotonic()
        self._shown = text

    def finish(self, text: str, reply_blocks: list[blocks.Block] | None = None) -> None:
        """Replace the reply with its final form; post it anew if the edit fails."""
        if self.ts is None:
            self.post(text, reply_blocks)
            return
        try:
            # Without blocks only the text changes (a progress message never has blocks).
            self.client.chat_update(
                channel=self.channel, ts=self.ts, text=text, blocks=reply_blocks or None
            )
        except SlackApiError as exc:
            log.warning("Slack final edit failed (%s); posting instead", exc.response.get("error"))
            self.post(text, reply_blocks)


class SlackBot:
    """The bot's behaviour, over one store; ``register`` attaches it to a Bolt app."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        slack_settings: SlackSettings,
        *,
        as_of: dt.date | Callable[[], dt.date] | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.slack_settings = slack_settings
        self._as_of = as_of

    def register(self, app: App) -> None:
        """Attach the listeners to ``app``."""
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.action(blocks.APPROVE)(self.on_decision)
        app.action(blocks.REJECT)(self.on_decision)
        app.command("/price")(self.on_price)

    # ----------------------------------------------------------------- helpers

    def as_of(self) -> dt.date:
        """The date questions are asked as of: the configured one, else today (UTC)."""
        if callable(self._as_of):
            return self._as_of()
        return self._as_of or dt.datetime.now(dt.UTC).date()

    def person(self, team_id: str, user_id: str) -> Person:
        """Who a Slack member speaks for; NotFoundError for a workspace not linked."""
        with self.database.unscoped_session() as session:
            return slack_person(session=session, team_id=team_id, slack_user_id=user_id)

    @staticmethod
    def _failure(what: str) -> str:
        ref = uuid.uuid4().hex[:10]
        log.exception("Slack %s failed (ref %s)", what, ref)
        return blocks.failure_text(ref)

    # ----------------------------------------------------------------- questions

    def on_mention(
        self, event: dict[str, Any], context: BoltContext, client: WebClient, request: BoltRequest
    ) -> None:
        """A mention in a channel: answer in the message's thread."""
        if str(event.get("channel", "")).startswith("D") or _retry(request):
            return  # direct messages come as ``message`` events too; retries were handled
        self.converse(event, context, client)

    def on_message(
        self, event: dict[str, Any], context: BoltContext, client: WebClient, request: BoltRequest
    ) -> None:
        """A direct message to the bot (edits, joins and other bots' messages are ignored)."""
        if (
            event.get("channel_type") != "im"
            or event.get("subtype")
            or event.get("bot_id")
            or _retry(request)
        ):
            return
        self.converse(event, context, client)

    def converse(self, event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        """Run one streamed agent turn for a Slack message and show it in the thread."""
        team = context.team_id or str(event.get("team", ""))
        # A member of another workspace (a shared channel) is judged by their own workspace.
        user_team = str(event.get("user_team") or team)
        channel = str(event.get("channel", ""))
        root = str(event.get("thread_ts") or event.get("ts", ""))
        reply = Reply(client, channel, root, self.slack_settings.update_interval_seconds)
        try:
            try:
                person = self.person(user_team, str(event.get("user", "")))
            except NotFoundError:
                reply.post(not_linked_text(user_team))
                return
            text = blocks.plain_text(str(event.get("text", "")), bot_user_id=context.bot_user_id)
            if not text:
                reply.post(ASK_HELP)
                return
            reply.post(blocks.progress_text([], ""))
            result = self._stream(text, person, thread_key(team, channel, root), reply)
            reply.finish(blocks.fallback_text(result), blocks.answer_blocks(result))
        except PermissionDeniedError as exc:
            hint = " Start a new message (outside this thread) to ask your own question."
            self._say_failure(reply, blocks.error_text(exc) + hint)
        except PricingAgentError as exc:
            self._say_failure(reply, blocks.error_text(exc))
        except Exception:
            self._say_failure(reply, self._failure("turn"))

    def _stream(self, text: str, person: Person, thread_id: str, reply: Reply) -> TurnResult:
        steps: list[str] = []
        tokens = ""
        result: TurnResult | None = None
        # Read to the end (``done`` is last), so the turn's own clean-up runs here.
        for event in stream_turn(
            text,
            database=self.database,
            org_id=person.org_id,
            user_id=person.agent_user,
            thread_id=thread_id,
            as_of=self.as_of(),
            settings=self.settings,
        ):
            if event.type == "done":
                result = event.result
                continue
            if event.type == "token" and event.text:
                tokens += event.text
            elif event.type == "tool_call":
                steps.append(f":gear: running `{event.name}`…")
            elif event.type == "tool_result":
                mark = ":white_check_mark:" if event.ok else ":x:"
                steps.append(f"{mark} `{event.name}` {'done' if event.ok else 'failed'}")
            else:
                continue
            reply.progress(blocks.progress_text(steps, tokens))
        if result is None:
            raise RuntimeError("the turn ended without a result")
        return result

    @staticmethod
    def _say_failure(reply: Reply, text: str) -> None:
        try:
            reply.finish(text)
        except Exception:  # Slack itself is failing: nothing left to tell anyone through
            log.exception("could not tell Slack about a failure")

    # ----------------------------------------------------------------- approvals

    def on_decision(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        """Approve / Reject pressed: a buyer (or admin) of the thread's organisation decides.

        The agent's thread belongs to the person who asked (``claim_thread`` refuses anyone
        else), but a counter-offer is often approved by someone other than its drafter.
        So, once the presser is known to be a buyer of the same organisation (the thread
        is looked up in their organisation: row-level security hides any other), the graph
        is resumed as the thread's owner, with ``by=`` the approver: the counter-offer
        and the audit log record who decided, and the owner keeps the conversation.
        """
        ack()
        user = body.get("user") or {}
        user_id = str(user.get("id", ""))
        team = str(user.get("team_id") or (body.get("team") or {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        message = body.get("message") or {}
        approved = action.get("action_id") == blocks.APPROVE
        thread_id = str(action.get("value", ""))

        def tell(text: str) -> None:
            try:
                client.chat_postEphemeral(channel=channel, user=user_id, text=text)
            except SlackApiError:
                log.exception("could not send an ephemeral message")

        try:
            try:
                person = self.person(team, user_id)
            except NotFoundError:
                tell(not_linked_text(team))
                return
            if not role_at_least(person.role, "buyer"):
                tell(
                    ":no_entry: Only a buyer or admin may approve or reject; your role in "
                    f"{blocks.escape(person.org_name)} is {person.role}. Nothing was changed."
                )
                return
            if not threads.THREAD_ID.fullmatch(thread_id):
                tell(":warning: This button does not name a conversation. Nothing was changed.")
                return
            with self.database.session_scope(person.org_id) as session:
                owner = threads.get_thread(
                    session=session, org_id=person.org_id, thread_id=thread_id
                ).user_id
            result = run_turn(
                None,
                database=self.database,
                org_id=person.org_id,
                user_id=owner,
                thread_id=thread_id,
                decision=Decision(approved=approved, by=person.agent_user),
                as_of=self.as_of(),
                settings=self.settings,
            )
            verdict = "approved" if approved else "rejected"
            client.chat_update(
                channel=channel,
                ts=str(message.get("ts", "")),
                text=f"Counter-offer {verdict} by <@{user_id}>",
                blocks=blocks.decided_blocks(
                    list(message.get("blocks") or []),
                    approved=approved,
                    by_user=user_id,
                    answer=result.answer,
                ),
            )
        except PricingAgentError as exc:
            tell(blocks.error_text(exc))
        except Exception:
            tell(self._failure("decision"))

    # ----------------------------------------------------------------- /price

    def on_price(self, ack: Ack, command: dict[str, Any], client: WebClient, respond: Any) -> None:
        """``/price <item> [qty]``: the fair-price band from predict_price, without the agent."""
        parsed = parse_price_command(str(command.get("text", "")))
        if parsed is None:
            ack(text=PRICE_USAGE, response_type="ephemeral")
            return
        ack()
        item, amount = parsed
        channel = str(command.get("channel_id", ""))
        user_id = str(command.get("user_id", ""))
        team = str(command.get("team_id", ""))

        def tell(text: str) -> None:
            try:
                client.chat_postEphemeral(channel=channel, user=user_id, text=text)
            except SlackApiError:  # e.g. a conversation the bot is not in
                try:
                    respond(text=text, response_type="ephemeral")
                except Exception:
                    log.exception("could not answer /price at all")

        try:
            try:
                person = self.person(team, user_id)
            except NotFoundError:
                tell(not_linked_text(team))
                return
            as_of = self.as_of()
            with self.database.session_scope(person.org_id) as session:
                ctx = ToolContext(
                    session=session, org_id=person.org_id, as_of=as_of, actor=person.agent_user
                )
                output = predict_price(
                    ctx, PredictPriceInput(item=item, quantity=amount), explain=False
                )
            data = output.model_dump(mode="json")
            title = (
                f"Fair price of {blocks.quantity(output.quantity)} {output.p50.unit} of "
                f"{output.item_code}"
            )
            reply_blocks = [
                *blocks.price_blocks(data, title=title),
                blocks.context(
                    f"`/price {blocks.escape(item)}` by <@{user_id}> · as of {as_of.isoformat()}"
                    " · predict_price (no language model involved)"
                ),
            ]
            text = f"{title}: {blocks.band_text(data)}"
            try:
                client.chat_postMessage(channel=channel, text=text, blocks=reply_blocks)
            except SlackApiError as exc:
                # The bot cannot post where it is not a member; the command's own reply
                # channel (response_url) reaches any conversation.
                log.info("chat.postMessage refused (%s); replying via response_url", exc)
                respond(text=text, blocks=reply_blocks, response_type="in_channel")
        except PricingAgentError as exc:
            tell(blocks.error_text(exc))
        except Exception:
            tell(self._failure("/price"))
