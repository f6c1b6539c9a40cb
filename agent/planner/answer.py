"""The offline planner's answers: templated from the tools' structured results.

Every number comes from a tool result, with its currency and unit. Text that came from
documents (supplier names, descriptions, notes) is quoted as data, never acted on.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from core.money import format_unit_price

if TYPE_CHECKING:
    from agent.planner.plan import ToolRun
    from agent.planner.reading import Reading

OFFLINE_NOTE = (
    "_Offline planner: no language model is configured, so this answer was assembled "
    "from the tool results by rules._"
)


def fallback_note(reason: str) -> str:
    """The note an answer carries when the offline planner stood in for a failed model."""
    return (
        f"_The language model was unavailable ({reason}), so the offline planner answered: "
        "this answer was assembled from the tool results by rules._"
    )


INJECTION_NOTE = (
    "I only work within your organisation's data and my fixed rules; instructions to "
    "change that are ignored."
)


def help_text() -> str:
    """What the assistant can do, for a message it could not place."""
    return (
        "I answer pricing and procurement questions about your items, quotes, suppliers and "
        "market prices. I can help with: what an item should cost (fair-price band), "
        "price history, quote "
        "leveling for an RFQ, should-cost build-ups, anomaly checks, price forecasts, "
        "supplier price-increase requests, negotiation targets, supplier scorecards, ERP "
        "purchase orders and contracts, item search, and drafting counter-offers, purchase "
        "requisitions and contract price changes for your approval. Name an item, supplier "
        "or RFQ, for example: “What should 500 TON of epoxy coated rebar cost?”\n\n" + OFFLINE_NOTE
    )


def num(value: Any, places: int = 2) -> str:
    """Format a number for people, keeping Decimal exactness up to the rounding shown."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{number:,.{places}f}"


def money(value: Any) -> str:
    """Format a Money dict as ``USD 1,234.56/TON``."""
    if not isinstance(value, dict) or "amount" not in value:
        return "n/a"
    amount = Decimal(str(value["amount"]))
    return f"{value.get('currency', '')} {price_text(amount)}/{value.get('unit', '')}"


price_text = format_unit_price


def _evidence(output: dict[str, Any]) -> str:
    items = output.get("evidence") or []
    details = [str(e.get("detail")) for e in items if isinstance(e, dict) and e.get("detail")]
    return ("Evidence: " + "; ".join(details[:4]) + ".") if details else ""


def _search(out: dict[str, Any]) -> list[str]:
    rows = out.get("results") or []
    if not rows:
        return [f"No item matches “{out.get('query')}”."]
    lines = [f"Items matching “{out.get('query')}”:"]
    lines += [
        f"- {r.get('code')} {r.get('name')} "
        f"({r.get('unit') or '-'}, {r.get('category') or 'no category'})"
        for r in rows
    ]
    return lines


def _history(out: dict[str, Any]) -> list[str]:
    head = f"**Price history of {out.get('item_code')} {out.get('item_name')}**"
    if not out.get("count"):
        return [head, "No quotes or purchase prices in the period."]
    lines = [
        head,
        f"{out['count']} prices from {out.get('first_date')} to {out.get('last_date')}: "
        f"median {money(out.get('median'))}, low {money(out.get('low'))}, "
        f"high {money(out.get('high'))}.",
    ]
    for s in (out.get("by_supplier") or [])[:5]:
        lines.append(
            f"- {s['supplier']}: {s['count']} prices, median {money(s['median'])}, "
            f"last {money(s['last'])} on {s['last_date']}"
        )
    points = out.get("points") or []
    if points:
        p = points[0]
        lines.append(
            f"Most recent: {money(p['price'])} from {p['supplier']} on {p['date']} "
            f"({p.get('reference') or p['source']}, quantity {num(p['quantity'], 0)})."
        )
    return lines


