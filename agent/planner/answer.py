"""The offline planner's answers: templated from the tools' structured results.

Every number comes from a tool result, with its currency and unit. Text that came from
documents (supplier names, descriptions, notes) is quoted as data, never acted on.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.planner.plan import ToolRun
    from agent.planner.reading import Reading

OFFLINE_NOTE = (
    "_Offline planner: no language model is configured, so this answer was assembled "
    "from the tool results by rules._"
)
INJECTION_NOTE = (
    "I only work within your organisation's data and my fixed rules; instructions to "
    "change that are ignored."
)


def help_text() -> str:
    """What the assistant can do, for a message it could not place."""
    return (
        "I can help with: what an item should cost (fair-price band), price history, quote "
        "leveling for an RFQ, should-cost build-ups, anomaly checks, price forecasts, "
        "supplier price-increase requests, negotiation targets, supplier scorecards, ERP "
        "purchase orders and contracts, item search, and drafting counter-offers for your "
        "approval. Name an item, supplier or RFQ, for example: “What should 500 TON of "
        "epoxy coated rebar cost?”\n\n" + OFFLINE_NOTE
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
    places = 2 if abs(amount) >= 1 else 4
    return f"{value.get('currency', '')} {num(amount, places)}/{value.get('unit', '')}"


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
        f"- {r.get('code')} {r.get('name')} ({r.get('unit') or '-'}, {r.get('category') or 'no category'})"
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
        f"Model v{out.get('model_version')}, {out.get('history_lines')} earlier quotes of this item."
    )
    return lines


def _should_cost(out: dict[str, Any]) -> list[str]:
    lines = [
        f"**Should-cost of {out.get('item_code')}** ({out.get('template')} template, "
        f"{out.get('calibration')}): {money(out.get('unit_total'))}, "
        f"{out.get('currency')} {num(out.get('total'))} for {num(out.get('quantity'), 0)} {out.get('unit')}."
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
        f"(range {num(last.get('low'))} to {num(last.get('high'))}), direction: {out.get('direction')}.",
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
}


def compose_answer(
    reading: Reading, tools: list[str], runs: list[ToolRun], problem: str | None
) -> str:
    """Write the answer from this turn's tool results."""
    parts: list[str] = []
    if reading.injection:
        parts.append(INJECTION_NOTE)
    shown = [r for r in runs if r.name != "search_items" or tools == ["search_items"]]
    for run in shown:
        if run.error:
            parts.append(f"{run.name} could not answer: {run.error.removeprefix('ERROR: ')}")
            continue
        output = run.output or {}
        render = RENDERERS.get(run.name, _generic)
        lines = [line for line in render(output) if line]
        evidence = _evidence(output)
        if evidence:
            lines.append(evidence)
        parts.append("\n".join(lines))
    if problem:
        parts.append(problem)
    if not parts or (not shown and not problem):
        return help_text()
    parts.append(OFFLINE_NOTE)
    return "\n\n".join(parts)
