"""Block Kit for the bot's replies: answers, key numbers, approvals, price bands, errors.

Everything here is pure formatting of what a turn or a tool returned (JSON form: money
amounts are decimal strings); nothing here reads the store. Amounts are shown from their
Decimal value, never through a float.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from agent import TurnResult
from agent.runner import ApprovalRequest
from core.errors import PricingAgentError
from core.money import format_unit_price

Block = dict[str, Any]

SECTION_LIMIT = 3000
"""Slack refuses a section whose text is longer than this."""
FIELD_LIMIT = 2000
MAX_ANSWER_SECTIONS = 6
"""Sections of answer text at most; a longer answer is cut (the thread keeps the rest)."""
FALLBACK_LIMIT = 3000
"""Characters of the notification text (``text``) sent with blocks."""
APPROVE = "approval_approve"
REJECT = "approval_reject"
ACTIONS_BLOCK = "approval_actions"
MAX_TABLE_ROWS = 10

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)
_SLACK_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_SLACK_REF = re.compile(r"<([^<>]+)>")
_SPACES = re.compile(r"[ \t]+")


# --------------------------------------------------------------------------- text


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(markdown: str) -> str:
    """Turn the agent's Markdown into Slack mrkdwn (bold and headings; the rest is shared)."""
    text = escape(markdown)
    text = _HEADING.sub(r"*\1*", text)
    return _BOLD.sub(r"*\1*", text)


def plain_text(slack_text: str, *, bot_user_id: str | None = None) -> str:
    """The words of a Slack message: the bot's mention removed, links and entities undone."""
    text = slack_text
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", " ")
    text = _SLACK_LINK.sub(r"\2", text)
    text = _SLACK_REF.sub(lambda m: m.group(1).removeprefix("mailto:"), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _SPACES.sub(" ", text).strip()


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters, at line breaks when possible."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    if rest.strip():
        pieces.append(rest)
    return pieces


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def section(text: str) -> Block:
    """A mrkdwn section (text must already be mrkdwn and within the limit)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def context(text: str) -> Block:
    """A context line in mrkdwn."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, FIELD_LIMIT)}]}


# --------------------------------------------------------------------------- numbers


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def unit_price(money: Any) -> str:
    """A Money dict as ``USD 1.6023/lb`` (cents, and up to four decimals that carry meaning)."""
    if not isinstance(money, dict):
        return "n/a"
    amount = _decimal(money.get("amount"))
    if amount is None:
        return "n/a"
    return f"{money.get('currency', '')} {format_unit_price(amount)}/{money.get('unit', '')}"


def total(value: Any, currency: str = "") -> str:
    """A money total with cents and thousands separators (Decimal arithmetic only)."""
    amount = _decimal(value)
    if amount is None:
        return "n/a"
    shown = f"{amount:,.2f}"
    return f"{currency} {shown}".strip()


def quantity(value: Any) -> str:
    """A quantity without exponent or trailing zeros, with thousands separators."""
    amount = _decimal(value)
    if amount is None:
        return str(value)
    normal = amount.normalize()
    if normal == normal.to_integral_value():
        normal = normal.quantize(Decimal(1))
    return f"{normal:,f}"


def count(value: Any) -> str:
    """A whole number with thousands separators (``n/a`` when missing)."""
    return f"{value:,}" if isinstance(value, int) else "n/a"


def band_text(output: dict[str, Any]) -> str:
    """``P10 … · P50 … · P90 …`` of a predict_price output."""
    return " · ".join(f"{p.upper()} {unit_price(output.get(p))}" for p in ("p10", "p50", "p90"))


# --------------------------------------------------------------------------- tool outputs


def price_blocks(output: dict[str, Any], *, title: str | None = None) -> list[Block]:
    """The band of a predict_price output: P10/P50/P90 with currency and unit, and its basis."""
    p50 = output.get("p50") if isinstance(output.get("p50"), dict) else {}
    unit = (p50 or {}).get("unit", "")
    heading = title or "Fair price"
    code, name = escape(str(output.get("item_code", ""))), escape(str(output.get("item_name", "")))
    low, high = unit_price(output.get("p10")), unit_price(output.get("p90"))
    fields = [
        f"*Item*\n`{code}` {name}",
        f"*Quantity*\n{quantity(output.get('quantity'))} {escape(str(unit))}".rstrip(),
        f"*P50 (fair price)*\n{unit_price(output.get('p50'))}",
        f"*80% band (P10 – P90)*\n{low} – {high}",
        f"*History*\n{count(output.get('history_lines'))} earlier quote lines",
        f"*Model*\nv{output.get('model_version', '?')}",
    ]
    blocks: list[Block] = [
        section(f"*{escape(heading)}*"),
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": clip(f, FIELD_LIMIT)} for f in fields],
        },
    ]
    drivers = output.get("drivers") or []
    if drivers:
        named = "; ".join(
            f"{escape(str(d.get('driver')))} ({float(d.get('effect_pct', 0)):+.1f}%)"
            for d in drivers[:4]
        )
        blocks.append(context(f"Main drivers: {named}"))
    return blocks


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(w) if i not in (1,) else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "```\n" + "\n".join(lines) + "\n```"


