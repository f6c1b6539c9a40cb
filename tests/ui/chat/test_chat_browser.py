"""The chat in a real browser: log in, ask, see tool steps and charts, decide, resume, upload.

Headless Debian Chromium, driven by Playwright, against the app served on loopback. Each
step's screenshot is saved in the run's output folder (printed at the end of each test).
The numbers on screen are checked against direct calls of the same tools.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from store.db import Database
from store.models import AgentThread, AuditLog, CounterOffer, ImportRun
from tests.conftest import AS_OF, FIXTURES
from tests.ui.chat.conftest import Login
from tools.base import ToolContext
from tools.compare_quotes import CompareQuotesInput, compare_quotes
from tools.predict_price import PredictPriceInput, predict_price

WAIT_MS = 90_000  # a cold first turn loads the model; later ones take a second or two
FAIR_PRICE = "Fair price for 40,000 lb epoxy coated rebar?"
RFQ = "B -40276-A"


class Shots:
    """Numbered screenshots of one test."""

    def __init__(self, folder: Path, test: str) -> None:
        self.folder = folder / test
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def take(self, page: Any, name: str) -> Path:
        """Save a full-page screenshot named after the step."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def element(self, locator: Any, name: str) -> Path:
        """Save a screenshot of one element (a chart, a table), scrolled into view."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=str(path))
        return path


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, screenshots: Path) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page; its last screen is kept, pass or fail."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, color_scheme="light")
    page = context.new_page()
    yield page
    page.screenshot(path=str(screenshots / f"{request.node.name}-last.png"), full_page=True)
    context.close()


def log_in(page: Any, chat_url: str, login: Login) -> None:
    """Log in through the chat's login form; return once the chat's socket is connected."""
    page.goto(f"{chat_url}/login")
    page.get_by_label("Email address").fill(login.email)
    page.get_by_label("Password").fill(login.password)
    with page.expect_websocket(timeout=WAIT_MS) as opened:
        page.get_by_role("button", name="Sign In").click()
    frames: list[str] = []
    opened.value.on("framereceived", lambda frame: frames.append(str(frame)))
    page.get_by_text("Fair price", exact=True).wait_for(timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    # The server's first events (task_end, clear_ask, clear_call_fn) follow its session's
    # set-up, which uploads need. They may all come over HTTP polling before the socket
    # upgrades; the upgrade's "6" then comes after them.
    while not any(frame.startswith("42[") or frame == "6" for frame in frames):
        assert time.monotonic() < deadline, f"the chat's socket never connected: {frames}"
        page.wait_for_timeout(50)


def attach(page: Any, path: Path) -> None:
    """Attach a file to the next message, once the chat's session has taken it."""
    for _ in range(3):
        page.locator('input[type="file"]').first.set_input_files(str(path))
        done = page.locator("#chat-submit:not([disabled])")
        failed = page.get_by_text("Failed to upload")
        done.or_(failed).first.wait_for(timeout=WAIT_MS)
        if not failed.count():
            return
        page.wait_for_timeout(500)  # the session was still being set up: try again
    raise AssertionError("the chat refused the upload three times")


def ask(page: Any, text: str) -> None:
    """Type a message, send it, and wait until it shows in the conversation."""
    page.locator("#chat-input").fill(text)
    page.locator("#chat-submit").click()
    page.locator(".step", has_text=text[:40]).first.wait_for(timeout=WAIT_MS)


def body(page: Any) -> str:
    """All text on the page."""
    return str(page.inner_text("body"))


def latest_thread(database: Database, login: Login) -> str:
    """The person's newest chat thread (a live conversation's URL does not name it)."""
    with database.session_scope(login.org_id) as session:
        thread = session.scalars(
            select(AgentThread.thread_id)
            .where(AgentThread.org_id == login.org_id, AgentThread.user_id == login.agent_user)
            .order_by(AgentThread.created_at.desc())
        ).first()
    assert thread is not None
    return thread


def tool_ctx(session: Any, org_id: uuid.UUID) -> ToolContext:
    """The context the chat's turns run in (the sample's as-of date)."""
    return ToolContext(session=session, org_id=org_id, as_of=AS_OF)


