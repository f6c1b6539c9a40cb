"""Pictures of tool outputs: price history with the model's band, forecasts, should-cost.

Inputs are the tools' outputs in JSON form (``model_dump(mode="json")``: money as
Decimal strings). Plot coordinates are floats, as a chart needs; every number a person
reads (hover text, labels) is the exact Decimal string the tool gave.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

from tools.detect_anomalies import band_severity

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
    "legend": {"orientation": "h", "y": -0.15},
    "height": 460,
}
FLAG_COLOUR = "#d62728"
BAND_COLOUR = "rgba(31, 119, 180, 0.15)"


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _money(m: dict[str, Any]) -> str:
    return f"{m['amount']} {m['currency']}/{m['unit']}"


TOP_SUPPLIERS = 6


def flag_points(
    points: list[dict[str, Any]], bands: dict[int, tuple[Decimal, Decimal, Decimal]]
) -> list[dict[str, Any]]:
    """Points far outside their own model band (a warning or worse, as the anomaly check
    scores it), the band being the model's P10-P50-P90 for their date and quantity."""
    flagged = []
    for point in points:
        band = bands.get(point["id"])
        if band is None:
            continue
        price = _d(point["price"]["amount"])
        severity = band_severity(price, *band)
        if severity in ("warning", "critical"):
            side = "above" if price > band[2] else "below"
            flagged.append({**point, "side": side, "band": band, "severity": severity})
    return flagged


def price_history_chart(
    history: dict[str, Any],
    band: dict[str, Any] | None = None,
    point_bands: dict[int, tuple[Decimal, Decimal, Decimal]] | None = None,
) -> tuple[go.Figure, list[dict[str, Any]]]:
    """Prices over time by supplier, today's P10-P90 band, and flagged quotes.

    ``point_bands`` gives each checked point the model's band for its own date, quantity
    and supplier; points outside theirs are flagged. Returns the figure and the flags.
    """
    unit, currency = history["unit"], history["currency"]
    points = history["points"]
    by_supplier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for point in points:
        by_supplier[point["supplier"]].append(point)
    ranked = sorted(by_supplier, key=lambda name: (-len(by_supplier[name]), name))
    groups = [(name[:32], by_supplier[name]) for name in ranked[:TOP_SUPPLIERS]]
    others = [p for name in ranked[TOP_SUPPLIERS:] for p in by_supplier[name]]
    if others:
        groups.append((f"{len(ranked) - TOP_SUPPLIERS} other suppliers", others))
    figure = go.Figure()
    for name, group in groups:
        figure.add_trace(
            go.Scatter(
                x=[p["date"] for p in group],
                y=[float(_d(p["price"]["amount"])) for p in group],
                mode="markers",
                name=name,
                marker={"size": 7, "opacity": 0.75},
                text=[
                    f"{p['supplier']}<br>{p['date']}: {_money(p['price'])}<br>"
                    f"qty {p['quantity']} · {p['source'].replace('_', ' ')} {p['reference'] or ''}"
                    for p in group
                ],
                hoverinfo="text",
            )
        )
    title = f"{history['item_code']} {history['item_name']}"[:60]
    subtitle = "prices quoted and paid"
    ceiling = _ceiling([_d(p["price"]["amount"]) for p in points])
    if band is not None and band["p50"]["unit"] == unit and band["p50"]["currency"] == currency:
        p10, p50, p90 = (_d(band[k]["amount"]) for k in ("p10", "p50", "p90"))
        figure.add_hrect(
            y0=float(p10),
            y1=float(p90),
            fillcolor=BAND_COLOUR,
            line_width=0,
            annotation_text=(
                f"today's band for {band['quantity']} {unit}: {p10}-{p90} (P50 {p50})"
            ),
            annotation_position="top left",
        )
        figure.add_hline(y=float(p50), line_dash="dash", line_color="#1f77b4")
        ceiling = max(ceiling, p90 * Decimal("1.5"))
    flagged = flag_points(points, point_bands or {})
    if flagged:
        figure.add_trace(
            go.Scatter(
                x=[p["date"] for p in flagged],
                y=[float(_d(p["price"]["amount"])) for p in flagged],
                mode="markers",
                name=f"flagged: far outside its own model band ({len(flagged)})",
                marker={
                    "symbol": "circle-open",
                    "size": 15,
                    "color": FLAG_COLOUR,
                    "line": {"width": 2},
                },
                text=[
                    f"{p['supplier']} {p['date']}: {_money(p['price'])}, {p['severity']}: "
                    f"{p['side']} its band {p['band'][0]}-{p['band'][2]}"
                    for p in flagged
                ],
                hoverinfo="text",
            )
        )
    hidden = sum(1 for p in points if _d(p["price"]["amount"]) > ceiling)
    if hidden:
        subtitle += f"; {hidden} higher prices are above the chart"
    figure.update_layout(
        title=f"{title}<br><sup>{subtitle}</sup>", yaxis_title=f"{currency} per {unit}", **_LAYOUT
    )
    figure.update_yaxes(range=[0, float(ceiling)])
    return figure, flagged


def _ceiling(prices: list[Decimal]) -> Decimal:
    """The top of the price axis: the 95th percentile with room, so outliers do not flatten it."""
    if not prices:
        return Decimal(1)
    ordered = sorted(prices)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * Decimal("1.3")


def forecast_chart(forecast: dict[str, Any]) -> go.Figure:
    """The forecast's expected path from the last value, with its 80% interval."""
    points = forecast["points"]
    dates = [forecast["last_date"], *[p["date"] for p in points]]
    last = float(_d(forecast["last_value"]))
    expected = [last, *[float(_d(p["expected"])) for p in points]]
    low = [last, *[float(_d(p["low"])) for p in points]]
    high = [last, *[float(_d(p["high"])) for p in points]]
    figure = go.Figure(
        [
            go.Scatter(x=dates, y=high, mode="lines", line={"width": 0}, showlegend=False),
            go.Scatter(
                x=dates,
                y=low,
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=BAND_COLOUR,
                name="80% interval",
            ),
            go.Scatter(
                x=dates,
                y=expected,
                mode="lines+markers",
                name=f"expected ({forecast['model']})",
                text=[f"{forecast['last_value']} (last)"] + [p["expected"] for p in points],
                hoverinfo="x+text",
            ),
        ]
    )
    figure.update_layout(
        title=f"{forecast['target']}: {len(points)}-month forecast ({forecast['direction']})",
        yaxis_title=forecast["unit"],
        **_LAYOUT,
    )
    return figure


def should_cost_chart(cost: dict[str, Any]) -> go.Figure:
    """A waterfall from cost lines (material, process, overhead, margin) to the unit total."""
    lines = cost["lines"]
    unit_total = cost["unit_total"]
    figure = go.Figure(
        go.Waterfall(
            orientation="v",
            measure=[*["relative"] * len(lines), "total"],
            x=[f"{line['group']}: {line['name']}"[:40] for line in lines] + ["should-cost"],
            y=[float(_d(line["amount"]["amount"])) for line in lines]
            + [float(_d(unit_total["amount"]))],
            text=[line["amount"]["amount"] for line in lines] + [unit_total["amount"]],
            textposition="outside",
            connector={"line": {"color": "#888"}},
        )
    )
    figure.update_layout(
        title=(
            f"{cost['item_code']} should-cost: {_money(unit_total)} "
            f"({cost['template']}, {cost['calibration']})"
        )[:120],
        yaxis_title=f"{unit_total['currency']} per {unit_total['unit']}",
        showlegend=False,
        **{k: v for k, v in _LAYOUT.items() if k != "legend"},
    )
    return figure