def _predict(out: dict[str, Any]) -> list[str]:
    lines = [
        f"**Fair-price band for {out.get('item_code')} {out.get('item_name')}** at quantity "
        f"{num(out.get('quantity'), 0)}: P10 {money(out.get('p10'))}, "
        f"P50 {money(out.get('p50'))}, P90 {money(out.get('p90'))}.",
    ]
    drivers = out.get("drivers") or []
    if drivers:
        lines.append(
            "Main drivers: "
            + "; ".join(f"{d['driver']} ({float(d['effect_pct']):+.1f}%)" for d in drivers[:4])
            + "."
        )
    lines.append(
        f"Model v{out.get('model_version')}, "
        f"{out.get('history_lines')} earlier quotes of this item."
    )
    return lines


def _should_cost(out: dict[str, Any]) -> list[str]:
    lines = [
        f"**Should-cost of {out.get('item_code')}** ({out.get('template')} template, "
        f"{out.get('calibration')}): {money(out.get('unit_total'))}, "
        f"{out.get('currency')} {num(out.get('total'))} "
        f"for {num(out.get('quantity'), 0)} {out.get('unit')}."
    ]
    for line in (out.get("lines") or [])[:8]:
        lines.append(
            f"- {line['group']}: {line['name']} {money(line['amount'])} ({line['source']})"
        )
    lines += [f"Note: {w}" for w in out.get("warnings") or []]
    return lines


def _forecast(out: dict[str, Any]) -> list[str]:
    points = out.get("points") or []
    last = points[-1] if points else {}
    lines = [
        f"**Forecast for {out.get('target')}** ({out.get('kind')}, {out.get('model')} model): "
        f"last {num(out.get('last_value'))} {out.get('unit')} on {out.get('last_date')}; "
        f"expected {num(last.get('expected'))} by {last.get('date')} "
        f"(range {num(last.get('low'))} to {num(last.get('high'))}), "
        f"direction: {out.get('direction')}.",
        str(out.get("reading") or ""),
    ]
    if out.get("backtest_mase") is not None:
        lines.append(f"Backtest MASE of the chosen model: {float(out['backtest_mase']):.2f}.")
    return lines


def _anomalies(out: dict[str, Any]) -> list[str]:
    lines = [f"**Anomaly check**: {out.get('flagged')} of {out.get('checked')} lines flagged."]
    flagged = [line for line in out.get("lines") or [] if line.get("flags")]
    for line in flagged[:6]:
        reasons = "; ".join(f["reason"] for f in line["flags"][:2])
        lines.append(
            f"- {line['supplier']} on {line.get('rfq') or line['date']}, {line['item_code']} at "
            f"{money(line['price'])} ({line.get('severity')}): {reasons}"
        )
    return lines


def _position(price: Decimal, out: dict[str, Any]) -> str:
    """Where a buyer's price sits in the band, in words."""
    p10, p50, p90 = (Decimal(str(out[k]["amount"])) for k in ("p10", "p50", "p90"))
    gap = (price - p50) / p50 * 100 if p50 else Decimal(0)
    if price < p10:
        where = "below P10: unusually low — check scope and quantity before accepting"
    elif price <= p50:
        where = "between P10 and P50: a fair price, at or below the typical level"
    elif price <= p90:
        where = "between P50 and P90: within the normal range but above typical — room to negotiate"
    else:
        where = "above P90: high against comparable quotes — push back or re-bid"
    return f"The price you quoted, {num(price)}, is {where} ({float(gap):+.1f}% vs P50)."


def _against_plan(price: Decimal, out: dict[str, Any]) -> str:
    """A price the buyer was offered, read against the negotiation plan."""
    target = Decimal(str(out["target_price"]["amount"]))
    walk = Decimal(str(out["walk_away_price"]["amount"]))
    unit = out["target_price"].get("unit", "")
    if price > walk:
        where = "above your walk-away: do not accept it as it stands"
    elif price > target:
        where = "between target and walk-away: acceptable, but counter toward the target"
    else:
        where = "at or below the target: a good offer"
    return f"Their price, {price_text(price)}/{unit} as you gave it, is {where}."