def _name(text: Any, width: int = 34) -> str:
    return clip(str(text or ""), width)


def compare_blocks(output: dict[str, Any]) -> list[Block]:
    """Bid totals (whole RFQ) and each detailed line's ranked quotes, as compact tables."""
    currency = str(output.get("currency", ""))
    blocks: list[Block] = []
    bids = output.get("bid_totals") or []
    if bids:
        rows = []
        for bid in bids[:MAX_TABLE_ROWS]:
            notes = []
            if not bid.get("complete"):
                notes.append(f"{bid.get('lines_priced')}/{bid.get('lines_total')} lines")
            if bid.get("unbalanced"):
                notes.append("unbalanced")
            if bid.get("flagged_lines"):
                notes.append(f"{bid.get('flagged_lines')} flagged")
            rows.append(
                [
                    str(bid.get("rank")),
                    _name(bid.get("supplier")),
                    total(bid.get("landed_total")),
                    ", ".join(notes),
                ]
            )
        title = f"*Bid totals{' for ' + escape(str(output['rfq'])) if output.get('rfq') else ''}*"
        table = _table(rows, ["#", "Supplier", f"Landed {currency}", "Notes"])
        blocks.append(section(f"{title}\n{escape(table)}"))
        if output.get("bid_recommendation"):
            blocks.append(context(escape(str(output["bid_recommendation"]))))
    for line in (output.get("lines") or [])[:3]:
        rows = [
            [
                str(q.get("rank")),
                _name(q.get("supplier")),
                unit_price(q.get("landed_per_unit")),
                total(q.get("landed_total")),
            ]
            for q in (line.get("quotes") or [])[:MAX_TABLE_ROWS]
        ]
        if not rows:
            continue
        label = " ".join(
            str(part)
            for part in (
                line.get("item_code"),
                line.get("item_name"),
                f"{quantity(line.get('quantity'))} {line.get('unit', '')}",
            )
            if part
        )
        table = _table(rows, ["#", "Supplier", "Landed/unit", f"Landed {currency}"])
        blocks.append(section(f"*{escape(clip(label, 200))}*\n{escape(table)}"))
        if line.get("recommendation"):
            blocks.append(context(escape(str(line["recommendation"]))))
    return blocks


def key_number_blocks(results: list[dict[str, Any]]) -> list[Block]:
    """Blocks for the tool outputs that carry key numbers (price bands, leveled bids)."""
    blocks: list[Block] = []
    prices = [r["output"] for r in results if r.get("tool") == "predict_price"]
    compares = [r["output"] for r in results if r.get("tool") == "compare_quotes"]
    for output in prices[:3]:
        blocks.extend(price_blocks(output))
    for output in compares[:1]:
        blocks.extend(compare_blocks(output))
    return blocks


# --------------------------------------------------------------------------- turns


def mode_text(result: TurnResult) -> str:
    """Say how the answer was made: the model, or the offline planner (and why)."""
    if result.mode == "offline":
        return "offline planner (no language model is configured)"
    if result.mode == "offline-fallback":
        reason = f": {result.fallback_reason}" if result.fallback_reason else ""
        return f"offline planner, the language model failed{reason}"
    return "language model"


def context_text(result: TurnResult) -> str:
    """The tools that ran (failures marked) and the mode."""
    names = list(dict.fromkeys(c.name if c.ok else f"{c.name} (failed)" for c in result.tool_calls))
    tools = ", ".join(f"`{n}`" for n in names) if names else "none"
    return f"Tools: {tools} · Mode: {escape(mode_text(result))}"


