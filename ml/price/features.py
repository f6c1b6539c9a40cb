"""Features of the quote-price model, built without leakage.

Two frames go in: the *targets* (quote lines to describe) and the *reference* (the
quotes whose prices may be used). Every feature drawn from other quotes is computed from
reference rows dated strictly before the target's quote date; in evaluation the
reference is the training fold only, in production the store's history. Market index
values count only once they would have been published (``PUBLICATION_LAG``).

Frames carry the columns of ``store.history.quote_history``: quote_date, item_id,
item_code, category, item_attributes, supplier_id, rfq_id, rfq_line_id, quantity, unit,
currency, line_attributes, and (reference only) unit_price.

Serving prices one line at a time, where a groupby over the whole reference per line is
too slow: ``HistoryLookup`` and ``IndexLookup`` index the reference and the observations
once and then answer by binary search, and ``LineEncoder`` writes a line's features
straight into the boosters' input. They give exactly the numbers of ``history_features``,
``index_features`` and ``build_matrix``, which stay the reference implementation (the
tests compare the two). Because every history feature looks strictly before the line's
date, one lookup over all history serves lines of any date.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Sequence
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
_DAY_NS = pd.Timedelta(days=1).value


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


def _daily_cumulative(ref: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Per key and date: running sum and count of ``value`` up to and including that date.

    ``ref`` has no missing ``value`` and nanosecond ``quote_date``. Each running sum adds a
    key's days in date order, so its value at a date never depends on later rows: a
    reference cut at any date gives the same sums up to that date.
    """
    daily = (
        ref.groupby([*keys, "quote_date"], sort=False)[value]
        .agg(["sum", "count"])
        .reset_index()
        .sort_values("quote_date", kind="stable")
    )
    grouped = daily.groupby(keys, sort=False)
    daily["cum_sum"] = grouped["sum"].cumsum()
    daily["cum_n"] = grouped["count"].cumsum()
    return daily[[*keys, "quote_date", "cum_sum", "cum_n"]]


def _mean(total: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)


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
    lookup = _daily_cumulative(ref, keys, value)

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
    return pd.Series(_mean(total, n), index=index), pd.Series(n, index=index)


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


HISTORY_COLUMNS = (
    "item_prior_mean",
    "item_prior_n",
    "item_recent_mean",
    "item_recent_n",
    "supplier_item_prior_mean",
    "supplier_item_prior_n",
    "supplier_prior_premium",
    "supplier_prior_n",
)


_UNIX_ORDINAL = dt.date(1970, 1, 1).toordinal()


def dates_ns(dates: Any) -> np.ndarray:
    """Dates (a Series, an array, or a list of dates or Timestamps) as int64 nanoseconds."""
    if isinstance(dates, list) and all(type(d) is dt.date for d in dates):
        # Plain dates are midnights: no need for pandas' parser on the serving path.
        return np.array([(d.toordinal() - _UNIX_ORDINAL) * _DAY_NS for d in dates], dtype=np.int64)
    return np.asarray(pd.to_datetime(pd.Series(dates)).astype("datetime64[ns]")).view("int64")


