"""The quote-price model: LightGBM on log price, with a calibrated P10/P50/P90 band.

Three boosters share one feature matrix: P50 (L2 on log price) and quantile models for
P10 and P90. The band is then conformalised (CQR): on the latest slice of the training
period, which the boosters never saw, the band is widened by the amount that makes it
cover 80% there. Drivers are LightGBM's per-feature contributions to the P50, grouped and
named in a buyer's words.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from core.errors import InvalidInputError
from ml.price.features import (
    FeatureSpec,
    HistoryLookup,
    IndexLookup,
    LineEncoder,
    TargetLine,
    build_matrix,
    fit_spec,
)

ARTIFACT_FORMAT = "lightgbm-price-v1"
COVERAGE = 0.8
CALIBRATION_SHARE = 0.15
MIN_TRAINING_ROWS = 200

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 63,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_cat_to_onehot": 8,
    "cat_smooth": 10.0,
    "verbose": -1,
    "num_threads": 0,
    "seed": 7,
}
ROUNDS = 500

# How buyers read each feature (grouped: several columns can tell one story).
DRIVER_NAMES: dict[str, str] = {
    "log_quantity": "Order quantity",
    "years": "Price trend over time",
    "month": "Season of the year",
    "rfq_lines": "Size of the RFQ",
    "item_prior_mean": "This item's past prices",
    "item_prior_n": "This item's past prices",
    "item_recent_mean": "This item's prices in the last 12 months",
    "item_recent_n": "This item's prices in the last 12 months",
    "supplier_item_prior_mean": "This supplier's past prices for this item",
    "supplier_item_prior_n": "This supplier's past prices for this item",
    "supplier_prior_premium": "This supplier's usual price level",
    "supplier_prior_n": "This supplier's usual price level",
    "index_level": "Market index level",
    "index_change_3m": "Market index movement (3 months)",
    "index_change_12m": "Market index movement (12 months)",
    "index_age_days": "Market index level",
    "item": "The item itself",
    "supplier": "The supplier",
    "category": "Item category",
    "unit": "Unit of measure",
    "currency": "Currency",
}


def driver_name(column: str) -> str:
    """The words a buyer would use for a feature column."""
    if column in DRIVER_NAMES:
        return DRIVER_NAMES[column]
    if "_attr__" in column:
        source, name = column.split("__", 1)
        what = "Item" if source == "item_attr" else "Quote"
        return f"{what} attribute '{name.replace('_', ' ')}'"
    return column


@dataclass
class PriceModel:
    """A trained quote-price model."""

    spec: FeatureSpec
    boosters: dict[str, lgb.Booster]
    conformal_widening: float
    info: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- prediction

    def matrix(
        self, target: pd.DataFrame, reference: pd.DataFrame, index_obs: pd.DataFrame
    ) -> pd.DataFrame:
        """Build the feature matrix of ``target`` with history from ``reference``."""
        return build_matrix(target, reference, index_obs, self.spec)

    @cached_property
    def encoder(self) -> LineEncoder:
        """Encodes lines to price straight into the boosters' input (see ``LineEncoder``)."""
        return LineEncoder(self.spec, self.boosters["p50"].pandas_categorical)

    def encode(
        self, lines: list[TargetLine], history: HistoryLookup, index: IndexLookup
    ) -> np.ndarray:
        """The boosters' input rows of ``lines`` (``matrix`` as LightGBM converts it)."""
        return self.encoder.encode(lines, history, index)

    def predict_matrix(
        self, matrix: pd.DataFrame | np.ndarray, *, num_threads: int | None = None
    ) -> pd.DataFrame:
        """P10/P50/P90 unit prices (in each line's item unit and currency) from features.

        ``matrix`` is a feature frame or its encoded rows (``encode``); ``num_threads``
        caps LightGBM's threads (a handful of rows is faster on one than on many).
        """
        p10, p50, p90 = self.band(matrix, num_threads=num_threads)
        return pd.DataFrame(
            {"p10": p10, "p50": p50, "p90": p90},
            index=matrix.index if isinstance(matrix, pd.DataFrame) else None,
        )

    def band(
        self, matrix: pd.DataFrame | np.ndarray, *, num_threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``predict_matrix``'s P10, P50 and P90 as arrays (no frame to build)."""
        log10, log50, log90 = raw_log_band(self.boosters, matrix, num_threads=num_threads)
        return (
            np.exp(log10 - self.conformal_widening),
            np.exp(log50),
            np.exp(log90 + self.conformal_widening),
        )

    def predict(
        self, target: pd.DataFrame, reference: pd.DataFrame, index_obs: pd.DataFrame
    ) -> pd.DataFrame:
        """P10/P50/P90 for target lines, history drawn from ``reference``."""
        return self.predict_matrix(self.matrix(target, reference, index_obs))

    def drivers(
        self,
        matrix: pd.DataFrame | np.ndarray,
        *,
        top: int = 5,
        num_threads: int | None = None,
    ) -> list[list[dict[str, Any]]]:
        """Per row, the largest contributions to the P50, as % effects in buyer words."""
        contrib = self.boosters["p50"].predict(matrix, pred_contrib=True, **_threads(num_threads))
        columns = list(matrix.columns) if isinstance(matrix, pd.DataFrame) else self.spec.columns
        names = [driver_name(c) for c in columns]
        return [_ranked_drivers(names, row, top) for row in np.asarray(contrib)]

    # ----------------------------------------------------------------- persistence

    def to_bytes(self) -> bytes:
        """Serialise to gzip-compressed JSON (LightGBM's own text format inside; no pickle)."""
        payload = {
            "format": ARTIFACT_FORMAT,
            "spec": self.spec.to_json(),
            "boosters": {k: b.model_to_string() for k, b in self.boosters.items()},
            "conformal_widening": self.conformal_widening,
            "info": self.info,
        }
        return gzip.compress(json.dumps(payload).encode(), compresslevel=6)

    @classmethod
    def from_bytes(cls, data: bytes) -> PriceModel:
        """Inverse of ``to_bytes``."""
        payload = json.loads(gzip.decompress(data))
        if payload.get("format") != ARTIFACT_FORMAT:
            raise InvalidInputError(f"not a {ARTIFACT_FORMAT} artifact")
        return cls(
            spec=FeatureSpec.from_json(payload["spec"]),
            boosters={k: lgb.Booster(model_str=s) for k, s in payload["boosters"].items()},
            conformal_widening=float(payload["conformal_widening"]),
            info=payload.get("info", {}),
        )


def _threads(num_threads: int | None) -> dict[str, Any]:
    return {} if num_threads is None else {"num_threads": num_threads}


def _ranked_drivers(names: list[str], row: np.ndarray, top: int) -> list[dict[str, Any]]:
    grouped: dict[str, float] = {}
    for name, value in zip(names, row[:-1], strict=True):
        grouped[name] = grouped.get(name, 0.0) + float(value)
    ranked = sorted(grouped.items(), key=lambda kv: abs(kv[1]), reverse=True)[:top]
    return [
        {
            "driver": name,
            "effect_pct": round(float(np.exp(value) - 1) * 100, 1),
            "direction": "raises" if value > 0 else "lowers",
        }
        for name, value in ranked
        if abs(value) > 1e-6
    ]


def raw_log_band(
    boosters: dict[str, lgb.Booster],
    matrix: pd.DataFrame | np.ndarray,
    *,
    num_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log P10/P50/P90 before conformal widening, with crossed quantiles repaired.

    Separately trained quantile models can cross the median on unusual inputs (a P10
    above the P50 on ~3% of INDOT lines). Clamping would collapse that side of the band,
    so the crossed side mirrors the sound one around the median instead.
    """
    threads = _threads(num_threads)
    log50 = np.asarray(boosters["p50"].predict(matrix, **threads), dtype=float)
    log10 = np.asarray(boosters["p10"].predict(matrix, **threads), dtype=float)
    log90 = np.asarray(boosters["p90"].predict(matrix, **threads), dtype=float)
    lower = np.maximum(log50 - log10, 0.0)
    upper = np.maximum(log90 - log50, 0.0)
    lower = np.where(lower > 0, lower, upper)
    upper = np.where(upper > 0, upper, lower)
    return log50 - lower, log50, log50 + upper


def _train_booster(
    matrix: pd.DataFrame, y: np.ndarray, objective: dict[str, Any], rounds: int
) -> lgb.Booster:
    params = {**DEFAULT_PARAMS, **objective}
    data = lgb.Dataset(matrix, label=y, categorical_feature="auto", free_raw_data=True)
    return lgb.train(params, data, num_boost_round=rounds)


def train_price_model(
    history: pd.DataFrame,
    index_obs: pd.DataFrame,
    links: dict[str, str],
    *,
    rounds: int = ROUNDS,
) -> PriceModel:
    """Train on ``history`` (a quote_history frame); its own earlier rows feed the features.

    The latest ``CALIBRATION_SHARE`` of lines (by date) is held out to calibrate the band.
    """
    frame = history.loc[history["unit_price"] > 0].sort_values("quote_date", kind="stable")
    if len(frame) < MIN_TRAINING_ROWS:
        raise InvalidInputError(
            f"training needs at least {MIN_TRAINING_ROWS} priced quote lines, got {len(frame)}"
        )
    started = time.perf_counter()
    cut = frame["quote_date"].iloc[int(len(frame) * (1 - CALIBRATION_SHARE))]
    fit_rows = frame[frame["quote_date"] < cut]
    cal_rows = frame[frame["quote_date"] >= cut]
    if len(fit_rows) < MIN_TRAINING_ROWS // 2 or len(cal_rows) < 20:
        raise InvalidInputError("too few distinct quote dates to hold out a calibration slice")
    spec = fit_spec(fit_rows, links)
    # Each line's history features see every training quote strictly before it, exactly
    # as a new quote will see the store's history in production.
    fit_x = build_matrix(fit_rows, frame, index_obs, spec)
    cal_x = build_matrix(cal_rows, frame, index_obs, spec)
    y_fit = np.log(fit_rows["unit_price"].to_numpy())
    y_cal = np.log(cal_rows["unit_price"].to_numpy())
    alpha = (1 - COVERAGE) / 2
    boosters = {
        "p50": _train_booster(fit_x, y_fit, {"objective": "regression"}, rounds),
        "p10": _train_booster(fit_x, y_fit, {"objective": "quantile", "alpha": alpha}, rounds),
        "p90": _train_booster(fit_x, y_fit, {"objective": "quantile", "alpha": 1 - alpha}, rounds),
    }
    low, _, high = raw_log_band(boosters, cal_x)
    scores = np.maximum(low - y_cal, y_cal - high)
    level = min(1.0, COVERAGE * (1 + 1 / len(scores)))
    widening = float(np.quantile(scores, level))
    model = PriceModel(spec=spec, boosters=boosters, conformal_widening=widening)
    band = model.predict_matrix(cal_x)
    prices = cal_rows["unit_price"].to_numpy()
    model.info = {
        "training_rows": len(fit_rows),
        "calibration_rows": len(cal_rows),
        "calibration_from": str(cut.date()),
        "calibration_coverage_80": float(
            np.mean((prices >= band["p10"].to_numpy()) & (prices <= band["p90"].to_numpy()))
        ),
        "conformal_widening_log": widening,
        "features": spec.columns,
        "rounds": rounds,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return model