# The approve button's confirmation, per action: what pressing it does.
_CONFIRM = {
    "send_counter_offer": ("Approve the counter-offer?", "It is recorded as approved to send."),
    "create_requisition": ("Create the requisition?", "It is created in the ERP at once."),
    "update_contract_price": ("Change the contract price?", "The ERP is changed at once."),
}


def approval_blocks(pending: ApprovalRequest, thread_id: str) -> list[Block]:
    """What waits for approval, and the Approve / Reject buttons (value: the thread id)."""
    draft = pending.draft
    head = (
        f"*Waiting for approval:* {escape(pending.action.replace('_', ' '))} "
        f"#{escape(str(draft.get('id', '?')))}"
    )
    if draft.get("summary"):
        # An ERP write: its one-line summary already says what, where, how much.
        summary = f"{head}: {escape(str(draft['summary']))}"
    else:
        summary = (
            f"{head} to {escape(str(draft.get('supplier', '')))} — "
            f"{escape(str(draft.get('item_name', '')))} "
            f"({escape(str(draft.get('item_code', '')))}) at {unit_price(draft.get('price'))}"
        )
        if draft.get("quantity"):
            price = draft.get("price")
            unit = price.get("unit", "") if isinstance(price, dict) else ""
            summary += f" for {quantity(draft['quantity'])} {escape(str(unit))}"
            summary = summary.rstrip()
    title, effect = _CONFIRM.get(pending.action, ("Approve this action?", "It is carried out."))
    return [
        section(summary + "\nOnly a buyer or admin of the organisation may decide."),
        {
            "type": "actions",
            "block_id": ACTIONS_BLOCK,
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": thread_id,
                    "confirm": {
                        "title": {"type": "plain_text", "text": title},
                        "text": {"type": "mrkdwn", "text": effect},
                        "confirm": {"type": "plain_text", "text": "Approve"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                    },
                },
                {
                    "type": "button",
                    "action_id": REJECT,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": thread_id,
                },
            ],
        },
    ]


def answer_blocks(result: TurnResult) -> list[Block]:
    """The final reply of a turn: answer, key numbers, tools and mode, approval buttons."""
    pieces = split_text(mrkdwn(result.answer.strip() or "(no answer)"))
    blocks = [section(p) for p in pieces[:MAX_ANSWER_SECTIONS]]
    if len(pieces) > MAX_ANSWER_SECTIONS:
        blocks.append(context("(answer shortened: Slack messages hold only so much)"))
    numbers = key_number_blocks(result.results)
    if numbers:
        blocks.append({"type": "divider"})
        blocks.extend(numbers)
    blocks.append(context(context_text(result)))
    if result.pending_approval is not None:
        blocks.extend(approval_blocks(result.pending_approval, result.thread_id))
    return blocks[:50]


def fallback_text(result: TurnResult) -> str:
    """The plain text that goes with the blocks (notifications, old clients)."""
    return clip(result.answer.strip() or "(no answer)", FALLBACK_LIMIT)


def progress_text(steps: list[str], tokens: str) -> str:
    """The reply while the turn runs: the tool steps so far and the answer streaming in."""
    lines = [":hourglass_flowing_sand: Working on it…"]
    lines += steps[-8:]
    if tokens.strip():
        lines.append("")
        lines.append(mrkdwn(tokens[-2500:]))
    return clip("\n".join(lines), FALLBACK_LIMIT)


def decided_blocks(
    original: list[Block], *, approved: bool, by_user: str, answer: str
) -> list[Block]:
    """The approval message after a decision: the buttons replaced by who decided and how."""
    kept = [b for b in original if b.get("type") != "actions"]
    verdict = ":white_check_mark: *Approved*" if approved else ":x: *Rejected*"
    kept.append(section(f"{verdict} by <@{by_user}>"))
    for piece in split_text(mrkdwn(answer.strip()))[:2]:
        kept.append(section(piece))
    return kept[:50]


# --------------------------------------------------------------------------- errors


def error_text(exc: PricingAgentError) -> str:
    """A domain error as one short line for the thread."""
    return f":warning: {escape(exc.title)}: {escape(clip(exc.message, 500))}"


def failure_text(ref: str) -> str:
    """An unexpected failure: no details, a reference to find it in the logs."""
    return f":boom: Something went wrong (ref {ref}). It has been logged; please try again."
