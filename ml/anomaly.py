"""Anomaly scoring of quote lines against the price model, the other bids and the item's past.

Three scores per line, each a signed distance in log price (so x2 and x0.5 are equally far;
positive means dearer):

``model_score``
    (log p - log P50) / half-width, in band half-widths: the half-width is log(P90 / P50)
    above the median and log(P50 / P10) below it, each at least a quarter of log(P90 / P10)
    (where the quantile models cross, one side of the band collapses onto the P50) and at
    least ``MODEL_HALF_WIDTH_FLOOR``. +1 is exactly the P90, -1 exactly the P10: |score| > 1
    is outside the model's 80% band; for a normal error +2 is about the 99.5th percentile.
``peer_score``
    (log p - m) / s against the *other* bids on the same RFQ line (same unit and currency,
    other suppliers): m their median log price, s = max(1.4826 * MAD, ``PEER_SCALE_FLOOR``).
    NaN with bids from fewer than ``MIN_PEERS`` other suppliers.
``history_score``
    The same robust z against the item's own quotes (same unit and currency) dated in
    [date - ``HISTORY_WINDOW``, date): strictly before the line, so never the line itself,
    its own RFQ's other bids or anything later. NaN with fewer than ``MIN_HISTORY`` quotes.

Each score crosses severity thresholds (info < warning < critical) into ``flags``, each
``{kind, severity, side ("high" | "low"), score, reason}``. A fourth kind,
``unbalanced_bid``, marks the lines of a bidder who is far below the other bids on some
lines of an RFQ and far above on others (front-loading); its ``score`` is the evidence
defined at ``UNBALANCED_THRESHOLDS``. Thresholds are named constants below, chosen on
INDOT bids dated before 2025-06-01 only (see their comments), so that measuring on the
period after 2025-06-01 stays honest.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.errors import InvalidInputError
from ml.price.model import ROUNDS, train_price_model

Severity = Literal["info", "warning", "critical"]
Kind = Literal[
    "above_model_band",
    "below_model_band",
    "far_from_peers",
    "far_from_history",
    "unbalanced_bid",
]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

ROBUST_SIGMA = 1.4826
"""MAD times this estimates the standard deviation of a normal sample."""


@dataclass(frozen=True)
class Thresholds:
    """Score magnitudes at which a flag becomes info, warning and critical."""

    info: float
    warning: float
    critical: float

    def severity(self, score: float) -> Severity | None:
        """The severity of ``|score|``, or None below the info threshold."""
        size = abs(score)
        if not math.isfinite(size) or size < self.info:
            return None
        if size >= self.critical:
            return "critical"
        return "warning" if size >= self.warning else "info"


# --------------------------------------------------------------------------- thresholds
#
# Chosen on INDOT bids dated before 2025-06-01 only (the training period of the measurement
# in ``measure_detection`` at that cutoff; nothing after it was looked at). Model scores:
# lines of 2024-12-01 .. 2025-05-31 with a band from a model trained before 2024-12-01.
# Peer, history and unbalanced-bid scores need no model: all lines before 2025-06-01. The
# criterion was an alarm budget, not a detection target: real lines with a high-side
# warning-or-worse should stay around 5-7% (a buyer reads every warning), taking the
# kinds that catch most of the same lines multiplied by 2 within that budget. Peers carry
# most of it; at equal alarm rates the model band and the item's history caught fewer.

MODEL_HALF_WIDTH_FLOOR = 0.05
"""Log half-width below which a band is treated as this narrow (avoids dividing by ~0)."""
MODEL_THRESHOLDS = Thresholds(info=1.0, warning=2.5, critical=4.0)
"""info = outside the 80% band (by design ~10% of real lines each side). Real lines
beyond +2.5: 1.2%; beyond +4: 0.3% (the band is wide: median P90/P50 = 1.8 on INDOT)."""

PEER_SCALE_FLOOR = 0.15
"""Log scale floor, just under the median robust spread of the other bids on an INDOT
line (0.18), so near-identical peers do not turn a 10% difference into a huge z."""
MIN_PEERS = 2
PEER_THRESHOLDS = Thresholds(info=2.0, warning=3.0, critical=5.0)
"""Real lines with peers beyond +2 / +3 / +5: 11.5% / 6.5% / 2.4% (about as many below):
INDOT bids on one line differ a lot. With the floor, a warning needs at least +57% over
the other bids' median and a critical at least +112%."""

