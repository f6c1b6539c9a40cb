"""The chat's Chainlit callbacks: log in, ask, watch the tools work, see the pictures, decide.

Chainlit loads this file by path (``ui/chat/mount.py``). Each callback is a thin edge: it
finds the person, calls ``agent.stream_turn`` or one tool, and shows the result.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import tempfile
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import chainlit as cl
from chainlit.types import ThreadDict

from agent.approvals import Decision
from agent.runner import TurnEvent, TurnResult, stream_turn
from core.errors import InvalidInputError, PermissionDeniedError, PricingAgentError
from store import chat_log, listing
from store.importing.files import EXCEL_SUFFIXES
from store.importing.service import import_file
from store.models import User as StoreUser
from store.users import Person, authenticate_user, role_at_least, trusted_login
from tools.base import ToolContext
from tools.predict_price import (
    PredictPriceInput,
    PredictPricesInput,
    predict_price,
    predict_prices,
)
from tools.price_history import PriceHistoryInput, price_history
from ui.chat import charts, render
from ui.chat.data_layer import StoreDataLayer
from ui.chat.identity import Asker, identifier_of, parse_identifier, person_metadata
from ui.chat.runtime import current

log = logging.getLogger(__name__)
T = TypeVar("T")
HISTORY_DAYS = 730  # the chart shows two years of prices
HISTORY_POINTS = 2000
FLAG_DAYS = 365  # quotes of the last year are checked against their own band
FLAG_POINTS = 1000
UPLOAD_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".txt", *sorted(EXCEL_SUFFIXES))
STARTERS = (
    ("Fair price", "Fair price for 40,000 lb epoxy coated rebar?"),
    ("Price history", "What have we been paying for epoxy coated rebar over the last 12 months?"),
    ("Level bids", "Can you level the bids on B -40276-A? Who's lowest all-in and by how much?"),
    ("Should-cost", "Should-cost breakdown for epoxy coated rebar per lb?"),
    ("Steel outlook", "Where's the hot-rolled steel index headed over the next 6 months?"),
    (
        "Counter-offer",
        "Draft a counter offer to Milestone for epoxy coated rebar at $1.60/lb for 20,000 lb",
    ),
)


# --------------------------------------------------------------------------- login


@cl.data_layer
def _data_layer() -> StoreDataLayer:
    return StoreDataLayer()


def _chat_user(person: Person) -> cl.User:
    return cl.User(
        identifier=identifier_of(person),
        display_name=person.display_name,
        metadata=person_metadata(person),
    )


@cl.password_auth_callback
async def _login(username: str, password: str) -> cl.User | None:
    def check() -> cl.User | None:
        with current().database.unscoped_session() as session:
            try:
                person = authenticate_user(session=session, email=username, password=password)
            except PricingAgentError as exc:
                log.info("chat login refused for %r: %s", username, exc)
                return None
        return _chat_user(person)

    return await asyncio.to_thread(check)


async def _header_login(headers: Any) -> cl.User | None:
    # Registered only with PRICING_AGENT_CHAT_TRUSTED_EMAIL_HEADER set: a proxy has signed
    # the person in and put their e-mail in that header.
    header = current().chat.trusted_email_header
    email = headers.get(header) if header else None
    if not email:
        return None

    def find() -> cl.User | None:
        with current().database.unscoped_session() as session:
            try:
                person = trusted_login(session=session, email=email)
            except PricingAgentError as exc:
                log.info("header login refused for %r: %s", email, exc)
                return None
        return _chat_user(person)

    return await asyncio.to_thread(find)


if current().chat.trusted_email_header:
    cl.header_auth_callback(_header_login)


def _asker() -> Asker:
    user = cl.user_session.get("user")
    identity = parse_identifier(getattr(user, "identifier", None))
    if identity is None:
        raise PermissionDeniedError("log in to use the chat")
    user_id = int(identity.agent_user.removeprefix("user:"))
    with current().database.session_scope(identity.org_id) as session:
        row = session.get(StoreUser, (identity.org_id, user_id))
        if row is None or row.disabled_at is not None:
            raise PermissionDeniedError("this login is no longer active")
        return Asker(identity=identity, role=row.role)


def _as_of() -> dt.date:
    return current().chat.as_of or dt.datetime.now(dt.UTC).date()


async def _off_loop(fn: Callable[[], T]) -> T:
    return await asyncio.to_thread(fn)


# --------------------------------------------------------------------------- start


@cl.set_starters
async def _starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    return [cl.Starter(label=label, message=message) for label, message in STARTERS]


@cl.on_chat_resume
async def _resume(thread: ThreadDict) -> None:
    """Nothing to restore: the agent's memory is keyed by the thread id, and the thread's
    steps and kept charts come from the data layer."""
    log.info("chat thread %s resumed", thread["id"])


# --------------------------------------------------------------------------- a turn


async def _events(
    message: str | None, asker: Asker, thread_id: str, decision: Decision | None
) -> Any:
    """Run ``stream_turn`` in a worker thread and yield its events here as they come."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[TurnEvent | BaseException | None] = asyncio.Queue()
    runtime = current()

    def work() -> None:
        try:
            for event in stream_turn(
                message,
                database=runtime.database,
                org_id=asker.identity.org_id,
                user_id=asker.identity.agent_user,
                thread_id=thread_id,
                as_of=_as_of(),
                settings=runtime.settings,
                decision=decision,
            ):
                loop.call_soon_threadsafe(queue.put_nowait, event)
        except BaseException as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    worker = loop.run_in_executor(None, work)
    while (item := await queue.get()) is not None:
        yield item
    await worker


