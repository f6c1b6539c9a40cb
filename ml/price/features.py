"""Features of the quote-price model, built without leakage.

Two frames go in: the *targets* (quote lines to describe) and the *reference* (the
quotes whose prices may be used). Every feature drawn from other quotes is computed from
reference rows dated strictly before the target's quote date; in evaluation the
reference is the training fold only, in production the store's history. Market index
values count only once they would have been published (``PUBLICATION_LAG``).

Frames carry the columns of ``store.history.quote_history``: quote_date, item_id,
item_code, category, item_attributes, supplier_id, rfq_id, rfq_line_id, quantity, unit,
currency, line_attributes, and (reference only) unit_price.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

PUBLICATION_LAG = pd.Timedelta(days=45)
"""A monthly index for month M is published around mid M+1; never use it before."""

RECENT_WINDOW = pd.Timedelta(days=365)
MAX_LEVELS = 200
"""Categorical levels kept per column (most frequent first); rarer ones become missing."""

# Attributes that record the outcome of a bidding event (the bidder's rank, the award,
# the winning total): known only after all prices are in, so never a feature.
POST_HOC_ATTRIBUTES = frozenset(
    {
        "bid_rank",
        "rank",
        "pos",
        "position",
        "awarded",
        "winner",
        "won",
        "job_size_usd",
        "job_size",
        "total_bid",
        "contract_amount",
    }
)

BASE_CATEGORICALS = ("item", "supplier", "category", "unit", "currency")
BASE_NUMERICS = (
    "log_quantity",
    "years",
    "month",
    "rfq_lines",
    "item_prior_mean",
    "item_prior_n",
    "item_recent_mean",
    "item_recent_n",
    "supplier_item_prior_mean",
    "supplier_item_prior_n",
    "supplier_prior_premium",
    "supplier_prior_n",
    "index_level",
    "index_change_3m",
    "index_change_12m",
    "index_age_days",
)
EPOCH = pd.Timestamp("2000-01-01")


@dataclass
class FeatureSpec:
    """What the model was trained on: columns, kept categorical levels, index links."""

    categorical_levels: dict[str, list[str]] = field(default_factory=dict)
    numeric: list[str] = field(default_factory=list)
    attribute_columns: dict[str, str] = field(default_factory=dict)  # column -> number|text
    links: dict[str, str] = field(default_factory=dict)  # category -> index series code

    @property
    def columns(self) -> list[str]:
        """Feature matrix columns, in order."""
        return [*self.numeric, *self.categorical_levels]

    def to_json(self) -> dict[str, Any]:
        """Serialisable form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        """Inverse of ``to_json``."""
        return cls(**data)


# --------------------------------------------------------------------------- history


def _ns(dates: pd.Series) -> pd.Series:
    """One datetime resolution for every as-of join (pandas keeps s, ms, us and ns apart)."""
    return pd.to_datetime(dates).astype("datetime64[ns]")


