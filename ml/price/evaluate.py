"""Honest accuracy of the quote-price model, next to two baselines measured in the same run.

Grouped cross-validation keeps every item (or supplier, or RFQ) entirely in one fold; the
time split trains strictly before the cutoff. In both, the test lines' history features
come from the training fold only, and from quotes dated before each test line.

Baselines: the item's median past price (from the training fold, before the test line's
date; the training fold's median where the item has no past) and a plain LightGBM on the
raw columns (item, supplier, unit, quantity, date, raw line attributes) predicting the
price itself.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from core.errors import InvalidInputError
from ml.price.features import POST_HOC_ATTRIBUTES
from ml.price.model import DEFAULT_PARAMS, train_price_model

Group = Literal["item", "supplier", "rfq"]
GROUP_COLUMNS: dict[str, str] = {"item": "item_id", "supplier": "supplier_id", "rfq": "rfq_id"}


def metrics(
    actual: np.ndarray,
    p50: np.ndarray,
    p10: np.ndarray | None = None,
    p90: np.ndarray | None = None,
) -> dict[str, float]:
    """RMSLE and median APE of the point prediction; coverage of the 80% band if given."""
    actual = np.asarray(actual, dtype=float)
    p50 = np.clip(np.asarray(p50, dtype=float), 0, None)
    out = {
        "rmsle": float(np.sqrt(np.mean((np.log1p(p50) - np.log1p(actual)) ** 2))),
        "mape_median": float(np.median(np.abs(p50 - actual) / actual)),
    }
    if p10 is not None and p90 is not None:
        out["coverage_80"] = float(np.mean((actual >= p10) & (actual <= p90)))
    return out


def item_median_baseline(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """Each test line's item median price over training quotes dated before it."""
    fallback = float(train["unit_price"].median())
    by_item = {
        item: (g["quote_date"].to_numpy(), g["unit_price"].to_numpy())
        for item, g in train.sort_values("quote_date").groupby("item_id")
    }
    out = np.full(len(test), fallback)
    for i, (item, date) in enumerate(zip(test["item_id"], test["quote_date"], strict=True)):
        found = by_item.get(item)
        if found is None:
            continue
        dates, prices = found
        n = int(np.searchsorted(dates, np.datetime64(date), side="left"))
        if n:
            out[i] = float(np.median(prices[:n]))
    return out


def _raw_columns(
    frame: pd.DataFrame, levels: dict[str, list[str]] | None
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    attrs = pd.DataFrame.from_records(
        [v if isinstance(v, dict) else {} for v in frame["line_attributes"]], index=frame.index
    )
    attrs = attrs[[c for c in attrs.columns if c.lower() not in POST_HOC_ATTRIBUTES]]
    out = pd.DataFrame(
        {
            "quantity": frame["quantity"].astype(float),
            "date": (frame["quote_date"] - pd.Timestamp("2000-01-01")).dt.days.astype(float),
        },
        index=frame.index,
    )
    cats = {
        "item": frame["item_code"].astype(str),
        "supplier": frame["supplier_id"].astype(str),
        "unit": frame["unit"].astype(str),
    }
    for column in attrs.columns:
        numeric = pd.to_numeric(attrs[column], errors="coerce")
        if numeric.notna().sum() == attrs[column].notna().sum():
            out[f"attr_{column}"] = numeric
        else:
            cats[f"attr_{column}"] = attrs[column].astype(str)
    levels = levels or {k: sorted(set(v)) for k, v in cats.items()}
    for name, values in cats.items():
        out[name] = pd.Categorical(values, categories=levels.get(name, []))
    return out, levels


def plain_lightgbm_baseline(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """LightGBM with default settings on the raw columns, predicting the raw price."""
    x_train, levels = _raw_columns(train, None)
    x_test, _ = _raw_columns(test, levels)
    x_test = x_test.reindex(columns=x_train.columns)
    booster = lgb.train(
        {"objective": "regression", "verbose": -1, "seed": DEFAULT_PARAMS["seed"]},
        lgb.Dataset(x_train, label=train["unit_price"].to_numpy()),
        num_boost_round=100,
    )
    return np.asarray(booster.predict(x_test))


def _fold_result(
    train: pd.DataFrame, test: pd.DataFrame, index_obs: pd.DataFrame, links: dict[str, str]
) -> dict[str, np.ndarray]:
    model = train_price_model(train, index_obs, links)
    # History for the test lines: the training fold only (and before each line's date).
    band = model.predict(test, train, index_obs)
    return {
        "actual": test["unit_price"].to_numpy(),
        "p10": band["p10"].to_numpy(),
        "p50": band["p50"].to_numpy(),
        "p90": band["p90"].to_numpy(),
        "item_median": item_median_baseline(test, train),
        "plain_lightgbm": plain_lightgbm_baseline(test, train),
    }


def evaluate_price(
    history: pd.DataFrame,
    index_obs: pd.DataFrame,
    links: dict[str, str],
    *,
    folds: int = 5,
    group: Group = "rfq",
    split: Literal["group", "time"] = "group",
    cutoff: dt.date | None = None,
) -> dict[str, Any]:
    """Evaluate the model and both baselines; return one JSON-ready dict."""
    started = time.perf_counter()
    frame = history.loc[history["unit_price"] > 0].reset_index(drop=True)
    if group not in GROUP_COLUMNS:
        raise InvalidInputError(f"group must be item, supplier or rfq, not {group!r}")
    parts: list[dict[str, np.ndarray]] = []
    if split == "time":
        if cutoff is None:
            raise InvalidInputError("a time split needs --cutoff DATE")
        when = pd.Timestamp(cutoff)
        train, test = frame[frame["quote_date"] < when], frame[frame["quote_date"] >= when]
        if train.empty or test.empty:
            raise InvalidInputError(f"the cutoff {cutoff} leaves no training or no test lines")
        parts.append(_fold_result(train, test, index_obs, links))
        folds_run = 1
    else:
        groups = frame[GROUP_COLUMNS[group]].astype("Int64").fillna(-1).to_numpy()
        if len(np.unique(groups)) < folds:
            raise InvalidInputError(f"fewer distinct {group}s than folds ({folds})")
        splitter = GroupKFold(n_splits=folds)
        for train_idx, test_idx in splitter.split(frame, groups=groups):
            parts.append(
                _fold_result(frame.iloc[train_idx], frame.iloc[test_idx], index_obs, links)
            )
        folds_run = folds
    joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    model = metrics(joined["actual"], joined["p50"], joined["p10"], joined["p90"])
    return {
        "rows": len(frame),
        "folds": folds_run,
        "group": group if split == "group" else "time",
        "split": split,
        "cutoff": str(cutoff) if cutoff else None,
        **model,
        "baselines": {
            "item_median_past_price": metrics(joined["actual"], joined["item_median"]),
            "plain_lightgbm_raw_columns": metrics(joined["actual"], joined["plain_lightgbm"]),
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