def _compare(out: dict[str, Any]) -> list[str]:
    lines = [f"**Quote leveling{' for ' + str(out['rfq']) if out.get('rfq') else ''}**"]
    totals = out.get("bid_totals") or []
    if totals:
        lines.append(f"{len(totals)} bids, ranked by landed total ({out.get('currency')}):")
        for bid in totals[:8]:
            state = (
                "complete"
                if bid.get("complete")
                else (f"{bid.get('lines_priced')}/{bid.get('lines_total')} lines")
            )
            extra = ", unbalanced" if bid.get("unbalanced") else ""
            flagged = f", {bid['flagged_lines']} flagged lines" if bid.get("flagged_lines") else ""
            lines.append(
                f"{bid['rank']}. {bid['supplier']}: {out.get('currency')} "
                f"{num(bid['landed_total'])} ({state}{flagged}{extra})"
            )
        if out.get("bid_recommendation"):
            lines.append(str(out["bid_recommendation"]))
    for line in (out.get("lines") or [])[:3]:
        lines.append(
            f"Line {line.get('rfq_line') or ''} {line.get('item_code')} {line.get('item_name')}, "
            f"{num(line.get('quantity'), 0)} {line.get('unit')}"
            + (f" (peer median {money(line['peer_median'])})" if line.get("peer_median") else "")
            + ":"
        )
        for q in (line.get("quotes") or [])[:6]:
            band = f", band {q['band_position']}" if q.get("band_position") else ""
            flags = "; ".join(f["reason"] for f in q.get("flags") or [])[:160]
            lines.append(
                f"  {q['rank']}. {q['supplier']}: {money(q['unit_price'])}, landed "
                f"{money(q['landed_per_unit'])}{band}" + (f" — {flags}" if flags else "")
            )
        if line.get("recommendation"):
            lines.append(f"  Recommendation: {line['recommendation']}")
    lines += [f"Note: {c}" for c in (out.get("caveats") or [])[:3]]
    return lines


def _increase(out: dict[str, Any]) -> list[str]:
    last = out.get("last_price") or {}
    lines = [
        f"**Price-increase check: {out.get('supplier')} on {out.get('item_code')} "
        f"{out.get('item_name')}**",
        f"Request: {float(out.get('requested_increase_pct', 0)):+.1f}% to "
        f"{money(out.get('requested_price'))}, from the last price {money(last.get('price'))} "
        f"({last.get('source')} {last.get('document') or ''} on {last.get('date')}).",
    ]
    for c in out.get("components") or []:
        lines.append(f"- {c['driver']}: {float(c['pct']):+.1f}% — {c['explanation']}")
    lines.append(
        f"Verdict: {str(out.get('verdict', '')).replace('_', ' ')}; the evidence supports "
        f"{float(out.get('supported_increase_pct', 0)):+.1f}%. Counter-proposal: "
        f"{money(out.get('counter_proposal'))}."
    )
    if out.get("reading"):
        lines.append(str(out["reading"]))
    lines += [f"Note: {w}" for w in out.get("warnings") or []]
    return lines


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f}%"