class _Cumulative:
    """``_prior``'s running sums for one key, laid out for binary search.

    Rows are sorted by (key group, date); a probe for a group and a date finds the last
    row of its group dated strictly before, which is what ``_prior``'s as-of join finds.
    """

    def __init__(self, reference: pd.DataFrame, keys: list[str], value: str) -> None:
        self.keys = keys
        ref = reference.dropna(subset=[value]).assign(quote_date=lambda f: _ns(f["quote_date"]))
        self._groups: dict[Any, int] = {}
        if ref.empty:
            self._dates = np.empty(0, dtype=np.int64)
            self._position = np.empty(0, dtype=np.int64)
            self._sum = np.empty(0, dtype=float)
            self._n = np.empty(0, dtype=float)
            self._stride = 1
            return
        daily = _daily_cumulative(ref, keys, value)
        group = daily.groupby(keys, sort=False).ngroup().to_numpy(dtype=np.int64)
        key_rows = zip(*(daily[k].tolist() for k in keys), strict=True)
        for g, key in zip(group.tolist(), key_rows, strict=True):
            self._groups.setdefault(key if len(keys) > 1 else key[0], g)
        dates = daily["quote_date"].to_numpy().view("int64")
        # Dates become ranks among the reference's distinct dates, so (group, rank) packs
        # into one sortable int64 whatever the dates' span.
        self._dates = np.unique(dates)
        self._stride = len(self._dates) + 1
        position = group * self._stride + np.searchsorted(self._dates, dates)
        order = np.argsort(position, kind="stable")
        self._position = position[order]
        self._sum = daily["cum_sum"].to_numpy(dtype=float)[order]
        self._n = daily["cum_n"].to_numpy(dtype=float)[order]

    def groups(self, *columns: list[Any]) -> np.ndarray:
        """The group number of each probe's keys (-1 for keys the reference never had)."""
        keys = zip(*columns, strict=True) if len(columns) > 1 else columns[0]
        return np.fromiter((self._groups.get(k, -1) for k in keys), dtype=np.int64)

    def before(self, group: np.ndarray, when: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Running sum and count of each group over rows dated strictly before ``when``."""
        if not len(self._position):
            zero = np.zeros(len(group), dtype=float)
            return zero, zero.copy()
        probe = group * self._stride + np.searchsorted(self._dates, when, side="left")
        found = np.searchsorted(self._position, probe, side="left") - 1
        at = found.clip(0)
        hit = (group >= 0) & (found >= 0) & (self._position[at] // self._stride == group)
        return np.where(hit, self._sum[at], 0.0), np.where(hit, self._n[at], 0.0)


class HistoryLookup:
    """``history_features`` for any targets, from a reference frame indexed once.

    Building it does the grouped running sums over the whole reference once; describing
    targets is then a binary search per target, with exactly the numbers
    ``history_features(target, reference)`` gives. Only reference rows dated strictly
    before a target's date count, so one lookup over all history serves targets of any
    date (as the reference cut at each target's date would).
    """

    def __init__(self, reference: pd.DataFrame) -> None:
        ref = reference.loc[reference["unit_price"] > 0].copy()
        ref["log_price"] = np.log(ref["unit_price"])
        self._item = _Cumulative(ref, ["item_id"], "log_price")
        self._supplier_item = _Cumulative(ref, ["supplier_id", "item_id"], "log_price")
        ref_level, _ = _prior(ref, ref, ["item_id"], "log_price")
        ref["premium"] = ref["log_price"] - ref_level
        self._supplier = _Cumulative(ref, ["supplier_id"], "premium")
        self._window = RECENT_WINDOW.value

    def arrays(
        self, item_ids: list[Any], supplier_ids: list[Any], when: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The history features (``HISTORY_COLUMNS``) of targets given as plain arrays.

        ``when`` is each target's quote date as int64 nanoseconds (see ``dates_ns``).
        """
        item = self._item.groups(item_ids)
        total, n = self._item.before(item, when)
        old_total, old_n = self._item.before(item, when - self._window)
        recent_total, recent_n = total - old_total, n - old_n
        pair_total, pair_n = self._supplier_item.before(
            self._supplier_item.groups(supplier_ids, item_ids), when
        )
        premium_total, premium_n = self._supplier.before(self._supplier.groups(supplier_ids), when)
        return {
            "item_prior_mean": _mean(total, n),
            "item_prior_n": n,
            "item_recent_mean": _mean(recent_total, recent_n),
            "item_recent_n": recent_n,
            "supplier_item_prior_mean": _mean(pair_total, pair_n),
            "supplier_item_prior_n": pair_n,
            "supplier_prior_premium": _mean(premium_total, premium_n),
            "supplier_prior_n": premium_n,
        }

    def features(self, target: pd.DataFrame) -> pd.DataFrame:
        """Same as ``history_features(target, reference)``."""
        arrays = self.arrays(
            target["item_id"].tolist(),
            target["supplier_id"].tolist(),
            dates_ns(target["quote_date"]),
        )
        return pd.DataFrame(arrays, index=target.index)


# --------------------------------------------------------------------------- market index


INDEX_COLUMNS = ("index_level", "index_change_3m", "index_change_12m", "index_age_days")


def _published(index_obs: pd.DataFrame, codes: set[str]) -> pd.DataFrame:
    """Observations of ``codes`` with their changes and publication dates, by publication."""
    obs = index_obs[index_obs["code"].isin(codes)].sort_values(["code", "obs_date"])
    grouped = obs.groupby("code")["value"]
    return obs.assign(
        change_3m=obs["value"] / grouped.shift(3) - 1,
        change_12m=obs["value"] / grouped.shift(12) - 1,
        available=_ns(obs["obs_date"] + PUBLICATION_LAG),
    ).sort_values("available", kind="stable")


def index_features(
    target: pd.DataFrame, index_obs: pd.DataFrame, links: dict[str, str]
) -> pd.DataFrame:
    """Level and recent change of the index linked to each line's category, as published."""
    out = pd.DataFrame(np.nan, index=target.index, columns=list(INDEX_COLUMNS))
    codes = target["category"].map(links)
    if index_obs.empty or codes.isna().all():
        return out
    obs = _published(index_obs, set(codes.dropna()))
    if obs.empty:
        return out
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


class IndexLookup:
    """``index_features`` for any targets and links, from observations indexed once.

    Per series, the observations sorted by publication date with their changes; a target
    takes the last one published on or before its date, as ``index_features``'s as-of
    join does.
    """

    def __init__(self, index_obs: pd.DataFrame) -> None:
        self._series: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        if index_obs.empty:
            return
        obs = _published(index_obs, set(index_obs["code"]))
        for code, rows in obs.groupby("code", sort=False):
            available = rows["available"].to_numpy().view("int64")
            observed = _ns(rows["obs_date"]).to_numpy().view("int64")
            values = rows[["value", "change_3m", "change_12m"]].to_numpy(dtype=float)
            self._series[str(code)] = (available, observed, values)

    def arrays(self, categories: list[Any], when: np.ndarray, links: dict[str, str]) -> np.ndarray:
        """``INDEX_COLUMNS`` of targets given as categories and int64-nanosecond dates."""
        out = np.full((len(categories), len(INDEX_COLUMNS)), np.nan)
        codes = [links.get(c) if isinstance(c, str) else None for c in categories]
        for code in set(codes):
            series = self._series.get(code) if code is not None else None
            if series is None:
                continue
            available, observed, values = series
            rows = np.fromiter((i for i, c in enumerate(codes) if c == code), dtype=np.int64)
            at = np.searchsorted(available, when[rows], side="right") - 1
            hit = at >= 0
            rows, at = rows[hit], at[hit]
            out[rows, :3] = values[at]
            out[rows, 3] = (when[rows] - observed[at]) // _DAY_NS
        return out

    def features(self, target: pd.DataFrame, links: dict[str, str]) -> pd.DataFrame:
        """Same as ``index_features(target, index_obs, links)``."""
        arrays = self.arrays(target["category"].tolist(), dates_ns(target["quote_date"]), links)
        return pd.DataFrame(arrays, index=target.index, columns=list(INDEX_COLUMNS))


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


def _rfq_lines(target: pd.DataFrame, reference: pd.DataFrame | None) -> pd.Series:
    """Lines of each target's RFQ among the targets and the reference (missing without one)."""
    if target["rfq_id"].isna().all():
        return pd.Series(np.nan, index=target.index)
    if reference is None:
        raise ValueError("targets of an RFQ need the reference frame to count its lines")
    rfq_sizes = (
        pd.concat([target[["rfq_id", "rfq_line_id"]], reference[["rfq_id", "rfq_line_id"]]])
        .dropna()
        .drop_duplicates()
        .groupby("rfq_id")
        .size()
    )
    return target["rfq_id"].map(rfq_sizes).astype(float)


def build_matrix(
    target: pd.DataFrame,
    reference: pd.DataFrame | None,
    index_obs: pd.DataFrame | None,
    spec: FeatureSpec,
    *,
    history: HistoryLookup | None = None,
    index: IndexLookup | None = None,
) -> pd.DataFrame:
    """The feature matrix of ``target`` (columns ``spec.columns``), history from ``reference``.

    ``history`` and ``index``, built once from the same reference and observations, give
    the same numbers faster; with them ``reference`` is needed only for targets that belong
    to an RFQ (its size counts the reference's lines) and ``index_obs`` not at all.
    """
    out = pd.DataFrame(index=target.index)
    out["log_quantity"] = np.log1p(target["quantity"].astype(float).clip(lower=0))
    out["years"] = (target["quote_date"] - EPOCH).dt.days / 365.25
    out["month"] = target["quote_date"].dt.month.astype(float)
    out["rfq_lines"] = _rfq_lines(target, reference)
    if history is not None:
        out = out.join(history.features(target))
    elif reference is not None:
        out = out.join(history_features(target, reference))
    else:
        raise ValueError("build_matrix needs a reference frame or a HistoryLookup")
    if index is not None:
        out = out.join(index.features(target, spec.links))
    elif index_obs is not None:
        out = out.join(index_features(target, index_obs, spec.links))
    else:
        raise ValueError("build_matrix needs index observations or an IndexLookup")
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


# --------------------------------------------------------------------------- lines to price


@dataclass(frozen=True, slots=True)
class TargetLine:
    """One line to price: a quote line without its price, its RFQ or an id.

    ``unit`` is the line's unit (a prediction asks in the item's own unit); ``supplier_id``
    is -1 when no supplier is named.
    """

    quote_date: dt.date
    item_id: int
    item_code: str
    category: str
    unit: str
    quantity: float
    currency: str
    supplier_id: int = -1
    item_attributes: dict[str, Any] = field(default_factory=dict)
    line_attributes: dict[str, Any] = field(default_factory=dict)


def target_frame(lines: Sequence[TargetLine]) -> pd.DataFrame:
    """The target frame of ``lines`` (the columns ``build_matrix`` reads), ids -1, -2, …."""
    frame = pd.DataFrame(
        [
            {
                "line_id": -1 - i,
                "quote_date": pd.Timestamp(line.quote_date),
                "item_id": line.item_id,
                "item_code": line.item_code,
                "category": line.category,
                "item_unit": line.unit,
                "item_attributes": line.item_attributes,
                "supplier_id": line.supplier_id,
                "rfq_id": pd.NA,
                "rfq_line_id": pd.NA,
                "quantity": float(line.quantity),
                "unit": line.unit,
                "currency": line.currency,
                "line_attributes": line.line_attributes,
            }
            for i, line in enumerate(lines)
        ]
    )
    frame["rfq_id"] = frame["rfq_id"].astype("Int64")
    frame["rfq_line_id"] = frame["rfq_line_id"].astype("Int64")
    return frame


class LineEncoder:
    """Feature rows of lines to price as the float matrix the boosters read, without pandas.

    ``encode(lines, history, index)`` equals ``build_matrix(target_frame([line]), ...)`` for
    each line, put through LightGBM's own conversion of a DataFrame (a categorical value
    becomes its position in the booster's category list; a value it never saw, missing).
    A one-line frame costs milliseconds of pandas; this costs microseconds, which is what
    serving one prediction at a time needs. Attribute dicts are converted once each by
    ``build_matrix``'s own code and remembered.
    """

    _MEMO_LIMIT = 50_000

    def __init__(self, spec: FeatureSpec, categories: list[list[Any]] | None = None) -> None:
        self.spec = spec
        self.columns = spec.columns
        self._at = {column: i for i, column in enumerate(self.columns)}
        names = list(spec.categorical_levels)
        if categories is None:
            categories = [spec.categorical_levels[c] for c in names]
        if len(categories) != len(names):
            raise ValueError("the booster's categorical columns do not match the spec's")
        self._codes: dict[str, dict[str, float]] = {}
        for column, category in zip(names, categories, strict=True):
            kept = set(spec.categorical_levels[column])
            # build_matrix keeps only the spec's levels; LightGBM codes by its own list.
            self._codes[column] = {
                str(level): float(i) for i, level in enumerate(category) if level in kept
            }
        self._memo: dict[tuple[str, str], tuple[tuple[int, float], ...]] = {}

    def encode(
        self, lines: Sequence[TargetLine], history: HistoryLookup, index: IndexLookup
    ) -> np.ndarray:
        """The boosters' input rows of ``lines``, in ``self.columns`` order."""
        out = np.full((len(lines), len(self.columns)), np.nan)
        if not lines:
            return out
        at = self._at
        when = dates_ns([line.quote_date for line in lines])
        quantity = np.array([line.quantity for line in lines], dtype=float)
        out[:, at["log_quantity"]] = np.log1p(quantity.clip(min=0))
        days = (when - EPOCH.value) // _DAY_NS
        out[:, at["years"]] = days / 365.25
        out[:, at["month"]] = [float(line.quote_date.month) for line in lines]
        # rfq_lines stays missing: a line to price belongs to no RFQ of the store.
        item_ids = [line.item_id for line in lines]
        for column, values in history.arrays(
            item_ids, [line.supplier_id for line in lines], when
        ).items():
            out[:, at[column]] = values
        indexed = index.arrays([line.category for line in lines], when, self.spec.links)
        for j, column in enumerate(INDEX_COLUMNS):
            out[:, at[column]] = indexed[:, j]
        base = {
            "item": [line.item_code for line in lines],
            "supplier": [str(int(line.supplier_id)) for line in lines],
            "category": [line.category for line in lines],
            "unit": [line.unit for line in lines],
            "currency": [line.currency for line in lines],
        }
        for column, spelled in base.items():
            if column in self._codes:
                codes = self._codes[column]
                out[:, at[column]] = [codes.get(v, np.nan) for v in spelled]
        if self.spec.attribute_columns:
            for row, line in enumerate(lines):
                for prefix, attrs in (
                    ("item_attr__", line.item_attributes),
                    ("line_attr__", line.line_attributes),
                ):
                    for position, value in self._attributes(prefix, attrs):
                        out[row, position] = value
        return out

    def _attributes(self, prefix: str, attrs: Any) -> tuple[tuple[int, float], ...]:
        """The attribute columns of one line's dict (``build_matrix`` on a one-line frame)."""
        if not isinstance(attrs, dict) or not attrs:
            return ()  # no attributes: every attribute column is missing
        key = (prefix, json.dumps(attrs, default=repr))
        found = self._memo.get(key)
        if found is not None:
            return found
        frame = _attribute_frame(pd.Series([attrs]), prefix)
        values: list[tuple[int, float]] = []
        for column, kind in self.spec.attribute_columns.items():
            if not column.startswith(prefix):
                continue
            series = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
            if kind == "number":
                value = float(pd.to_numeric(series, errors="coerce").astype(float).iloc[0])
            else:
                text = series.astype("string").astype(object).iloc[0]
                value = self._codes[column].get(text, np.nan) if isinstance(text, str) else np.nan
            values.append((self._at[column], value))
        if len(self._memo) >= self._MEMO_LIMIT:
            self._memo.clear()
        self._memo[key] = found = tuple(values)
        return found
