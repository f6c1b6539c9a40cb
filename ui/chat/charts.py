"""Pictures of tool outputs: price history with the model's band, forecasts, should-cost.

Inputs are the tools' outputs in JSON form (``model_dump(mode="json")``: money as
Decimal strings). Plot coordinates are floats, as a chart needs; every number a person
reads (hover text, labels) is the exact Decimal string the tool gave.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
    "height": 420,
}
FLAG_COLOUR = "#d62728"
BAND_COLOUR = "rgba(31, 119, 180, 0.15)"


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _money(m: dict[str, Any]) -> str:
    return f"{m['amount']} {m['currency']}/{m['unit']}"


def price_history_chart(
    history: dict[str, Any], band: dict[str, Any] | None = None
) -> tuple[go.Figure, list[dict[str, Any]]]:
    """Quotes and purchases over time by supplier, with today's P10-P90 band.

    Returns the figure and the flagged points: those of the last 12 months outside the
    band (the band is the model's for today's date and quantity, so only recent prices
    are compared with it).
    """
    unit, currency = history["unit"], history["currency"]
    by_supplier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for point in history["points"]:
        by_supplier[point["supplier"]].append(point)
    figure = go.Figure()
    for supplier, points in sorted(by_supplier.items()):
        figure.add_trace(
            go.Scatter(
                x=[p["date"] for p in points],
                y=[float(_d(p["price"]["amount"])) for p in points],
                mode="markers",
                name=supplier[:40],
                text=[
                    f"{supplier}<br>{p['date']}: {_money(p['price'])}<br>"
                    f"qty {p['quantity']} · {p['source'].replace('_', ' ')} {p['reference'] or ''}"
                    for p in points
                ],
                hoverinfo="text",
            )
        )
    flagged: list[dict[str, Any]] = []
    title = f"{history['item_code']} {history['item_name']}: price history ({currency}/{unit})"
    if band is not None and band["p50"]["unit"] == unit and band["p50"]["currency"] == currency:
        p10, p50, p90 = (_d(band[k]["amount"]) for k in ("p10", "p50", "p90"))
        figure.add_hrect(
            y0=float(p10),
            y1=float(p90),
            fillcolor=BAND_COLOUR,
            line_width=0,
            annotation_text=f"model band today: {p10}-{p90} (P50 {p50})",
            annotation_position="top left",
        )
        figure.add_hline(y=float(p50), line_dash="dash", line_color="#1f77b4")
        last = max((dt.date.fromisoformat(p["date"]) for p in history["points"]), default=None)
        recent = last - dt.timedelta(days=365) if last else None
        for point in history["points"]:
            price = _d(point["price"]["amount"])
            if (
                recent
                and dt.date.fromisoformat(point["date"]) >= recent
                and not p10 <= price <= p90
            ):
                flagged.append(point)
        if flagged:
            figure.add_trace(
                go.Scatter(
                    x=[p["date"] for p in flagged],
                    y=[float(_d(p["price"]["amount"])) for p in flagged],
                    mode="markers",
                    name="outside today's band",
                    marker={"symbol": "x-open", "size": 14, "color": FLAG_COLOUR},
                    text=[f"{p['supplier']}: {_money(p['price'])}" for p in flagged],
                    hoverinfo="text",
                )
            )
        title += f" · band for {band['quantity']} {unit}, model v{band['model_version']}"
    figure.update_layout(title=title, yaxis_title=f"{currency} per {unit}", **_LAYOUT)
    return figure, flagged


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