def _prior(
    target: pd.DataFrame,
    reference: pd.DataFrame,
    keys: list[str],
    value: str,
    *,
    window: pd.Timedelta | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Mean and count of ``value`` over reference rows with the same keys, dated before.

    With ``window``, only reference rows in [date - window, date) count.
    """
    index = target.index
    if reference.empty or target.empty:
        nan = pd.Series(np.nan, index=index)
        return nan, pd.Series(0.0, index=index)
    ref = reference.dropna(subset=[value]).assign(quote_date=lambda f: _ns(f["quote_date"]))
    daily = (
        ref.groupby([*keys, "quote_date"], sort=False)[value]
        .agg(["sum", "count"])
        .reset_index()
        .sort_values("quote_date", kind="stable")
    )
    grouped = daily.groupby(keys, sort=False)
    daily["cum_sum"] = grouped["sum"].cumsum()
    daily["cum_n"] = grouped["count"].cumsum()
    lookup = daily[[*keys, "quote_date", "cum_sum", "cum_n"]]

    probe = target[keys].copy()
    probe["quote_date"] = _ns(target["quote_date"])
    probe["_row"] = np.arange(len(target))

    def cumulative(at: pd.Series) -> np.ndarray:
        left = probe.assign(quote_date=_ns(at)).sort_values("quote_date", kind="stable")
        # allow_exact_matches=False: a quote never sees quotes of its own date or later.
        merged = pd.merge_asof(left, lookup, on="quote_date", by=keys, allow_exact_matches=False)
        return merged.sort_values("_row")[["cum_sum", "cum_n"]].fillna(0.0).to_numpy()

    upto = cumulative(probe["quote_date"])
    total, n = upto[:, 0], upto[:, 1]
    if window is not None:
        before = cumulative(probe["quote_date"] - window)
        total, n = total - before[:, 0], n - before[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)
    return pd.Series(mean, index=index), pd.Series(n, index=index)


def history_features(target: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Price-history features of ``target`` drawn from ``reference`` strictly before each date."""
    ref = reference.loc[reference["unit_price"] > 0].copy()
    ref["log_price"] = np.log(ref["unit_price"])
    out = pd.DataFrame(index=target.index)
    out["item_prior_mean"], out["item_prior_n"] = _prior(target, ref, ["item_id"], "log_price")
    out["item_recent_mean"], out["item_recent_n"] = _prior(
        target, ref, ["item_id"], "log_price", window=RECENT_WINDOW
    )
    out["supplier_item_prior_mean"], out["supplier_item_prior_n"] = _prior(
        target, ref, ["supplier_id", "item_id"], "log_price"
    )
    # A supplier's usual premium: its prices against each item's level at the time, where
    # that level itself comes only from quotes before the quote in question.
    ref_level, _ = _prior(ref, ref, ["item_id"], "log_price")
    ref["premium"] = ref["log_price"] - ref_level
    out["supplier_prior_premium"], out["supplier_prior_n"] = _prior(
        target, ref, ["supplier_id"], "premium"
    )
    return out


# --------------------------------------------------------------------------- market index


def index_features(
    target: pd.DataFrame, index_obs: pd.DataFrame, links: dict[str, str]
) -> pd.DataFrame:
    """Level and recent change of the index linked to each line's category, as published."""
    out = pd.DataFrame(
        np.nan,
        index=target.index,
        columns=["index_level", "index_change_3m", "index_change_12m", "index_age_days"],
    )
    codes = target["category"].map(links)
    if index_obs.empty or codes.isna().all():
        return out
    obs = index_obs[index_obs["code"].isin(set(codes.dropna()))].sort_values(["code", "obs_date"])
    if obs.empty:
        return out
    grouped = obs.groupby("code")["value"]
    obs = obs.assign(
        change_3m=obs["value"] / grouped.shift(3) - 1,
        change_12m=obs["value"] / grouped.shift(12) - 1,
        available=_ns(obs["obs_date"] + PUBLICATION_LAG),
    ).sort_values("available", kind="stable")
    probe = pd.DataFrame(
        {"code": codes, "quote_date": _ns(target["quote_date"]), "_row": np.arange(len(target))}
    ).dropna(subset=["code"])
    probe = probe.sort_values("quote_date", kind="stable")
    merged = pd.merge_asof(
        probe,
        obs[["code", "available", "obs_date", "value", "change_3m", "change_12m"]],
        left_on="quote_date",
        right_on="available",
        by="code",
    ).set_index(target.index[probe["_row"].to_numpy()])
    out.loc[merged.index, "index_level"] = merged["value"]
    out.loc[merged.index, "index_change_3m"] = merged["change_3m"]
    out.loc[merged.index, "index_change_12m"] = merged["change_12m"]
    out.loc[merged.index, "index_age_days"] = (merged["quote_date"] - merged["obs_date"]).dt.days
    return out


# --------------------------------------------------------------------------- assembly


def _attribute_frame(series: pd.Series, prefix: str) -> pd.DataFrame:
    rows = [v if isinstance(v, dict) else {} for v in series]
    frame = pd.DataFrame.from_records(rows, index=series.index)
    keep = [c for c in frame.columns if str(c).lower() not in POST_HOC_ATTRIBUTES]
    # LightGBM accepts only plain names: attribute keys come from people's files.
    return frame[keep].rename(columns=lambda c: prefix + re.sub(r"\W", "_", str(c)))


def _is_number(column: pd.Series) -> bool:
    present = column.dropna()
    return bool(len(present)) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in present.iloc[:1000]
    )


