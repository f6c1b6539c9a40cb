"""The offline planner's next step, worked out afresh from the conversation each time.

No hidden state: the last buyer message says what is wanted, the tool results since then
say what is already known, and the earlier turns fill what a follow-up leaves out ("and
from the second supplier?"). Tool results are read as data only, never as instructions:
intents and slots come from the buyer's own messages.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from agent.planner.answer import compose_answer, help_text, num
from agent.planner.arguments import Slots, arguments
from agent.planner.erp_writes import WRITE_TOOLS
from agent.planner.lexicon import Lexicon
from agent.planner.reading import Reading, read_message

# The order tools run and are reported in when one question needs several.
PIPELINE = (
    "search_items",
    "price_history",
    "erp_lookup",
    "predict_price",
    "should_cost",
    "compare_quotes",
    "detect_anomalies",
    "check_price_increase",
    "forecast_price",
    "supplier_scorecard",
    "negotiation_advice",
    "draft_counter_offer",
    "draft_requisition",
    "draft_contract_price_update",
)
RFQ_TOOLS = {"compare_quotes", "detect_anomalies", "negotiation_advice"}
NEEDS_ITEM = {
    "price_history",
    "predict_price",
    "should_cost",
    "check_price_increase",
    "draft_requisition",
}


@dataclass
class ToolRun:
    """A call made this turn and what came back."""

    name: str
    args: dict[str, Any]
    output: dict[str, Any] | None
    error: str | None


@dataclass
class Frame:
    """What the earlier turns were about."""

    tools: list[str] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)
    ranking: list[str] = field(default_factory=list)
    leveling: dict[str, Any] = field(default_factory=dict)  # the last compare_quotes result


def _runs(messages: list[AnyMessage]) -> list[ToolRun]:
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    runs: list[ToolRun] = []
    for message in messages:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                reply = results.get(call["id"] or "")
                if reply is None:
                    continue
                failed = reply.status == "error"
                runs.append(
                    ToolRun(
                        name=call["name"],
                        args=dict(call["args"]),
                        output=reply.artifact if isinstance(reply.artifact, dict) else None,
                        error=str(reply.content) if failed else None,
                    )
                )
    return runs


def supplier_order(output: dict[str, Any]) -> list[str]:
    """Suppliers in the order a result lists them (a ranking, bids, history)."""
    lines = output.get("lines")
    if not output.get("bid_totals") and isinstance(lines, list) and lines:
        first = lines[0]
        if isinstance(first, dict) and isinstance(first.get("quotes"), list):
            output = {"quotes": first["quotes"]}
    for key in ("bid_totals", "quotes", "lines", "by_supplier"):
        value = output.get(key)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            names = [str(row["supplier"]) for row in value if row.get("supplier")]
            if names:
                return list(dict.fromkeys(names))
    for value in output.values():
        if (
            isinstance(value, list)
            and value
            and isinstance(value[0], dict)
            and "supplier" in value[0]
        ):
            return list(dict.fromkeys(str(row["supplier"]) for row in value if row.get("supplier")))
    return []


def _frame(earlier: list[AnyMessage]) -> Frame:
    """The last answered turn's tools and arguments, and any ranking it produced."""
    frame = Frame()
    runs = _runs(earlier)
    for run in runs:
        if run.name != "search_items" and run.name not in frame.tools:
            frame.tools.append(run.name)
        for key in ("item", "supplier", "rfq", "quantity", "unit", "series"):
            if run.args.get(key) not in (None, ""):
                frame.args[key] = run.args[key]
        if run.output:
            order = supplier_order(run.output)
            if order and run.name in {"compare_quotes", "price_history", "detect_anomalies"}:
                frame.ranking = order
            if run.name == "compare_quotes":
                frame.leveling = run.output
    # Only the most recent turn's tools are "what we were doing".
    last_human = max((i for i, m in enumerate(earlier) if isinstance(m, HumanMessage)), default=-1)
    recent = _runs(earlier[last_human:]) if last_human >= 0 else []
    if recent:
        frame.tools = list(dict.fromkeys(r.name for r in recent if r.name != "search_items"))
    return frame