HISTORY_WINDOW = pd.Timedelta(days=365)
HISTORY_SCALE_FLOOR = 0.15
MIN_HISTORY = 5
HISTORY_THRESHOLDS = Thresholds(info=3.0, warning=5.0, critical=8.0)
"""An item's past spans quantities, regions and years (median robust spread 0.48 log), so
this z is the weakest; real lines beyond +3 / +5 / +8: 2.5% / 0.5% / 0.07%."""

UNBALANCED_LOG_DEVIATION = 0.4
UNBALANCED_Z = 2.5
"""A line counts as far low (high) when it is at least this far below (above) the median
of the other bids on the line, both in log price (-33% / +49%) and in peer score."""
UNBALANCED_MIN_LINES = 2
"""Lines needed on *each* side for any unbalanced-bid flag."""
UNBALANCED_LINE_RATE = 0.078
"""Share of lines with at least two other bids that are far low (0.074) or far high
(0.082) before 2025-06: the chance rate in the binomial evidence below."""
UNBALANCED_THRESHOLDS = Thresholds(info=1.5, warning=2.0, critical=3.0)
"""On the evidence -log10(P(>= n_low far-low lines) * P(>= n_high far-high lines)) for a
bidder with n compared lines, each far low / far high with ``UNBALANCED_LINE_RATE``. Long
RFQs show a few far lines each way by chance (42% of INDOT bidder-RFQs have 2+ lines
beyond +-65% each way), so the bar rises with their length. Bidder-RFQs before 2025-06
flagged info / warning / critical: 2.3% / 2.0% / 1.0%."""

REQUIRED_COLUMNS = ("quote_date", "item_id", "supplier_id", "rfq_line_id", "unit_price")
HORIZON_MONTHS = 6


# --------------------------------------------------------------------------- helpers


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{what} lacks columns: {', '.join(missing)}")
    if what == "lines" and not frame.index.is_unique:
        raise InvalidInputError("lines need a unique index (a band is aligned to it)")


def _log(values: pd.Series) -> np.ndarray:
    """Log of positive prices; NaN for missing, zero or negative ones."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


def _text_column(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index)
    return frame[column].astype("string").fillna("")


def _supplier_codes(frame: pd.DataFrame) -> np.ndarray:
    """Integer supplier codes; each missing supplier is a supplier of its own."""
    codes = pd.factorize(frame["supplier_id"])[0].astype(np.int64)
    missing = codes < 0
    codes[missing] = -2 - np.arange(int(missing.sum()))
    return codes


def _robust(values: np.ndarray, floor: float) -> tuple[float, float]:
    """Median and robust scale (1.4826 * MAD, at least ``floor``) of ``values``."""
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    return median, max(ROBUST_SIGMA * mad, floor)


def _money(value: float, currency: str, unit: str) -> str:
    amount = f"{value:,.2f}" if value >= 0.1 else f"{value:.4g}"
    return f"{currency} {amount}".strip() + (f"/{unit}" if unit else "")


def _relative(log_ratio: float) -> str:
    """A log ratio in a buyer's words: '42% above', '55% below', '2.3 times', '1/40 of'."""
    ratio = round(math.exp(log_ratio), 6)  # exp(log 2) must read "2.0 times"
    if ratio >= 2:
        return f"{ratio:,.1f} times"
    if ratio >= 1:
        return f"{(ratio - 1) * 100:.0f}% above"
    if ratio >= 0.1:
        return f"{(1 - ratio) * 100:.0f}% below"
    return f"1/{1 / ratio:,.0f} of"