def fit_spec(frame: pd.DataFrame, links: dict[str, str]) -> FeatureSpec:
    """Decide the feature columns and categorical levels from training rows."""
    attrs = pd.concat(
        [
            _attribute_frame(frame["item_attributes"], "item_attr__"),
            _attribute_frame(frame["line_attributes"], "line_attr__"),
        ],
        axis=1,
    )
    attribute_columns = {
        c: ("number" if _is_number(attrs[c]) else "text")
        for c in attrs.columns
        if attrs[c].notna().mean() >= 0.01  # present on at least 1% of lines
    }
    raw = _base_categoricals(frame)
    for column, kind in attribute_columns.items():
        if kind == "text":
            raw[column] = attrs[column].astype("string")
    levels = {c: [str(v) for v in raw[c].value_counts().index[:MAX_LEVELS]] for c in raw.columns}
    numeric = [*BASE_NUMERICS, *(c for c, k in attribute_columns.items() if k == "number")]
    return FeatureSpec(
        categorical_levels=levels,
        numeric=numeric,
        attribute_columns=attribute_columns,
        links=dict(links),
    )


def _base_categoricals(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": frame["item_code"].astype("string"),
            "supplier": frame["supplier_id"].astype("string"),
            "category": frame["category"].astype("string"),
            "unit": frame["unit"].astype("string"),
            "currency": frame["currency"].astype("string"),
        },
        index=frame.index,
    )


def build_matrix(
    target: pd.DataFrame,
    reference: pd.DataFrame,
    index_obs: pd.DataFrame,
    spec: FeatureSpec,
) -> pd.DataFrame:
    """The feature matrix of ``target`` (columns ``spec.columns``), history from ``reference``."""
    out = pd.DataFrame(index=target.index)
    out["log_quantity"] = np.log1p(target["quantity"].astype(float).clip(lower=0))
    out["years"] = (target["quote_date"] - EPOCH).dt.days / 365.25
    out["month"] = target["quote_date"].dt.month.astype(float)
    rfq_sizes = (
        pd.concat([target[["rfq_id", "rfq_line_id"]], reference[["rfq_id", "rfq_line_id"]]])
        .dropna()
        .drop_duplicates()
        .groupby("rfq_id")
        .size()
    )
    out["rfq_lines"] = target["rfq_id"].map(rfq_sizes).astype(float)
    out = out.join(history_features(target, reference))
    out = out.join(index_features(target, index_obs, spec.links))
    attrs = pd.concat(
        [
            _attribute_frame(target["item_attributes"], "item_attr__"),
            _attribute_frame(target["line_attributes"], "line_attr__"),
        ],
        axis=1,
    )
    categoricals = _base_categoricals(target)
    for column, kind in spec.attribute_columns.items():
        values = attrs[column] if column in attrs else pd.Series(np.nan, index=target.index)
        if kind == "number":
            out[column] = pd.to_numeric(values, errors="coerce").astype(float)
        else:
            categoricals[column] = values.astype("string")
    for column, levels in spec.categorical_levels.items():
        values = categoricals[column].astype(object)
        # Levels unseen in training (or beyond the cap) are missing, not new categories.
        values = values.where(values.isin(levels), None)
        out[column] = pd.Categorical(values, categories=levels)
    return out[spec.columns]