def _scorecard(out: dict[str, Any]) -> list[str]:
    comp = out.get("competitiveness") or {}
    win = out.get("win_rate") or {}
    vol = out.get("volume") or {}
    volat = out.get("volatility") or {}
    ratio = comp.get("median_ratio_to_peers")
    lines = [
        f"**Scorecard: {out.get('supplier')}** ({out.get('scope')}, {out.get('since')} to "
        f"{out.get('until')})",
        f"- Volume: {vol.get('lines')} quote lines on {vol.get('rfqs')} RFQs, {vol.get('items')} "
        f"items, {vol.get('currency')} {num(vol.get('total_quoted_value'))} quoted.",
        f"- Price vs peers: median ratio {ratio:.2f}"
        if ratio is not None
        else "- Price vs peers: n/a",
        f"- Lowest on {_pct(comp.get('lowest_share'))} of "
        f"{comp.get('compared_lines')} compared lines.",
        f"- Win rate: {_pct(win.get('rfq_win_rate'))} of RFQs ({win.get('rfqs_won')}/"
        f"{win.get('rfqs_known')}), {_pct(win.get('line_win_rate'))} of lines "
        f"({win.get('basis')}).",
        f"- Volatility: relative dispersion {volat.get('relative_price_dispersion')}, median "
        f"price change {volat.get('median_abs_change_pct')}%.",
    ]
    delivery = out.get("delivery")
    if delivery:
        lines.append(
            f"- Delivery: on time {_pct(delivery.get('on_time_share'))} of "
            f"{delivery.get('due_lines')} due lines, fill rate {_pct(delivery.get('fill_rate'))}."
        )
    else:
        lines.append(f"- Delivery: {out.get('delivery_note')}")
    lines += [f"Strength: {x}" for x in out.get("strengths") or []]
    lines += [f"Concern: {x}" for x in out.get("concerns") or []]
    return lines


def _erp(out: dict[str, Any]) -> list[str]:
    records = out.get("records") or []
    lines = [
        f"**ERP records** ({out.get('purchase_order_lines')} purchase order lines, "
        f"{out.get('contract_prices')} contract prices)"
    ]
    if not records:
        lines.append("No purchase orders or contracts match in the synced ERP data.")
    for r in records[:8]:
        lines.append(
            f"- {r['source_system']} {r['document_type']} {r['document_number']}"
            f"{'/' + str(r['line']) if r.get('line') else ''} {r['date']}: {r['supplier_name']}, "
            f"{r['item_code']} at {money(r['price'])}"
            + (f" (qty {num(r['quantity'], 0)})" if r.get("quantity") is not None else "")
            + (" — open" if r.get("is_open") else "")
        )
    lines += [f"Note: {n}" for n in out.get("notes") or []]
    return lines


def _negotiation(out: dict[str, Any]) -> list[str]:
    batna = out.get("batna") or {}
    who = f" with {out['supplier']}" if out.get("supplier") else ""
    lines = [
        f"**Negotiation plan{who} for {out.get('item_code')} {out.get('item_name')}**, "
        f"{num(out.get('quantity'), 0)} {out.get('unit')}"
        + (f" on {out['rfq']}" if out.get("rfq") else "")
        + ":",
    ]
    if out.get("current_offer"):
        lines.append(f"- On the table: {money(out['current_offer'])}")
    lines += [
        f"- Opening offer: {money(out.get('opening_offer'))} ({out.get('opening_rule')})",
        f"- Target: {money(out.get('target_price'))} ({out.get('target_rule')})",
        f"- Walk away above: {money(out.get('walk_away_price'))} ({out.get('walk_away_rule')})",
        f"- Your alternative: {str(batna.get('kind', '')).replace('_', ' ')} at "
        f"{money(batna.get('price'))} — {batna.get('detail')}",
        f"Confidence: {out.get('confidence_label')} ({float(out.get('confidence', 0)):.2f}): "
        f"{out.get('confidence_reason')}",
    ]
    lines += ["Leverage:"] + [f"- {x}" for x in (out.get("leverage") or [])[:5]]
    lines += ["Talking points:"] + [f"- {x}" for x in (out.get("talking_points") or [])[:5]]
    lines += [f"Note: {c}" for c in (out.get("caveats") or [])[:3]]
    return lines


def _counter_offer(out: dict[str, Any]) -> list[str]:
    status = out.get("status")
    head = f"Counter-offer #{out.get('id')} to {out.get('supplier')} at {money(out.get('price'))}"
    if status == "approved":
        return [
            f"{head} was approved by {out.get('decision', {}).get('by')}.",
            str(out.get("delivery") or ""),
        ]
    if status in {"rejected", "abandoned"}:
        return [f"{head} was {status}; nothing was sent."]
    return [f"{head} is waiting for approval."]