def _signed_pct(log_ratio: float) -> str:
    return f"{math.expm1(log_ratio) * 100:+.0f}%"


def _of(log_ratio: float) -> str:
    """'42% above the' / '2.3 times the' / '1/40 of the' (with the article the phrase needs)."""
    return _relative(log_ratio) + " the"


# --------------------------------------------------------------------------- peers


def _peer_stats(lines: pd.DataFrame, peer_log: np.ndarray) -> pd.DataFrame:
    """Per line: count, median and robust scale of the other suppliers' bids on its RFQ line."""
    n = len(lines)
    count = np.zeros(n)
    median = np.full(n, np.nan)
    scale = np.full(n, np.nan)
    line_ids = lines["rfq_line_id"]
    usable = line_ids.notna().to_numpy() & np.isfinite(peer_log)
    if usable.any():
        keys = pd.DataFrame(
            {
                "line": line_ids.astype("string"),
                "unit": _text_column(lines, "unit"),
                "currency": _text_column(lines, "currency"),
                "pos": np.arange(n),
            }
        )[usable]
        suppliers = _supplier_codes(lines)
        kept = keys["pos"].to_numpy()
        for members in keys.groupby(["line", "unit", "currency"], sort=False).indices.values():
            positions = kept[members]
            if len(positions) <= MIN_PEERS:
                continue  # no member can have MIN_PEERS other bids
            group_log = peer_log[positions]
            group_sup = suppliers[positions]
            for j, pos in enumerate(positions):
                other = group_sup != group_sup[j]
                if len(np.unique(group_sup[other])) < MIN_PEERS:
                    continue  # peers are other suppliers, not a second line of one
                others = group_log[other]
                count[pos] = len(others)
                median[pos], scale[pos] = _robust(others, PEER_SCALE_FLOOR)
    return pd.DataFrame(
        {"peer_count": count, "peer_log_median": median, "peer_log_scale": scale},
        index=lines.index,
    )


# --------------------------------------------------------------------------- history


_NAT = np.iinfo(np.int64).min


def _nanoseconds(dates: pd.Series) -> np.ndarray:
    """Dates as int64 nanoseconds (NaT is the int64 minimum); one resolution for searching."""
    values = pd.to_datetime(dates).astype("datetime64[ns]")
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _history_keys(frame: pd.DataFrame) -> pd.Series:
    return (
        frame["item_id"].astype("string").fillna("?")
        + "|"
        + _text_column(frame, "unit")
        + "|"
        + _text_column(frame, "currency")
    )