async def _run_turn(message: str | None, *, decision: Decision | None = None) -> None:
    try:
        asker = await _off_loop(_asker)
    except PricingAgentError as exc:
        await cl.Message(content=f"⚠️ {exc}").send()
        return
    thread_id = cl.context.session.thread_id
    # Made at the first token (or at the end), so it follows the tool steps in the thread.
    reply: cl.Message | None = None
    open_steps: dict[str, list[cl.Step]] = {}
    result: TurnResult | None = None
    async for event in _events(message, asker, thread_id, decision):
        if isinstance(event, BaseException):
            await _show_error(event)
            return
        if event.type == "token" and event.text:
            reply = reply or cl.Message(content="")
            await reply.stream_token(event.text)
        elif event.type == "tool_call" and event.name:
            step = cl.Step(name=event.name, type="tool", show_input="json")
            step.input = json.dumps(event.args or {}, indent=2, default=str)
            await step.send()
            open_steps.setdefault(event.name, []).append(step)
        elif event.type == "tool_result" and event.name:
            waiting = open_steps.get(event.name) or []
            step = waiting.pop(0) if waiting else cl.Step(name=event.name, type="tool")
            if event.ok:
                step.output = render.summarize(event.name, event.output)
            else:
                step.output = event.text or "failed"
                step.is_error = True
            await step.update()
        elif event.type == "done":
            result = event.result
    if result is None:
        return
    reply = reply or cl.Message(content="")
    reply.content = result.answer
    pictures: list[Any] = await _off_loop(lambda: _pictures(result, asker))
    reply.elements = pictures
    if result.pending_approval is not None:
        reply.actions = [
            cl.Action(
                name="approval",
                label="Approve",
                icon="check",
                payload={"decision": "approve", "thread_id": thread_id},
            ),
            cl.Action(
                name="approval",
                label="Reject",
                icon="x",
                payload={"decision": "reject", "thread_id": thread_id},
            ),
        ]
    await reply.send()
    table = next(
        (render.bid_table(r["output"]) for r in result.results if r["tool"] == "compare_quotes"),
        None,
    )
    if table:
        await cl.Message(content=table).send()


