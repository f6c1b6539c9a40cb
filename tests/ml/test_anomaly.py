"""Anomaly scoring: peers, model band, leak-free history, unbalanced bids, real INDOT bids."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInputError
from evals.datasets.indot import indot_history, indot_index, indot_links
from ml.anomaly import (
    HISTORY_THRESHOLDS,
    PEER_THRESHOLDS,
    SEVERITY_RANK,
    Thresholds,
    measure_detection,
    score_quotes,
    unbalanced_bids,
)

DAY = "2024-05-01"


def _line(
    line_id: int,
    price: float,
    *,
    day: str = DAY,
    item: int = 1,
    supplier: int = 10,
    rfq: int | None = 1,
    rfq_line: int | None = 1,
    quantity: float = 100.0,
) -> dict[str, object]:
    return {
        "line_id": line_id,
        "quote_date": pd.Timestamp(day),
        "item_id": item,
        "supplier_id": supplier,
        "rfq_id": rfq,
        "rfq_line_id": rfq_line,
        "quantity": quantity,
        "unit": "yd3",
        "currency": "USD",
        "unit_price": price,
    }


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["rfq_id"] = frame["rfq_id"].astype("Int64")
    frame["rfq_line_id"] = frame["rfq_line_id"].astype("Int64")
    return frame


def _bids(prices: list[float], *, rfq_line: int = 1, first_id: int = 0) -> list[dict[str, object]]:
    """One bid per supplier (10, 11, ...) on one RFQ line."""
    return [
        _line(first_id + i, p, supplier=10 + i, rfq_line=rfq_line) for i, p in enumerate(prices)
    ]


NO_HISTORY = _frame([_line(0, 1.0)]).iloc[0:0]


def _kinds(flags: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {f["kind"]: f for f in flags}


def test_a_doubled_bid_among_fair_peers_is_flagged_and_a_fair_one_is_not():
    lines = _frame(_bids([100.0, 104.0, 97.0, 200.0]))
    band = pd.DataFrame({"p10": 80.0, "p50": 100.0, "p90": 125.0}, index=lines.index)
    out = score_quotes(lines, NO_HISTORY, band=band)

    doubled = out.loc[3]
    assert doubled["peer_count"] == 3
    assert doubled["peer_score"] >= PEER_THRESHOLDS.warning
    assert doubled["model_score"] == pytest.approx(math.log(2) / math.log(1.25))
    flags = _kinds(doubled["flags"])
    peers, model = flags["far_from_peers"], flags["above_model_band"]
    assert peers["side"] == model["side"] == "high"
    assert SEVERITY_RANK[str(peers["severity"])] >= SEVERITY_RANK["warning"]
    assert SEVERITY_RANK[str(model["severity"])] >= SEVERITY_RANK["warning"]
    assert peers["reason"] == (
        "USD 200.00/yd3 is 2.0 times the median of the other 3 bids on this line (USD 100.00/yd3)"
    )
    assert "P90 USD 125.00/yd3" in str(model["reason"])

    fair = out.loc[1]
    assert abs(fair["peer_score"]) < 1
    assert abs(fair["model_score"]) < 1
    assert fair["flags"] == []
    assert fair["severity"] is None


def test_without_a_band_there_is_no_model_score_and_peers_still_work():
    out = score_quotes(_frame(_bids([100.0, 104.0, 97.0, 200.0])), NO_HISTORY)
    assert out["model_score"].isna().all()
    assert "far_from_peers" in _kinds(out.loc[3, "flags"])


def test_a_line_with_fewer_than_two_peers_gets_no_peer_score():
    rows = [
        *_bids([100.0, 300.0], rfq_line=1),  # one peer each
        _line(9, 500.0, rfq_line=None),  # not on an RFQ line at all
    ]
    # A second line of the same supplier does not count as its own peer.
    rows += [_line(5, 100.0, supplier=10, rfq_line=2), _line(6, 400.0, supplier=10, rfq_line=2)]
    rows += [_line(7, 100.0, supplier=11, rfq_line=2)]
    out = score_quotes(_frame(rows), NO_HISTORY)
    assert out["peer_score"].isna().all()
    assert (out["peer_count"] < 2).all()
    assert not any(f["kind"] == "far_from_peers" for flags in out["flags"] for f in flags)


def test_near_identical_peers_do_not_blow_up_the_score():
    out = score_quotes(_frame(_bids([100.0, 100.0, 100.0, 110.0])), NO_HISTORY)
    # MAD is 0; the floor keeps a 10% difference at well under one flag's worth.
    assert 0 < out.loc[3, "peer_score"] < PEER_THRESHOLDS.info
    assert out.loc[3, "flags"] == []


def _past(prices: list[float], *, start: str = "2024-01-01") -> list[dict[str, object]]:
    days = pd.date_range(start, periods=len(prices), freq="7D")
    return [
        _line(100 + i, p, day=str(d.date()), supplier=20 + i, rfq=None, rfq_line=None)
        for i, (p, d) in enumerate(zip(prices, days, strict=True))
    ]


def test_history_score_uses_only_the_items_earlier_quotes():
    earlier = _past([100.0, 96.0, 104.0, 99.0, 101.0, 103.0, 98.0])
    same_day = [_line(200, 900.0, supplier=30, rfq=None, rfq_line=None)]
    later = [_line(201, 5000.0, day="2024-06-01", supplier=31, rfq=None, rfq_line=None)]
    long_ago = _past([9000.0] * 5, start="2022-01-01")  # outside the 365-day window
    line = _frame([_line(1, 100.0)])
    history = _frame([*earlier, *same_day, *later, *long_ago])
    # The line itself sits in the history too, as it would in the store.
    history = pd.concat([history, line], ignore_index=True)

    first = score_quotes(line, history).iloc[0]
    assert first["history_count"] == len(earlier)
    assert first["history_median"] == pytest.approx(100.0)
    assert abs(first["history_score"]) < 0.5

    # Same-day and later prices change nothing; an earlier one does.
    changed = history.copy()
    changed.loc[changed["quote_date"] >= pd.Timestamp(DAY), "unit_price"] = 1.0
    again = score_quotes(line, changed).iloc[0]
    assert again["history_score"] == first["history_score"]
    moved = history.copy()
    moved.loc[0:3, "unit_price"] = 400.0
    assert score_quotes(line, moved).iloc[0]["history_score"] != first["history_score"]


def test_history_flags_a_price_far_above_the_items_past():
    history = _frame(_past([100.0, 96.0, 104.0, 99.0, 101.0, 103.0, 98.0]))
    out = score_quotes(_frame([_line(1, 400.0, rfq_line=None)]), history).iloc[0]
    assert out["history_score"] >= HISTORY_THRESHOLDS.critical
    flag = _kinds(out["flags"])["far_from_history"]
    assert flag["severity"] == "critical"
    assert flag["side"] == "high"
    assert "4.0 times the median of this item's 7 quotes in the previous 12 months" in str(
        flag["reason"]
    )


def _rfq(rfq: int, bidder: list[float], *, first_id: int) -> list[dict[str, object]]:
    """Six lines; three fair bidders within +-3% of 100, and a fourth bidding ``bidder``."""
    rng = np.random.default_rng(rfq)
    rows: list[dict[str, object]] = []
    for k in range(6):
        fair = 100.0 * (1 + rng.uniform(-0.03, 0.03, size=3))
        for s, price in enumerate([*fair, bidder[k]]):
            row = _line(first_id + len(rows), float(price), supplier=10 + s, rfq_line=rfq * 10 + k)
            row["rfq_id"] = rfq
            rows.append(row)
    return rows


def test_an_unbalanced_bidder_is_found_and_a_uniformly_cheap_one_is_not():
    unbalanced = _rfq(1, [60.0, 60.0, 160.0, 160.0, 100.0, 100.0], first_id=0)
    cheap = _rfq(2, [60.0] * 6, first_id=100)
    lines = _frame([*unbalanced, *cheap])

    found = unbalanced_bids(lines)
    assert len(found) == 1
    row = found.iloc[0]
    assert (row["rfq_id"], row["supplier_id"]) == (1, 13)
    assert (row["n_low"], row["n_high"]) == (2, 2)
    by_id = lines.set_index("line_id")
    assert sorted(by_id.loc[row["low_lines"], "unit_price"]) == [60.0, 60.0]
    assert sorted(by_id.loc[row["high_lines"], "unit_price"]) == [160.0, 160.0]
    assert SEVERITY_RANK[row["severity"]] >= SEVERITY_RANK["warning"]
    assert row["high_amount"] == pytest.approx(2 * 100 * (160 - 100), rel=0.1)

    out = score_quotes(lines, NO_HISTORY)
    marked = out["flags"].map(lambda fl: any(f["kind"] == "unbalanced_bid" for f in fl))
    assert set(lines.loc[marked, "line_id"]) == {*row["low_lines"], *row["high_lines"]}
    sides = {
        f["side"] for fl in out.loc[marked, "flags"] for f in fl if f["kind"] == "unbalanced_bid"
    }
    assert sides == {"low", "high"}
    # The cheap bidder's lines are far from peers, but only ever on the low side.
    cheap_flags = [f for fl in out["flags"][lines["rfq_id"] == 2] for f in fl]
    assert cheap_flags
    assert {f["side"] for f in cheap_flags} == {"low"}


def test_severity_grows_with_the_distance_and_flags_come_worst_first():
    ladder = [1.3, 1.45, 1.8, 3.0]
    rows: list[dict[str, object]] = []
    for k, size in enumerate(ladder):
        rows += _bids([100.0, 101.0, 99.0, 100.0 * size], rfq_line=k + 1, first_id=10 * k)
    lines = _frame(rows)
    out = score_quotes(lines, NO_HISTORY).set_index(lines["line_id"])
    worst = [out.loc[10 * k + 3, "severity"] for k in range(len(ladder))]
    assert worst == [None, "info", "warning", "critical"]

    band = pd.DataFrame({"p10": 80.0, "p50": 100.0, "p90": 125.0}, index=lines.index)
    scored = score_quotes(lines, NO_HISTORY, band=band)
    for flags in scored["flags"]:
        ranks = [SEVERITY_RANK[f["severity"]] for f in flags]
        assert ranks == sorted(ranks, reverse=True)
    assert all(
        s is None or s == flags[0]["severity"]
        for s, flags in zip(scored["severity"], scored["flags"], strict=True)
    )


def test_thresholds_map_scores_to_severities_on_both_sides():
    levels = Thresholds(info=1.0, warning=2.0, critical=3.0)
    assert [levels.severity(s) for s in (0.5, 1.0, -2.5, 3.0, -7.0, float("nan"))] == [
        None, "info", "warning", "critical", "critical", None,
    ]  # fmt: skip


def test_model_score_is_measured_in_band_half_widths():
    lines = _frame(_bids([125.0, 80.0, 100.0, 40.0]))
    band = pd.DataFrame(
        {"p10": [80.0, 80.0, 80.0, 100.0], "p50": 100.0, "p90": 125.0}, index=lines.index
    )
    out = score_quotes(lines, NO_HISTORY, band=band)
    assert out.loc[0, "model_score"] == pytest.approx(1.0)  # at the P90
    assert out.loc[1, "model_score"] == pytest.approx(-1.0)  # at the P10
    assert out.loc[2, "model_score"] == pytest.approx(0.0)
    # A lower half collapsed onto the P50 counts as a quarter of the P10-P90 width.
    assert out.loc[3, "model_score"] == pytest.approx(math.log(0.4) / (math.log(1.25) / 4))


def test_missing_columns_are_a_clear_error():
    with pytest.raises(InvalidInputError, match="unit_price"):
        score_quotes(_frame(_bids([1.0])).drop(columns="unit_price"), NO_HISTORY)


def test_doubled_real_bids_are_caught_by_their_peers():
    """INDOT, three months: double one bid on every line with 2+ other bids, peers only."""
    history = indot_history()
    when = history["quote_date"]
    lines = history[(when >= "2024-03-01") & (when < "2024-06-01")]
    bids = lines.groupby("rfq_line_id")["line_id"].transform("size")
    picked = lines[bids >= 3].groupby("rfq_line_id").sample(n=1, random_state=0).index
    doubled = lines.copy()
    doubled.loc[picked, "unit_price"] *= 2  # one per line: the others stay as bid
    out = score_quotes(doubled, NO_HISTORY)

    def caught(flags: list[dict[str, object]]) -> bool:
        return any(
            f["kind"] == "far_from_peers"
            and f["side"] == "high"
            and SEVERITY_RANK[str(f["severity"])] >= SEVERITY_RANK["warning"]
            for f in flags
        )

    alarm = out["flags"].map(caught)
    injected = lines.index.isin(picked)
    assert len(picked) > 500

    # Where the other bids agree (within x1.5) and the doubled bid was in line with them
    # (within 25% of their median), doubling it must stand out.
    logs = np.log(lines["unit_price"])
    clear = []
    for index in picked:
        same_line = lines["rfq_line_id"] == lines.at[index, "rfq_line_id"]
        others = logs[same_line & (lines.index != index)]
        agree = others.max() - others.min() <= math.log(1.5)
        clear.append(agree and abs(logs[index] - others.median()) <= math.log(1.25))
    clear_picked = picked[np.array(clear)]
    assert len(clear_picked) > 100
    assert alarm[clear_picked].mean() >= 0.8

    # Over every doubled bid, INDOT's spread between bidders caps what peers can see: a
    # bid 40% under the others is still unremarkable doubled. Honest floors, not goals.
    assert alarm[injected].mean() >= 0.4
    assert alarm[~injected].mean() <= 0.05


def test_measure_detection_reports_each_size_on_a_small_real_slice():
    history = indot_history()
    history = history[
        (history["quote_date"] >= "2023-09-01") & (history["quote_date"] < "2024-06-01")
    ]
    result = measure_detection(
        history, indot_index(), indot_links(), cutoff="2024-04-01", sizes=(1.3, 3.0),
        horizon_months=2, rounds=40,
    )  # fmt: skip
    assert result["slice"] == {"from": "2024-04-01", "until": "2024-06-01", "lines": 2810}
    small, large = result["sizes"]
    assert small["injected"] == large["injected"] == round(0.1 * 2810)
    assert 0 <= small["recall"] < large["recall"] <= 1
    assert large["precision"] > 0.3
    assert 0 < result["base_false_positive_rate"] < 0.15