def choose_tools(reading: Reading, frame: Frame) -> list[str]:
    """Pick the tools a message needs, in pipeline order."""
    write = reading.write_tool()
    # A write is drafted alone (no rule below adds to it): the turn stops for its approval,
    # and the words naming the ERP or the contract ("in SAP", "contract price") are not
    # a look-up.
    wanted = {write} if write else {tool for tool in reading.intents if reading.wants(tool)}
    # "And the second-lowest bidder?" after a leveling points into its ranking, not at a new one.
    if reading.supplier_ordinal is not None and frame.ranking and not reading.rfq:
        wanted.discard("compare_quotes")
        if not wanted:
            wanted = {"supplier_scorecard"}
    # "Is Rieth-Riley's bid on B-40276-A fair?" is about that RFQ's bids, not a new price.
    if reading.rfq and wanted & {"predict_price"} and not reading.item_code:
        wanted.discard("predict_price")
        wanted.add("compare_quotes")
    # Leveling needs an RFQ; "what did X bid on riprap" without one is history, not leveling.
    if (
        "compare_quotes" in wanted
        and len(wanted) > 1
        and not (reading.rfq or frame.args.get("rfq"))
    ):
        wanted.discard("compare_quotes")
    if "draft_counter_offer" in wanted:
        wanted.discard("negotiation_advice")
    if "check_price_increase" in wanted and (reading.percent or reading.price):
        wanted.discard("negotiation_advice")  # "should I push back?" is what the check answers
    weak_increase = reading.intents.get("check_price_increase", 0.0) < 3.0
    if weak_increase and not (reading.percent or reading.price):
        wanted.discard("check_price_increase")
    if "forecast_price" in wanted and "price_history" in wanted and reading.horizon:
        wanted.discard("price_history")
    if "search_items" in wanted and len(wanted) > 1:
        wanted.discard("search_items")
    # Without any item in sight, answer what does not need one rather than ask.
    if not (reading.item_text or reading.item_code or frame.args.get("item")):
        itemless = wanted - NEEDS_ITEM
        if itemless:
            wanted = itemless
    if not wanted:
        wanted = _default_tools(reading, frame)
    ordered = [tool for tool in PIPELINE if tool in wanted]
    return ordered[:3]


def _default_tools(reading: Reading, frame: Frame) -> set[str]:  # noqa: PLR0911 - a rule table
    """With no telling words: continue the conversation, or read what was named."""
    if frame.tools and (
        reading.supplier
        or reading.supplier_ordinal is not None
        or reading.quantity
        or reading.item_text
        or reading.item_code
        or reading.rfq
        or reading.price
    ):
        # A write to an ERP is drafted only when asked for in so many words.
        follow = set(frame.tools) - WRITE_TOOLS
        if follow and reading.supplier_ordinal is not None and follow <= {"compare_quotes"}:
            return {"supplier_scorecard"}
        if follow:
            return follow
    if reading.percent and reading.supplier:
        return {"check_price_increase"}
    if reading.price and (reading.item_text or reading.item_code):
        return {"predict_price"}
    if reading.rfq:
        return {"compare_quotes"}
    if reading.supplier and not (reading.item_text or reading.item_code):
        return {"supplier_scorecard"}
    if reading.item_text or reading.item_code:
        return {"price_history", "predict_price"}
    return set()


def _resolved_item(
    reading: Reading, runs: list[ToolRun], frame: Frame
) -> tuple[str | None, str | None]:
    """Return (item code, problem) once the item is known, or (None, None) to search first."""
    if reading.item_code:
        return reading.item_code, None
    search = next((r for r in runs if r.name == "search_items"), None)
    if search is not None:
        results = (search.output or {}).get("results") or []
        if search.error or not results:
            return None, f"I could not find an item matching “{search.args.get('query')}”."
        return str(results[0]["code"]), None
    if len(reading.item_text) >= 2:
        return None, None
    item = frame.args.get("item")
    if item:
        return str(item), None
    return None, "Which item do you mean? Give its code or describe it."


def _supplier(reading: Reading, frame: Frame) -> str | None:
    if reading.supplier:
        return reading.supplier
    if reading.supplier_ordinal is not None and frame.ranking:
        index = reading.supplier_ordinal
        if -len(frame.ranking) <= index < len(frame.ranking):
            return frame.ranking[index]
    value = frame.args.get("supplier")
    return str(value) if value else None