async def _show_error(exc: BaseException) -> None:
    if isinstance(exc, PricingAgentError):
        await cl.Message(content=f"⚠️ {exc}").send()
        return
    ref = uuid.uuid4().hex[:8]
    log.error("chat turn failed (ref %s)", ref, exc_info=exc)
    await cl.Message(content=f"⚠️ Something went wrong on our side (ref {ref}).").send()


def _pictures(result: TurnResult, asker: Asker) -> list[cl.Plotly]:
    """Charts for what the turn found: price history with the band, forecast, should-cost."""
    outputs = {r["tool"]: r["output"] for r in result.results}
    pictures: list[cl.Plotly] = []
    history = outputs.get("price_history")
    band = outputs.get("predict_price")
    item = (history or band or {}).get("item_code")
    if item:
        try:
            history, band, point_bands = _price_picture_data(asker, item, history, band)
        except PricingAgentError as exc:
            log.info("no price chart for %s: %s", item, exc)
        else:
            if history and history["points"]:
                figure, _ = charts.price_history_chart(history, band, point_bands)
                pictures.append(cl.Plotly(name="price history", figure=figure, size="large"))
    if forecast := outputs.get("forecast_price"):
        figure = charts.forecast_chart(forecast)
        pictures.append(cl.Plotly(name="forecast", figure=figure, size="large"))
    if cost := outputs.get("should_cost"):
        figure = charts.should_cost_chart(cost)
        pictures.append(cl.Plotly(name="should-cost", figure=figure, size="large"))
    return pictures


def _price_picture_data(
    asker: Asker, item: str, history: dict[str, Any] | None, band: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[int, tuple[Decimal, Decimal, Decimal]]]:
    """The item's history, today's band, and each recent quote's own band (to flag it)."""
    org_id = asker.identity.org_id
    with current().database.session_scope(org_id) as session:
        ctx = ToolContext(session=session, org_id=org_id, as_of=_as_of(), actor="chat")
        if history is None:
            unit = band["p50"]["unit"] if band else None
            currency = band["p50"]["currency"] if band else "USD"
            history = price_history(
                ctx,
                PriceHistoryInput(
                    item=item,
                    unit=unit,
                    currency=currency,
                    since=_as_of() - dt.timedelta(days=HISTORY_DAYS),
                    limit=HISTORY_POINTS,
                ),
            ).model_dump(mode="json")
        if band is None:
            try:
                band = predict_price(
                    ctx,
                    PredictPriceInput(
                        item=item, unit=history["unit"], currency=history["currency"]
                    ),
                    explain=False,
                ).model_dump(mode="json")
            except PricingAgentError as exc:
                log.info("no band for %s: %s", item, exc)
        return history, band, _point_bands(ctx, item, history)


def _point_bands(
    ctx: ToolContext, item: str, history: dict[str, Any]
) -> dict[int, tuple[Decimal, Decimal, Decimal]]:
    """The model's P10-P90 for each recent quote's own date, quantity and supplier."""
    recent = [
        p
        for p in history["points"]
        if p["source"] == "quote"
        and dt.date.fromisoformat(p["date"]) >= _as_of() - dt.timedelta(days=FLAG_DAYS)
    ][-FLAG_POINTS:]
    if not recent:
        return {}
    lines = [
        PredictPriceInput(
            item=item,
            quantity=Decimal(p["quantity"]),
            unit=history["unit"],
            supplier=p["supplier"],
            date=dt.date.fromisoformat(p["date"]),
            currency=history["currency"],
        )
        for p in recent
        if Decimal(p["quantity"]) > 0
    ]
    try:
        batch = predict_prices(ctx, PredictPricesInput(lines=lines, explain=False))
    except PricingAgentError as exc:
        log.info("no per-quote bands for %s: %s", item, exc)
        return {}
    bands: dict[int, tuple[Decimal, Decimal, Decimal]] = {}
    for point, line in zip(recent, batch.results, strict=True):
        if line.prediction is not None:
            prediction = line.prediction
            bands[point["id"]] = (
                prediction.p10.amount,
                prediction.p50.amount,
                prediction.p90.amount,
            )
    return bands