def _history_stats(lines: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """Per line: count, median and robust scale of the item's quotes in the window before it."""
    count = np.zeros(len(lines))
    median = np.full(len(lines), np.nan)
    scale = np.full(len(lines), np.nan)
    ref = pd.DataFrame(
        {
            "key": _history_keys(history),
            "ns": _nanoseconds(history["quote_date"]),
            "log": _log(history["unit_price"]),
        }
    )
    ref = ref[np.isfinite(ref["log"]) & (ref["ns"] != _NAT)].sort_values("ns", kind="stable")
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {
        str(key): (g["ns"].to_numpy(dtype=np.int64), g["log"].to_numpy(dtype=float))
        for key, g in ref.groupby("key", sort=False)
    }
    groups: dict[tuple[str, int], list[int]] = {}
    probe = zip(
        _history_keys(lines).tolist(), _nanoseconds(lines["quote_date"]).tolist(), strict=True
    )
    for pos, (key, ns) in enumerate(probe):
        groups.setdefault((str(key), int(ns)), []).append(pos)
    window = int(HISTORY_WINDOW.value)
    for (key, ns), rows in groups.items():
        found = series.get(key)
        if found is None or ns == _NAT:
            continue
        dates, logs = found
        # side="left" on the line's own date: quotes of that day or later never count.
        hi = int(np.searchsorted(dates, ns, side="left"))
        lo = int(np.searchsorted(dates, ns - window, side="left"))
        if hi - lo < MIN_HISTORY:
            continue
        positions = np.asarray(rows, dtype=np.int64)
        count[positions] = hi - lo
        median[positions], scale[positions] = _robust(logs[lo:hi], HISTORY_SCALE_FLOOR)
    return pd.DataFrame(
        {"history_count": count, "history_log_median": median, "history_log_scale": scale},
        index=lines.index,
    )


# --------------------------------------------------------------------------- unbalanced


@dataclass(frozen=True)
class _Unbalanced:
    rfq_id: Any
    supplier_id: Any
    low: pd.DataFrame  # the bidder's low lines: pos, line_id, dev, quantity, price
    high: pd.DataFrame
    severity: Severity
    reason: str
    low_amount: float
    high_amount: float
    evidence: float


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def _unbalanced(
    lines: pd.DataFrame, deviation: np.ndarray, peer_score: np.ndarray
) -> list[_Unbalanced]:
    """Unbalanced bidders from each line's log deviation from, and score against, its peers."""
    if "rfq_id" not in lines.columns or lines.empty:
        return []
    ids = lines["line_id"] if "line_id" in lines.columns else pd.Series(lines.index)
    quantity = (
        pd.to_numeric(lines["quantity"], errors="coerce").to_numpy(dtype=float)
        if "quantity" in lines.columns
        else np.full(len(lines), np.nan)
    )
    frame = pd.DataFrame(
        {
            "rfq_id": lines["rfq_id"].to_numpy(),
            "supplier_id": lines["supplier_id"].to_numpy(),
            "dev": deviation,
            "z": peer_score,
            "pos": np.arange(len(lines)),
            "line_id": ids.to_numpy(),
            "quantity": quantity,
            "price": pd.to_numeric(lines["unit_price"], errors="coerce").to_numpy(dtype=float),
            "currency": _text_column(lines, "currency").to_numpy(),
        }
    )
    frame = frame[frame["rfq_id"].notna() & frame["supplier_id"].notna() & frame["z"].notna()]
    far_low = (frame["dev"] <= -UNBALANCED_LOG_DEVIATION) & (frame["z"] <= -UNBALANCED_Z)
    far_high = (frame["dev"] >= UNBALANCED_LOG_DEVIATION) & (frame["z"] >= UNBALANCED_Z)
    frame = frame.assign(far_low=far_low, far_high=far_high)
    counts = frame.groupby(["rfq_id", "supplier_id"], sort=False)[["far_low", "far_high"]].sum()
    candidates = counts[counts.min(axis=1) >= UNBALANCED_MIN_LINES].index
    if candidates.empty:
        return []
    keyed = frame.set_index(["rfq_id", "supplier_id"])
    found: list[_Unbalanced] = []
    for rfq, supplier in candidates:
        g = keyed.loc[[(rfq, supplier)]]
        low, high = g[g["far_low"]], g[g["far_high"]]
        n = len(g)
        chance = _binomial_tail(len(low), n, UNBALANCED_LINE_RATE) * _binomial_tail(
            len(high), n, UNBALANCED_LINE_RATE
        )
        evidence = -math.log10(max(chance, 1e-300))
        severity = UNBALANCED_THRESHOLDS.severity(evidence)
        if severity is None:
            continue
        low_dev = float(np.median(low["dev"]))
        high_dev = float(np.median(high["dev"]))
        # Money moved: a high line's price minus the other bids' median is
        # price * (1 - exp(-dev)); a low line's shortfall is price * (exp(-dev) - 1).
        low_amount = float((low["quantity"] * low["price"] * np.expm1(-low["dev"])).sum())
        high_amount = float((high["quantity"] * high["price"] * -np.expm1(-high["dev"])).sum())
        currency = str(g["currency"].iloc[0])
        money = ""
        if low_amount > 0 and high_amount > 0:
            money = (
                f"; {currency} {low_amount:,.0f} under the others' medians on the low lines, "
                f"{currency} {high_amount:,.0f} over them on the high lines"
            )
        odds = 1 / max(chance, 1e-12)
        reason = (
            f"This bidder is far below the other bids on {len(low)} of its {n} compared "
            f"lines on this RFQ (typically {_signed_pct(low_dev)}) and far above on "
            f"{len(high)} (typically {_signed_pct(high_dev)}){money}. Chance alone gives "
            f"that about once in {odds:,.0f} bids: the pattern of an unbalanced "
            "(front-loaded) bid. Check the quantities of the high lines before awarding."
        )
        found.append(
            _Unbalanced(
                rfq, supplier, low, high, severity, reason, low_amount, high_amount, evidence
            )
        )
    return found


def unbalanced_bids(lines: pd.DataFrame) -> pd.DataFrame:
    """Find bidders far below the other bids on some lines of an RFQ and far above on others.

    Returns one row per flagged (rfq_id, supplier_id): ``low_lines`` and ``high_lines``
    (their ``line_id`` values, or index labels without that column), ``n_low``, ``n_high``,
    the median deviation of each side in % (``low_deviation_pct``, ``high_deviation_pct``),
    the money under / over the other bids' medians on each side (``low_amount``,
    ``high_amount``; NaN without quantities), ``severity`` and ``reason``. Only lines with
    at least ``MIN_PEERS`` other bids count, so each deviation is judged against several
    competitors.
    """
    _check_columns(lines, (*REQUIRED_COLUMNS, "rfq_id"), "lines")
    own = _log(lines["unit_price"])
    peers = _peer_stats(lines, own)
    deviation = own - peers["peer_log_median"].to_numpy()
    rows = [
        {
            "rfq_id": u.rfq_id,
            "supplier_id": u.supplier_id,
            "low_lines": u.low["line_id"].tolist(),
            "high_lines": u.high["line_id"].tolist(),
            "n_low": len(u.low),
            "n_high": len(u.high),
            "low_deviation_pct": round(float(np.expm1(np.median(u.low["dev"]))) * 100, 1),
            "high_deviation_pct": round(float(np.expm1(np.median(u.high["dev"]))) * 100, 1),
            "low_amount": u.low_amount,
            "high_amount": u.high_amount,
            "evidence": round(u.evidence, 2),
            "severity": u.severity,
            "reason": u.reason,
        }
        for u in _unbalanced(lines, deviation, deviation / peers["peer_log_scale"].to_numpy())
    ]
    columns = [
        "rfq_id",
        "supplier_id",
        "low_lines",
        "high_lines",
        "n_low",
        "n_high",
        "low_deviation_pct",
        "high_deviation_pct",
        "low_amount",
        "high_amount",
        "evidence",
        "severity",
        "reason",
    ]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- scoring


def _flag(kind: Kind, severity: Severity, side: str, reason: str, score: float) -> dict[str, Any]:
    return {
        "kind": kind,
        "severity": severity,
        "side": side,
        "score": round(score, 2),
        "reason": reason,
    }


def _model_flag(
    price: float, score: float, band: tuple[float, float, float], currency: str, unit: str
) -> dict[str, Any] | None:
    severity = MODEL_THRESHOLDS.severity(score)
    if severity is None:
        return None
    p10, p50, p90 = band
    if score > 0:
        reason = (
            f"{_money(price, currency, unit)} is above the model's 80% band "
            f"(P90 {_money(p90, currency, unit)}, P50 {_money(p50, currency, unit)}): "
            f"{_of(math.log(price / p90))} P90"
        )
        return _flag("above_model_band", severity, "high", reason, score)
    reason = (
        f"{_money(price, currency, unit)} is below the model's 80% band "
        f"(P10 {_money(p10, currency, unit)}, P50 {_money(p50, currency, unit)}): "
        f"{_of(math.log(price / p10))} P10"
    )
    return _flag("below_model_band", severity, "low", reason, score)


def _distance_flag(
    kind: Kind,
    thresholds: Thresholds,
    price: float,
    score: float,
    what: str,
    median: float,
    currency: str,
    unit: str,
) -> dict[str, Any] | None:
    severity = thresholds.severity(score)
    if severity is None:
        return None
    reason = (
        f"{_money(price, currency, unit)} is {_of(math.log(price / median))} median of "
        f"{what} ({_money(median, currency, unit)})"
    )
    return _flag(kind, severity, "high" if score > 0 else "low", reason, score)


def _model_scores(own: np.ndarray, band: pd.DataFrame) -> np.ndarray:
    l10, l50, l90 = _log(band["p10"]), _log(band["p50"]), _log(band["p90"])
    # A side may not be narrower than half the mean half-width: where the quantile models
    # cross, the model clamps P10 (or P90) onto the P50 and that side collapses.
    least = np.maximum((l90 - l10) / 4, MODEL_HALF_WIDTH_FLOOR)
    up = np.maximum(l90 - l50, least)
    down = np.maximum(l50 - l10, least)
    dist = own - l50
    with np.errstate(invalid="ignore"):
        scores: np.ndarray = np.where(dist >= 0, dist / up, dist / down)
    return scores


def _score(
    lines: pd.DataFrame,
    history: pd.DataFrame,
    band: pd.DataFrame | None,
    peer_log: np.ndarray,
) -> pd.DataFrame:
    """``score_quotes`` with the peers' log prices given (measurement keeps them original)."""
    own = _log(lines["unit_price"])
    if band is None:
        aligned = pd.DataFrame(np.nan, index=lines.index, columns=["p10", "p50", "p90"])
    else:
        _check_columns(band, ("p10", "p50", "p90"), "band")
        aligned = band.reindex(lines.index)[["p10", "p50", "p90"]].astype(float)
    model = _model_scores(own, aligned)
    peers = _peer_stats(lines, peer_log)
    past = _history_stats(lines, history)
    with np.errstate(invalid="ignore"):
        peer = (own - peers["peer_log_median"].to_numpy()) / peers["peer_log_scale"].to_numpy()
        hist = (own - past["history_log_median"].to_numpy()) / past["history_log_scale"].to_numpy()
    peer_n = peers["peer_count"].to_numpy(dtype=int)
    peer_med = np.exp(peers["peer_log_median"].to_numpy())
    hist_n = past["history_count"].to_numpy(dtype=int)
    hist_med = np.exp(past["history_log_median"].to_numpy())

    currency = _text_column(lines, "currency").tolist()
    unit = _text_column(lines, "unit").tolist()
    price = np.exp(own)
    bands = aligned.to_numpy()
    flags: list[list[dict[str, Any]]] = []
    for i in range(len(lines)):
        cur, uom, p = str(currency[i]), str(unit[i]), float(price[i])
        found = [
            _model_flag(p, float(model[i]), (bands[i, 0], bands[i, 1], bands[i, 2]), cur, uom),
            _distance_flag(
                "far_from_peers",
                PEER_THRESHOLDS,
                p,
                float(peer[i]),
                f"the other {peer_n[i]} bids on this line",
                float(peer_med[i]),
                cur,
                uom,
            ),
            _distance_flag(
                "far_from_history",
                HISTORY_THRESHOLDS,
                p,
                float(hist[i]),
                f"this item's {hist_n[i]} quotes in the previous 12 months",
                float(hist_med[i]),
                cur,
                uom,
            ),
        ]
        flags.append([f for f in found if f is not None])

    deviation = own - peers["peer_log_median"].to_numpy()
    for bidder in _unbalanced(lines, deviation, peer):
        for side, part in (("low", bidder.low), ("high", bidder.high)):
            for pos in part["pos"].tolist():
                flags[pos].append(
                    _flag(
                        "unbalanced_bid",
                        bidder.severity,
                        side,
                        bidder.reason,
                        bidder.evidence,
                    )
                )
    for row_flags in flags:
        row_flags.sort(key=lambda f: -SEVERITY_RANK[f["severity"]])

    return pd.DataFrame(
        {
            "model_score": model,
            "peer_score": peer,
            "history_score": hist,
            "peer_count": peer_n,
            "peer_median": peer_med,
            "history_count": hist_n,
            "history_median": hist_med,
            "flags": pd.Series(flags, index=lines.index, dtype=object),
            "severity": pd.Series(
                [f[0]["severity"] if f else None for f in flags], index=lines.index, dtype=object
            ),
        },
        index=lines.index,
    )


def score_quotes(
    lines: pd.DataFrame, history: pd.DataFrame, *, band: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Score quote lines against the model band, the other bids and the item's past prices.

    ``lines`` and ``history`` carry the quote-history columns (``quote_date, item_id,
    supplier_id, rfq_id, rfq_line_id, quantity, unit, currency, unit_price``); ``band``
    (optional, indexed like ``lines``) the price model's ``p10, p50, p90``. Returns, indexed
    like ``lines``: ``model_score``, ``peer_score``, ``history_score`` (defined in the
    module docstring; NaN where there is no band, too few peers or too little history),
    ``peer_count``, ``peer_median``, ``history_count``, ``history_median``, ``flags`` (a
    list of ``{kind, severity, side, score, reason}``, worst first) and ``severity`` (the
    worst flag's, or None).

    Only quotes of ``history`` dated strictly before a line feed its history score, so a
    line never judges itself and scoring is the same whatever was quoted later.
    """
    _check_columns(lines, REQUIRED_COLUMNS, "lines")
    _check_columns(history, ("quote_date", "item_id", "unit_price"), "history")
    return _score(lines, history, band, _log(lines["unit_price"]))


# --------------------------------------------------------------------------- measurement


def _is_high_alarm(flags: list[dict[str, Any]]) -> bool:
    return any(
        f["side"] == "high" and SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK["warning"]
        for f in flags
    )


def _kinds_alarmed(flags: list[dict[str, Any]]) -> set[str]:
    return {
        f["kind"]
        for f in flags
        if f["side"] == "high" and SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK["warning"]
    }


def measure_detection(
    history: pd.DataFrame,
    index_obs: pd.DataFrame,
    links: dict[str, str],
    *,
    cutoff: dt.date | str,
    sizes: tuple[float, ...] = (1.3, 1.5, 2.0),
    share: float = 0.1,
    seed: int = 0,
    horizon_months: int = HORIZON_MONTHS,
    rounds: int = ROUNDS,
) -> dict[str, Any]:
    """Measure how well scoring finds overpriced lines injected into real held-out bids.

    The price model is trained on lines dated strictly before ``cutoff``. The slice scored
    is the lines dated in [cutoff, cutoff + ``horizon_months``). One random ``share`` of its
    lines (the same lines for every size) has its unit price multiplied by each size in
    turn; every line of the slice is then scored with the band and the history score drawn
    from training lines only, and each injected line's peers are the *original* other bids.
    A line is "detected" when it carries a warning-or-worse flag on the high side.
    ``rounds`` is passed to the price model (fewer only to keep tests fast).

    Per size: ``injected``, ``flagged`` (lines of the slice detected), ``true_positives``,
    ``precision``, ``recall``, ``recall_by_kind``, ``recall_with_peers`` (over injected
    lines that have a peer score) and ``untouched_flag_rate`` (detected untouched lines over
    untouched lines; it moves a little with the size because an injected line can make its
    bidder look unbalanced). ``base_false_positive_rate`` is the share of the slice detected
    with nothing injected.

    Real bid data already contains genuine anomalies (typos, unbalanced and front-loaded
    bids, mispriced items): an untouched line that is flagged is counted as a false
    positive even when it deserves the flag, so ``precision`` is a lower bound and the
    "false-positive" rate an upper bound.
    """
    when = pd.Timestamp(cutoff)
    priced = history.loc[pd.to_numeric(history["unit_price"], errors="coerce") > 0]
    train = priced[priced["quote_date"] < when]
    end = when + pd.DateOffset(months=horizon_months)
    test = priced[(priced["quote_date"] >= when) & (priced["quote_date"] < end)]
    if train.empty or test.empty:
        raise InvalidInputError(f"the cutoff {when.date()} leaves no training or no test lines")
    if not 0 < share < 1:
        raise InvalidInputError("share must be between 0 and 1")

    started = time.perf_counter()
    model = train_price_model(train, index_obs, links, rounds=rounds)
    trained_at = time.perf_counter()
    # A line's band depends on its features and the history, never on its own price, so
    # one band serves every injected variant.
    band = model.predict(test, train, index_obs)
    original = _log(test["unit_price"])

    base = _score(test, train, band, original)
    base_alarm = np.array([_is_high_alarm(f) for f in base["flags"]])
    has_peers = base["peer_score"].notna().to_numpy()

    rng = np.random.default_rng(seed)
    n_inject = max(1, round(share * len(test)))
    injected = np.zeros(len(test), dtype=bool)
    injected[rng.choice(len(test), size=n_inject, replace=False)] = True

    results: list[dict[str, Any]] = []
    for size in sizes:
        changed = test.copy()
        factor = np.where(injected, float(size), 1.0)
        changed["unit_price"] = changed["unit_price"].to_numpy(dtype=float) * factor
        scored = _score(changed, train, band, original)
        alarm = np.array([_is_high_alarm(f) for f in scored["flags"]])
        tp = int((alarm & injected).sum())
        kinds: dict[str, int] = {}
        for flags in scored["flags"][injected]:
            for kind in _kinds_alarmed(flags):
                kinds[kind] = kinds.get(kind, 0) + 1
        results.append(
            {
                "size": float(size),
                "injected": int(injected.sum()),
                "flagged": int(alarm.sum()),
                "true_positives": tp,
                "precision": tp / int(alarm.sum()) if alarm.any() else float("nan"),
                "recall": tp / int(injected.sum()),
                "recall_by_kind": {k: v / int(injected.sum()) for k, v in sorted(kinds.items())},
                "recall_with_peers": float(alarm[injected & has_peers].mean()),
                "untouched_flag_rate": float(alarm[~injected].mean()),
            }
        )

    coverage = float(
        np.mean(
            (test["unit_price"].to_numpy() >= band["p10"].to_numpy())
            & (test["unit_price"].to_numpy() <= band["p90"].to_numpy())
        )
    )
    return {
        "cutoff": str(when.date()),
        "slice": {"from": str(when.date()), "until": str(end.date()), "lines": len(test)},
        "training_lines": len(train),
        "share": share,
        "seed": seed,
        "band_coverage_80": coverage,
        "lines_with_peer_score": int(base["peer_score"].notna().sum()),
        "lines_with_history_score": int(base["history_score"].notna().sum()),
        "base_false_positive_rate": float(base_alarm.mean()),
        "base_flagged": int(base_alarm.sum()),
        "sizes": results,
        "seconds_training": round(trained_at - started, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def band_severity(price: float, p10: float, p50: float, p90: float) -> Severity | None:
    """Severity of one price against its model band (None inside it), as the checks score it."""
    if min(price, p10, p50, p90) <= 0:
        return None
    band = pd.DataFrame({"p10": [p10], "p50": [p50], "p90": [p90]})
    score = float(_model_scores(np.log(np.array([price])), band)[0])
    return MODEL_THRESHOLDS.severity(score)