def test_log_in_ask_see_steps_and_the_price_chart(
    page: Any,
    chat_url: str,
    chat_buyer: Login,
    database: Database,
    screenshots: Path,
) -> None:
    shots = Shots(screenshots, "ask")
    page.goto(f"{chat_url}/login")
    page.get_by_label("Email address").fill(chat_buyer.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign In").click()
    page.get_by_text("Unable to sign in").wait_for(timeout=WAIT_MS)
    shots.take(page, "wrong-password")

    log_in(page, chat_url, chat_buyer)
    page.get_by_text("Fair price", exact=True).wait_for()
    shots.take(page, "starters")
    page.get_by_text("Fair price", exact=True).click()
    page.get_by_text("Fair-price band").first.wait_for(timeout=WAIT_MS)
    page.locator(".js-plotly-plot").first.wait_for(timeout=WAIT_MS)
    shots.take(page, "answer-and-chart")

    with database.session_scope(chat_buyer.org_id) as session:
        expected = predict_price(
            tool_ctx(session, chat_buyer.org_id),
            PredictPriceInput(item="703-06029", quantity=Decimal(40000), unit="lb"),
            explain=False,
        )
    text = body(page)
    for quantile in (expected.p10, expected.p50, expected.p90):
        assert f"{quantile.amount}" in text
    assert "search_items" in text
    assert "predict_price" in text
    assert "offline planner" in text.lower()
    # The chart is drawn: an SVG with the price points and today's band.
    chart = page.locator(".js-plotly-plot").first
    shots.element(chart, "price-history-chart")
    assert chart.locator("svg .point").count() > 10
    assert "today's band" in chart.inner_text()

    # The tool step opens to show its inputs and the summary of what it found.
    page.get_by_text("Used predict_price").first.click()
    page.get_by_text(f"P50 {expected.p50.amount} USD/lb").first.wait_for(timeout=WAIT_MS)
    shots.take(page, "tool-step-open")
    thread = latest_thread(database, chat_buyer)
    with database.session_scope(chat_buyer.org_id) as session:
        row = session.get(AgentThread, (chat_buyer.org_id, thread))
        assert row is not None
        assert row.user_id == chat_buyer.agent_user
        assert row.channel == "chat"


@pytest.mark.parametrize(
    ("starter", "trace"),
    [("Should-cost", "waterfall"), ("Steel outlook", "scatter"), ("Price history", "scatter")],
)
def test_starters_answer_with_a_picture(
    page: Any, chat_url: str, chat_buyer: Login, screenshots: Path, starter: str, trace: str
) -> None:
    shots = Shots(screenshots, f"starter-{starter.lower().replace(' ', '-')}")
    log_in(page, chat_url, chat_buyer)
    page.get_by_text(starter, exact=True).click()
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=WAIT_MS)
    shots.take(page, "answer")
    shots.element(chart, "chart")
    assert "could not answer" not in body(page)
    assert (
        chart.locator(f"g.{trace}layer, g.{trace}").count() > 0
        or chart.locator(f".trace.{trace}").count() > 0
    )


def test_bid_leveling_table_highlights_the_award(
    page: Any, chat_url: str, chat_buyer: Login, database: Database, screenshots: Path
) -> None:
    shots = Shots(screenshots, "level")
    log_in(page, chat_url, chat_buyer)
    ask(page, f"Can you level the bids on {RFQ}? Who's lowest all-in and by how much?")
    table = page.locator("table").first
    table.wait_for(timeout=WAIT_MS)
    shots.take(page, "bid-table")
    shots.element(table, "first-bid-table")
    with database.session_scope(chat_buyer.org_id) as session:
        leveled = compare_quotes(tool_ctx(session, chat_buyer.org_id), CompareQuotesInput(rfq=RFQ))
    winner = leveled.bid_totals[0] if leveled.bid_totals else None
    recommended = winner.supplier if winner else leveled.lines[0].recommended_supplier
    assert recommended
    starred = page.locator("table tr", has_text="★").first
    assert recommended in starred.inner_text()
    weight = (
        starred.locator("td")
        .nth(1)
        .evaluate("cell => getComputedStyle(cell.querySelector('*') || cell).fontWeight")
    )
    assert int(weight) >= 600, starred.inner_html()  # the award's row is in bold