def _slots(reading: Reading, frame: Frame, item: str | None) -> Slots:
    """Resolve what a call can use: this message first, then the earlier turns."""
    supplier = _supplier(reading, frame)
    named = supplier if (reading.supplier or reading.supplier_ordinal is not None) else None
    item_named = bool(reading.item_text or reading.item_code)
    quantity = reading.quantity or (
        frame.args.get("quantity") if item == frame.args.get("item") else None
    )
    return Slots(
        reading=reading,
        item=item,
        supplier=supplier,
        named_supplier=named,
        rfq=reading.rfq or (frame.args.get("rfq") if not item_named else None),
        quantity=quantity,
        unit=reading.unit or (frame.args.get("unit") if quantity is not None else None),
    )


def _call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}


def _item_for(
    reading: Reading, tools: list[str], runs: list[ToolRun], frame: Frame
) -> tuple[str | None, AIMessage | None]:
    """The item code the calls use, or the message to send first (a search, a question)."""
    series_only = (
        tools == ["forecast_price"]
        and bool(reading.series)
        and (reading.index_named or len(reading.item_text.split()) <= 1)
    )
    # With an RFQ named, its bids are the subject: words beside it do not name a new item.
    rfq_scoped = bool(reading.rfq) and not reading.item_code and set(tools) <= RFQ_TOOLS
    if series_only or rfq_scoped:
        return None, None
    item_named = bool(reading.item_text or reading.item_code)
    if not (item_named or tools == ["search_items"] or any(t in NEEDS_ITEM for t in tools)):
        remembered = frame.args.get("item")
        return (str(remembered) if remembered else None), None
    item, problem = _resolved_item(reading, runs, frame)
    if item is None and problem is None:
        search = arguments("search_items", _slots(reading, frame, None))
        assert isinstance(search, dict)
        return None, AIMessage("", tool_calls=[_call("search_items", search)])
    if problem and tools != ["search_items"]:
        if any(t in NEEDS_ITEM for t in tools) or not reading.intents:
            return None, AIMessage(compose_answer(reading, tools, runs, problem))
        return None, None  # the words named no item; the tools asked for do not need one
    return item, None


def _ranking_note(reading: Reading, frame: Frame) -> list[str]:
    """Where the supplier a follow-up points at stood in the last leveling."""
    supplier = _supplier(reading, frame)
    bids = frame.leveling.get("bid_totals") or []
    if reading.supplier_ordinal is None or not supplier or not bids:
        return []
    mine = next((b for b in bids if b.get("supplier") == supplier), None)
    if mine is None:
        return []
    first = bids[0]
    gap = Decimal(str(mine["landed_total"])) - Decimal(str(first["landed_total"]))
    currency = frame.leveling.get("currency", "")
    behind = (
        f", {currency} {num(gap)} ({float(gap / Decimal(str(first['landed_total'])) * 100):.1f}%) "
        f"behind {first['supplier']}"
        if gap > 0
        else ""
    )
    return [
        f"In the leveling of {frame.leveling.get('rfq')}, {supplier} ranked {mine['rank']} "
        f"at {currency} {num(mine['landed_total'])}{behind}."
    ]


def next_message(messages: list[AnyMessage], lexicon: Lexicon, *, as_of: dt.date) -> AIMessage:
    """Return the planner's next message: tool calls, or the answer."""
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    if last_human < 0:
        return AIMessage(help_text())
    reading = read_message(str(messages[last_human].content), lexicon, as_of=as_of)
    frame = _frame(messages[:last_human])
    runs = _runs(messages[last_human:])
    tools = [] if reading.off_topic and not reading.intents else choose_tools(reading, frame)
    if not tools:
        return AIMessage(compose_answer(reading, [], [], None))
    item, early = _item_for(reading, tools, runs, frame)
    if early is not None:
        return early
    done = {r.name for r in runs}
    calls: list[dict[str, Any]] = []
    questions: list[str] = []
    for tool in tools:
        if tool in done or tool == "search_items":
            continue
        args = arguments(tool, _slots(reading, frame, item))
        if isinstance(args, str):
            questions.append(args)
        else:
            calls.append(_call(tool, args))
    if calls:
        return AIMessage("", tool_calls=calls)
    notes = _ranking_note(reading, frame)
    return AIMessage(compose_answer(reading, tools, runs, " ".join(questions) or None, notes))