def _erp_write(out: dict[str, Any]) -> list[str]:
    """Where a drafted ERP write stands: sent (with the ERP's number), failed, or not sent."""
    status, ref, name = out.get("status"), out.get("reference"), out.get("system_name")
    decided = out.get("decision") or {}
    requisition = out.get("action") == "create_requisition"
    if requisition:
        head = f"Requisition {ref}"
    else:
        contract = f"contract {out.get('contract_number')} line {out.get('line')}"
        head = f"The price change {ref} on {contract}"
    draft = f"The draft: {out.get('summary')}."
    if status == "sent":
        where = (
            f"created in {name} as {out.get('external_id')}"
            if requisition
            else f"made in {name} (its reference there: {out.get('external_id')})"
        )
        erp_says = f" {name} said: {out['erp_message']}." if out.get("erp_message") else ""
        return [f"{head} was {where}.{erp_says}", f"Sent: {out.get('summary')}."]
    if status == "failed":
        return [
            f"{head} was approved by {decided.get('by')}, but was not written: "
            f"{str(out.get('error')).rstrip('.')}.",
            "It is kept as failed; an operator can resend it with "
            f"`pricing-agent erp send {out.get('id')}`.",
            draft,
        ]
    if status in {"rejected", "abandoned"}:
        who = f" by {decided['by']}" if status == "rejected" and decided.get("by") else ""
        return [f"{head} was {status}{who}; nothing was written to {name}.", draft]
    if status == "pending_approval":
        return [f"{head} is waiting for approval; nothing has been written to {name}.", draft]
    # Approved or sending: no outcome was recorded, so only the ERP can tell.
    return [f"{head} is {status}.", str(out.get("delivery") or ""), draft]


def _generic(out: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, value in out.items():
        if key == "evidence":
            continue
        if isinstance(value, dict) and "amount" in value:
            lines.append(f"- {key.replace('_', ' ')}: {money(value)}")
        elif isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
            lines.append(f"- {key.replace('_', ' ')}: {value}")
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            lines.append(f"- {key.replace('_', ' ')}: " + "; ".join(value[:6]))
    return lines


RENDERERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "search_items": _search,
    "price_history": _history,
    "predict_price": _predict,
    "should_cost": _should_cost,
    "forecast_price": _forecast,
    "detect_anomalies": _anomalies,
    "compare_quotes": _compare,
    "check_price_increase": _increase,
    "supplier_scorecard": _scorecard,
    "erp_lookup": _erp,
    "draft_counter_offer": _counter_offer,
    "draft_requisition": _erp_write,
    "draft_contract_price_update": _erp_write,
    "negotiation_advice": _negotiation,
}


def compose_answer(
    reading: Reading,
    tools: list[str],
    runs: list[ToolRun],
    problem: str | None,
    notes: list[str] | None = None,
) -> str:
    """Write the answer from this turn's tool results."""
    parts: list[str] = []
    if reading.injection:
        parts.append(INJECTION_NOTE)
    if reading.off_topic and not tools:
        parts.append(
            "That is outside what I can do: I only answer pricing and procurement questions."
        )
    parts += notes or []
    shown = [r for r in runs if r.name != "search_items" or tools == ["search_items"]]
    for run in shown:
        if run.error:
            parts.append(f"{run.name} could not answer: {run.error.removeprefix('ERROR: ')}")
            continue
        output = run.output or {}
        render = RENDERERS.get(run.name, _generic)
        lines = [line for line in render(output) if line]
        if run.name == "predict_price" and reading.price is not None and output.get("p50"):
            lines.insert(1, _position(reading.price, output))
        if run.name == "negotiation_advice" and reading.price is not None:
            lines.insert(1, _against_plan(reading.price, output))
        evidence = _evidence(output)
        if evidence:
            lines.append(evidence)
        parts.append("\n".join(lines))
    if problem:
        parts.append(problem)
    if not shown and not problem and not notes:
        return "\n\n".join([*parts, help_text()])
    parts.append(OFFLINE_NOTE)
    return "\n\n".join(parts)
