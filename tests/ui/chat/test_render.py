"""Pictures and tables from tool outputs: exact money, the award marked, outliers flagged."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ui.chat import charts, render


def money(amount: str, unit: str = "lb") -> dict[str, str]:
    return {"amount": amount, "currency": "USD", "unit": unit}


def point(n: int, price: str, date: str = "2026-03-01", supplier: str = "ACME") -> dict[str, Any]:
    return {
        "id": n,
        "date": date,
        "source": "quote",
        "supplier": supplier,
        "quantity": "1000",
        "price": money(price),
        "reference": "B -1",
    }


def history(points: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "item_code": "703-06029",
        "item_name": "REBAR, EPOXY",
        "unit": "lb",
        "currency": "USD",
        "points": points,
    }


def test_quotes_far_outside_their_own_band_are_flagged_and_others_not() -> None:
    band = (Decimal("1.50"), Decimal("2.00"), Decimal("2.60"))
    points = [point(1, "2.10"), point(2, "2.70"), point(3, "9.00"), point(4, "0.40"), point(5, "5")]
    flagged = charts.flag_points(points, {1: band, 2: band, 3: band, 4: band})
    # 2.70 is just above the P90 (info); 9.00 and 0.40 are far out; 5 has no band.
    assert [(p["id"], p["side"]) for p in flagged] == [(3, "above"), (4, "below")]
    assert {p["severity"] for p in flagged} <= {"warning", "critical"}


def test_price_chart_keeps_outliers_off_the_axis_and_says_so() -> None:
    points = [point(n, f"2.{n:02d}", supplier=f"S{n % 9}") for n in range(1, 60)]
    points.append(point(99, "150.00"))
    band = {
        "p10": money("1.80"),
        "p50": money("2.30"),
        "p90": money("2.90"),
        "quantity": "40000",
        "model_version": 3,
    }
    figure, _ = charts.price_history_chart(history(points), band, {})
    layout = figure.layout
    assert layout.yaxis.range[1] < 150
    assert "1 higher prices are above the chart" in layout.title.text
    names = [trace.name for trace in figure.data]
    assert f"{9 - charts.TOP_SUPPLIERS + 1} other suppliers" in names[-1]  # S0..S8 + the outlier
    assert any("today's band for 40000 lb: 1.80-2.90" in a.text for a in layout.annotations)


def test_bid_table_marks_the_award_and_shows_exact_money() -> None:
    quote = {
        "rank": 1,
        "supplier": "HIS | CONSTRUCTORS",
        "quote_line_id": 7,
        "unit_price": money("805.0000", "yd3"),
        "landed_per_unit": money("805.0000", "yd3"),
        "landed_total": "76716.505",
        "lead_time_days": 14,
        "band_position": "p10_p50",
        "flags": [{"kind": "peer_high", "severity": "warning"}],
    }
    runner_up = {**quote, "rank": 2, "supplier": "MILESTONE", "quote_line_id": 8, "flags": []}
    output = {
        "currency": "USD",
        "rfq": "B -40276-A",
        "bid_totals": [],
        "lines": [
            {
                "rfq_line": "0010",
                "item_name": "CONCRETE",
                "quantity": "95.3",
                "unit": "yd3",
                "currency": "USD",
                "quotes": [quote, runner_up],
                "recommended_supplier": "HIS | CONSTRUCTORS",
                "recommended_quote_line_id": 7,
                "recommendation": "Award to HIS",
            }
        ],
    }
    table = render.bid_table(output)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "Rank" not in line]
    assert rows[0].startswith("| **1** | ★ **HIS / CONSTRUCTORS**")  # a pipe cannot split a cell
    assert "**805.0000 USD/yd3**" in rows[0]
    assert "**76,716.51**" in rows[0]  # cents by Decimal rounding, half up
    assert "⚠ peer_high" in rows[0]
    assert "★" not in rows[1]
    assert "**" not in rows[1]


def test_import_report_lists_rejections_by_line_and_offers_to_compare() -> None:
    report = {
        "source": "bids.csv",
        "rows_read": 40,
        "imported": 20,
        "inserted": 18,
        "updated": 2,
        "unchanged": 0,
        "rejected": 20,
        "rejections": [{"line": n, "reason": f"reason {n}"} for n in range(2, 22)],
    }
    text = render.import_report(report, ["B -1", "B -2"])
    assert "40 rows read, 20 imported (18 new, 2 updated, 0 unchanged), 20 rejected" in text
    assert "- line 2: reason 2" in text
    assert "- line 16: reason 16" in text
    assert "line 17" not in text
    assert "… and 5 more" in text
    assert text.endswith("The file has bids on B -1, B -2. Compare them?")


def test_step_summaries_quote_the_tool_output() -> None:
    prediction = {
        "item_code": "703-06029",
        "quantity": "40000",
        "p10": money("1.8162"),
        "p50": money("3.1953"),
        "p90": money("3.6685"),
        "model_version": 1,
        "history_lines": 1715,
    }
    line = render.summarize("predict_price", prediction)
    assert "P50 3.1953 USD/lb" in line
    assert "1715 earlier lines" in line
    assert render.summarize("erp_lookup", {"source": "SAP", "count": 2}) == "source: SAP; count: 2"
    assert render.summarize("anything", None) == "done"
    draft = {"id": 7, "status": "pending_approval", "summary": "requisition in SAP S/4HANA"}
    assert render.summarize("draft_requisition", draft) == (
        "#7 pending approval: requisition in SAP S/4HANA"
    )