@cl.on_message
async def _on_message(message: cl.Message) -> None:
    files = [e for e in message.elements or [] if getattr(e, "path", None)]
    if files:
        await _import_files(files)
    if message.content.strip():
        await _run_turn(message.content)


@cl.action_callback("approval")
async def _on_approval(action: cl.Action) -> None:
    approve = action.payload.get("decision") == "approve"
    try:
        asker = await _off_loop(_asker)
        if not role_at_least(asker.role, "buyer"):
            raise PermissionDeniedError(
                f"a {asker.role} may not approve or reject actions; it needs the buyer role"
            )
    except PricingAgentError as exc:
        await cl.Message(content=f"⚠️ {exc}").send()
        return
    await action.remove()
    who = f"chat:{asker.identity.agent_user}"
    await _run_turn(None, decision=Decision(approved=approve, by=who))


@cl.action_callback("compare_rfq")
async def _on_compare(action: cl.Action) -> None:
    rfq = str(action.payload.get("rfq") or "")
    await action.remove()
    if rfq:
        await cl.Message(content=f"Level the bids on {rfq}", type="user_message").send()
        await _run_turn(f"Can you level the bids on {rfq}? Who's lowest all-in?")


# --------------------------------------------------------------------------- uploads


async def _import_files(files: list[Any]) -> None:
    try:
        asker = await _off_loop(_asker)
        if not role_at_least(asker.role, "buyer"):
            raise PermissionDeniedError(f"a {asker.role} may not import files; ask a buyer")
    except PricingAgentError as exc:
        await cl.Message(content=f"⚠️ {exc}").send()
        return
    thread_id = cl.context.session.thread_id
    for file in files:
        try:
            report, rfqs = await _off_loop(functools.partial(_import_one, asker, thread_id, file))
        except PricingAgentError as exc:
            await cl.Message(content=f"⚠️ {file.name}: {exc}").send()
            continue
        actions = [
            cl.Action(name="compare_rfq", label=f"Compare {rfq}", payload={"rfq": rfq})
            for rfq in rfqs[:3]
        ]
        await cl.Message(content=render.import_report(report, rfqs), actions=actions).send()


def _suffix(name: str) -> str:
    lower = name.lower()
    for suffix in sorted(UPLOAD_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return suffix
    raise InvalidInputError("drop a CSV, CSV.gz or Excel file of quotes")


def _import_one(asker: Asker, thread_id: str, file: Any) -> tuple[dict[str, Any], list[str]]:
    runtime = current()
    org_id = asker.identity.org_id
    name = Path(file.name or "upload.csv").name
    suffix = _suffix(name)
    with tempfile.TemporaryDirectory(prefix="pricing-chat-import-") as folder:
        # The importer reads the format from the suffix; the chat's stored name has none.
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(Path(file.path).read_bytes())
        with runtime.database.session_scope(org_id) as session:
            result = import_file(
                session=session,
                org_id=org_id,
                kind="quotes",
                path=path,
                actor=f"chat:{asker.identity.agent_user}",
                rejected_dir=runtime.settings.data_dir / "rejected",
                display_name=name,
            )
            rfqs = listing.import_rfq_codes(session=session, org_id=org_id, run_id=result.run_id)
            chat_log.update_thread(
                session=session,
                org_id=org_id,
                thread_id=thread_id,
                title=f"Upload: {name}",
                replace_title=False,
            )
    report = {
        "source": name,
        "rows_read": result.rows_read,
        "imported": result.imported,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "rejected": result.rejected,
        "rejections": [{"line": r.line_no, "reason": r.reason} for r in result.rejections],
    }
    return report, rfqs