def test_approve_a_drafted_counter_offer(
    page: Any, chat_url: str, chat_buyer: Login, database: Database, screenshots: Path
) -> None:
    shots = Shots(screenshots, "approve")
    log_in(page, chat_url, chat_buyer)
    ask(page, "Draft a counter offer to Milestone for epoxy coated rebar at $1.60/lb for 20,000 lb")
    approve = page.get_by_role("button", name="Approve")
    approve.wait_for(timeout=WAIT_MS)
    shots.take(page, "approval-buttons")
    thread = latest_thread(database, chat_buyer)
    with database.session_scope(chat_buyer.org_id) as session:
        offer = session.scalars(
            select(CounterOffer).where(
                CounterOffer.org_id == chat_buyer.org_id, CounterOffer.thread_id == thread
            )
        ).one()
        assert offer.status == "pending_approval"
        offer_id = offer.id
    approve.click()
    page.get_by_text("approved", exact=False).last.wait_for(timeout=WAIT_MS)
    page.wait_for_function(
        "() => ![...document.querySelectorAll('button')].some(b => b.innerText === 'Approve')",
        timeout=WAIT_MS,
    )
    shots.take(page, "approved")
    with database.session_scope(chat_buyer.org_id) as session:
        offer = session.get(CounterOffer, (chat_buyer.org_id, offer_id))
        assert offer is not None
        assert offer.status == "approved"
        assert offer.decided_by == f"chat:{chat_buyer.agent_user}"
        actions = session.scalars(
            select(AuditLog.action).where(
                AuditLog.org_id == chat_buyer.org_id, AuditLog.actor == offer.decided_by
            )
        ).all()
        assert "counter_offer.approved" in actions


def test_resume_a_past_thread_and_continue_it(
    page: Any, chat_url: str, chat_buyer: Login, database: Database, screenshots: Path
) -> None:
    shots = Shots(screenshots, "resume")
    log_in(page, chat_url, chat_buyer)
    ask(page, FAIR_PRICE)
    page.get_by_text("Fair-price band").first.wait_for(timeout=WAIT_MS)
    first_thread = latest_thread(database, chat_buyer)

    page.goto(chat_url)  # a new conversation; the old one is in the thread list
    page.locator("#chat-input").wait_for(timeout=WAIT_MS)
    page.locator(f'a[href$="/thread/{first_thread}"]').first.click()
    page.get_by_text("Fair-price band").first.wait_for(timeout=WAIT_MS)
    page.locator(".js-plotly-plot").first.wait_for(timeout=WAIT_MS)
    shots.take(page, "past-thread")
    ask(page, "and for 20000 lb?")
    page.wait_for_function(
        "() => document.body.innerText.split('Fair-price band').length > 2", timeout=WAIT_MS
    )
    shots.take(page, "continued")
    assert page.url.endswith(f"/thread/{first_thread}")
    assert "20,000" in body(page) or "20000" in body(page)
    with database.session_scope(chat_buyer.org_id) as session:
        expected = predict_price(
            tool_ctx(session, chat_buyer.org_id),
            PredictPriceInput(item="703-06029", quantity=Decimal(20000), unit="lb"),
            explain=False,
        )
    assert f"{expected.p50.amount}" in body(page)  # the item carried over from the thread


def test_upload_a_csv_of_quotes_then_compare(
    page: Any, chat_url: str, chat_buyer: Login, database: Database, screenshots: Path
) -> None:
    shots = Shots(screenshots, "upload")
    log_in(page, chat_url, chat_buyer)
    attach(page, FIXTURES / "quotes_with_bad_rows.csv")
    page.get_by_text("quotes_with_bad_rows.csv").first.wait_for(timeout=WAIT_MS)
    shots.take(page, "attached")
    page.locator("#chat-submit").click()
    page.get_by_text("16 rows read").wait_for(timeout=WAIT_MS)
    shots.take(page, "import-report")
    text = body(page)
    assert "12 rejected" in text
    assert "line 5: unit_price is negative" in text
    assert "line 4: supplier is missing" in text
    with database.session_scope(chat_buyer.org_id) as session:
        run = session.scalars(
            select(ImportRun)
            .where(
                ImportRun.org_id == chat_buyer.org_id,
                ImportRun.actor == f"chat:{chat_buyer.agent_user}",
            )
            .order_by(ImportRun.id.desc())
        ).first()
        assert run is not None
        assert run.rows_rejected == 12
    page.get_by_role("button", name=f"Compare {RFQ}").click()
    page.locator("table").first.wait_for(timeout=WAIT_MS)
    shots.take(page, "compared")
    assert "★" in body(page)


def test_a_viewer_cannot_approve_or_import(
    page: Any, chat_url: str, chat_viewer: Login, database: Database, screenshots: Path
) -> None:
    shots = Shots(screenshots, "viewer")
    log_in(page, chat_url, chat_viewer)
    attach(page, FIXTURES / "quotes_with_bad_rows.csv")
    page.get_by_text("quotes_with_bad_rows.csv").first.wait_for(timeout=WAIT_MS)
    page.locator("#chat-submit").click()
    page.get_by_text("may not import files").wait_for(timeout=WAIT_MS)
    shots.take(page, "import-refused")
    with database.session_scope(chat_viewer.org_id) as session:
        runs = session.scalars(
            select(ImportRun.id).where(ImportRun.actor == f"chat:{chat_viewer.agent_user}")
        ).all()
        assert runs == []
