"""The bot's pure parts: thread ids, /price parsing, Slack text in and mrkdwn out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.runner import ApprovalRequest
from store.threads import THREAD_ID
from ui.slack.blocks import (
    SECTION_LIMIT,
    approval_blocks,
    mrkdwn,
    plain_text,
    split_text,
    total,
    unit_price,
)
from ui.slack.handlers import parse_price_command, thread_key


def test_thread_keys_fit_the_thread_alphabet() -> None:
    key = thread_key("T0123ABCD", "C0456EFGH", "1718000000.123456")
    assert key == "slack-T0123ABCD-C0456EFGH-1718000000.123456"
    long = thread_key("E" + "T" * 30, "C" * 30, "1718000000.123456")
    assert THREAD_ID.fullmatch(long)
    assert long == thread_key("E" + "T" * 30, "C" * 30, "1718000000.123456")
    assert long != thread_key("E" + "T" * 30, "C" * 30, "1718000000.123457")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("703-06029 5000", ("703-06029", Decimal(5000))),
        ("epoxy coated rebar 20,000", ("epoxy coated rebar", Decimal(20000))),
        ("epoxy coated rebar", ("epoxy coated rebar", None)),
        ("  703-06029   2.5 ", ("703-06029", Decimal("2.5"))),
        ("5000", ("5000", None)),
        ("", None),
        ("help", None),
        ("rebar 0", None),
    ],
)
def test_price_command_parsing(text: str, expected: tuple[str, Decimal | None] | None) -> None:
    assert parse_price_command(text) == expected


def test_slack_text_in_and_mrkdwn_out() -> None:
    raw = "<@UBOT0001> is &lt;USD 2&gt; fair for <https://x.test/a|this item> &amp; <@UOTHER01>?"
    assert plain_text(raw, bot_user_id="UBOT0001") == "is <USD 2> fair for this item & @UOTHER01?"
    assert mrkdwn("**Band** for A&B <P10") == "*Band* for A&amp;B &lt;P10"
    pieces = split_text(("line of text\n" * 600).strip())
    assert all(len(p) <= SECTION_LIMIT for p in pieces)
    assert "".join(p.replace("\n", "") for p in pieces) == "line of text" * 600


def test_money_is_shown_from_its_decimal() -> None:
    assert unit_price({"amount": "1234.5678", "currency": "USD", "unit": "lb"}) == (
        "USD 1,234.5678/lb"
    )
    assert unit_price({"amount": "1.6", "currency": "EUR", "unit": "kg"}) == "EUR 1.60/kg"
    # Decimal rounding (half even) of the exact amount, not of a float approximation.
    assert total("1315408.485") == "1,315,408.48"
    assert total("0.30000000000000000001", "USD") == "USD 0.30"


def test_an_erp_write_waiting_for_approval_shows_its_summary_and_what_approving_does() -> None:
    pending = ApprovalRequest(
        action="create_requisition",
        tool="draft_requisition",
        draft={
            "id": 12,
            "summary": "requisition in SAP S/4HANA for 453.593 KG of MAT-703 at USD 4.41/KG",
            "price": {"amount": "4.41", "currency": "USD", "unit": "kg"},
        },
        question="Approve or reject this action.",
    )
    blocks = approval_blocks(pending, "slack-T1-C1-1.2")
    text = blocks[0]["text"]["text"]
    assert text.startswith(
        "*Waiting for approval:* create requisition #12: requisition in SAP S/4HANA for "
        "453.593 KG of MAT-703 at USD 4.41/KG"
    )
    approve = blocks[1]["elements"][0]
    assert approve["confirm"]["title"]["text"] == "Create the requisition?"
    assert approve["confirm"]["text"]["text"] == "It is created in the ERP at once."
    assert approve["value"] == "slack-T1-C1-1.2"
