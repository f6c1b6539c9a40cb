"""Words and tables from tool outputs: one-line step summaries and the bid-leveling table.

Inputs are tools' outputs in JSON form; every number shown is the Decimal string the tool
gave (a total is cut to cents by Decimal quantize, never through a float).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

RECOMMENDED = "★"


def _cents(value: Any) -> str:
    return f"{Decimal(str(value)).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def _money(m: dict[str, Any] | None) -> str:
    return f"{m['amount']} {m['currency']}/{m['unit']}" if m else "-"


def summarize(tool: str, output: dict[str, Any] | None) -> str:  # noqa: PLR0911 - one per tool
    """One line saying what a tool found, for its step in the chat."""
    if not output:
        return "done"
    match tool:
        case "predict_price":
            return (
                f"{output['item_code']} × {output['quantity']}: P10 {_money(output['p10'])}, "
                f"P50 {_money(output['p50'])}, P90 {_money(output['p90'])} "
                f"(model v{output['model_version']}, {output['history_lines']} earlier lines)"
            )
        case "price_history":
            return (
                f"{output['item_code']}: {output['count']} prices {output['first_date']} to "
                f"{output['last_date']}, median {_money(output['median'])}"
            )
        case "compare_quotes":
            lines = output.get("lines") or []
            if output.get("bid_recommendation"):
                return str(output["bid_recommendation"])
            if lines:
                return str(lines[0]["recommendation"])
            return f"{len(output.get('bid_totals') or [])} bids leveled"
        case "should_cost":
            return (
                f"{output['item_code']}: should-cost {_money(output['unit_total'])} "
                f"({len(output['lines'])} cost lines)"
            )
        case "forecast_price":
            return str(output.get("reading") or output.get("direction"))
        case "draft_requisition" | "draft_contract_price_update":
            return f"#{output['id']} {output['status'].replace('_', ' ')}: {output['summary']}"
        case _:
            scalars = [f"{k}: {v}" for k, v in output.items() if isinstance(v, str | int | float)]
            return "; ".join(scalars[:4]) or "done"


def bid_table(output: dict[str, Any]) -> str:
    """Markdown tables of a bid leveling, the recommended award marked and in bold."""
    parts: list[str] = []
    currency = output.get("currency", "")
    totals = output.get("bid_totals") or []
    if totals:
        parts.append(f"**Whole bids on {output.get('rfq') or 'the RFQ'}** ({currency})\n")
        parts.append(
            "| Rank | Supplier | Landed total | Lines priced | Flagged lines | Unbalanced |"
        )
        parts.append("|---:|---|---:|---:|---:|---|")
        for bid in totals:
            row: tuple[str, ...] = (
                f"{bid['rank']}",
                bid["supplier"],
                _cents(bid["landed_total"]),
                f"{bid['lines_priced']}/{bid['lines_total']}",
                str(bid["flagged_lines"]),
                "yes" if bid["unbalanced"] else "no",
            )
            parts.append(_row(row, recommended=bid["rank"] == 1 and bid["complete"]))
        if output.get("bid_recommendation"):
            parts.append(f"\n{RECOMMENDED} {output['bid_recommendation']}\n")
    for line in output.get("lines") or []:
        title = line.get("rfq_line") or line.get("item_code") or "line"
        parts.append(
            f"\n**{title}: {line.get('item_name') or ''}** "
            f"({line['quantity']} {line['unit']}, {line['currency']})\n"
        )
        parts.append(
            "| Rank | Supplier | Unit price | Landed / unit | Landed total | Lead time | Band |"
        )
        parts.append("|---:|---|---:|---:|---:|---:|---|")
        for quote in line["quotes"]:
            flags = ", ".join(f["kind"] for f in quote["flags"] if f["severity"] != "info")
            cells: tuple[str, ...] = (
                str(quote["rank"]),
                quote["supplier"],
                _money(quote["unit_price"]),
                _money(quote["landed_per_unit"]),
                _cents(quote["landed_total"]),
                f"{quote['lead_time_days']} d" if quote["lead_time_days"] is not None else "-",
                (quote["band_position"] or "-") + (f" ⚠ {flags}" if flags else ""),
            )
            recommended = quote["supplier"] == line.get("recommended_supplier") and (
                line.get("recommended_quote_line_id") in (None, quote["quote_line_id"])
            )
            parts.append(_row(cells, recommended=recommended))
        parts.append(f"\n{RECOMMENDED} {line['recommendation']}\n")
    return "\n".join(parts)


def _row(cells: tuple[str, ...], *, recommended: bool) -> str:
    clean = [c.replace("|", "/") for c in cells]
    if recommended:
        clean = [f"**{c}**" for c in clean]
        clean[1] = f"{RECOMMENDED} {clean[1]}"
    return "| " + " | ".join(clean) + " |"


def import_report(report: dict[str, Any], rfqs: list[str]) -> str:
    """What an upload did: rows read, kept and rejected (with line numbers)."""
    text = (
        f"**{report['source']}**: {report['rows_read']} rows read, "
        f"{report['imported']} imported ({report['inserted']} new, {report['updated']} updated, "
        f"{report['unchanged']} unchanged), {report['rejected']} rejected."
    )
    rejections = report["rejections"]
    if rejections:
        shown = "\n".join(f"- line {r['line']}: {r['reason']}" for r in rejections[:15])
        more = f"\n- … and {len(rejections) - 15} more" if len(rejections) > 15 else ""
        text += f"\n\nRejected rows (the good rows were kept):\n{shown}{more}"
    if rfqs:
        text += f"\n\nThe file has bids on {', '.join(rfqs[:5])}. Compare them?"
    return text
