"""Rolling-origin backtest of the forecast models and the choice of the best one."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInputError
from ml.forecasting.models import (
    DEFAULT_LEVEL,
    MODEL_NAMES,
    MODELS,
    FloatArray,
    ModelFitError,
    check_horizon,
    check_level,
    make_model,
)
from ml.forecasting.series import regularise_monthly, require_length

DEFAULT_ORIGINS = 12
DEFAULT_MIN_TRAIN = 48
METRIC_COLUMNS = ("mase", "smape", "coverage", "n_forecasts")
FORECAST_COLUMNS = ("model", "origin", "step", "date", "actual", "mean", "lower", "upper", "scale")

#: Failures that disqualify a model on a series instead of aborting the whole backtest.
MODEL_FAILURES = (ValueError, ArithmeticError, RuntimeError, ModelFitError)


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Scores of each model over rolling origins, and the model chosen.

    ``metrics`` is indexed by model with ``mase`` (scale: mean absolute one-step naive
    error of each origin's training window, non-seasonal), ``smape`` (0–200 scale),
    ``coverage`` (share of actuals inside the interval) and ``n_forecasts``, each averaged
    over all origins and horizon steps. ``mase_by_horizon`` has one column per step.
    ``forecasts`` holds every backtest forecast next to its actual (empty after loading
    from JSON). ``errors`` names the models that failed, with the reason.
    """

    horizon: int
    level: float
    min_train: int
    n_obs: int
    origins: tuple[pd.Timestamp, ...]
    metrics: pd.DataFrame
    mase_by_horizon: pd.DataFrame
    chosen: str
    errors: dict[str, str] = field(default_factory=dict)
    forecasts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FORECAST_COLUMNS))

    def to_dict(self) -> dict[str, Any]:
        """Return the scores as a JSON-serialisable dict (without per-origin forecasts)."""
        models: dict[str, Any] = {}
        by_horizon = self.mase_by_horizon.reindex(self.metrics.index).to_numpy(dtype=np.float64)
        for position, name in enumerate(self.metrics.index.astype(str)):
            row = self.metrics.iloc[position]
            models[name] = {
                "mase": _finite_or_none(row["mase"]),
                "smape": _finite_or_none(row["smape"]),
                "coverage": _finite_or_none(row["coverage"]),
                "n_forecasts": int(row["n_forecasts"]),
                "mase_by_horizon": [_finite_or_none(value) for value in by_horizon[position]],
                "error": self.errors.get(name),
            }
        return {
            "horizon": self.horizon,
            "level": self.level,
            "min_train": self.min_train,
            "n_obs": self.n_obs,
            "origins": [f"{origin:%Y-%m-%d}" for origin in self.origins],
            "chosen": self.chosen,
            "models": models,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BacktestResult:
        """Rebuild the scores saved by ``to_dict``."""
        models: Mapping[str, Mapping[str, Any]] = data["models"]
        names = list(models)
        horizon = int(data["horizon"])
        metrics = pd.DataFrame(
            {
                column: [_none_to_nan(models[name][column]) for name in names]
                for column in METRIC_COLUMNS
            },
            index=pd.Index(names, name="model"),
        ).astype({"n_forecasts": "int64"})
        by_horizon = pd.DataFrame(
            [[_none_to_nan(value) for value in models[name]["mase_by_horizon"]] for name in names],
            index=pd.Index(names, name="model"),
            columns=pd.RangeIndex(1, horizon + 1, name="step"),
        )
        errors = {name: str(models[name]["error"]) for name in names if models[name]["error"]}
        return cls(
            horizon=horizon,
            level=float(data["level"]),
            min_train=int(data["min_train"]),
            n_obs=int(data["n_obs"]),
            origins=tuple(pd.Timestamp(origin) for origin in data["origins"]),
            metrics=metrics,
            mase_by_horizon=by_horizon,
            chosen=str(data["chosen"]),
            errors=errors,
        )


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _none_to_nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def check_models(models: Sequence[str]) -> list[str]:
    """Return the model names in simplicity order, rejecting unknown or empty lists."""
    if isinstance(models, str):
        models = [models]
    for name in models:
        make_model(name)  # raises InvalidInputError for unknown names
    chosen = [name for name in MODEL_NAMES if name in set(models)]
    if not chosen:
        raise InvalidInputError("Name at least one forecast model.")
    return chosen


def backtest(
    series: pd.Series,
    *,
    horizon: int,
    models: Sequence[str] = MODEL_NAMES,
    origins: int = DEFAULT_ORIGINS,
    min_train: int = DEFAULT_MIN_TRAIN,
    level: float = DEFAULT_LEVEL,
) -> BacktestResult:
    """Backtest the models from rolling origins and choose the one with the lowest MASE.

    The origins are the last ``origins`` months that leave ``horizon`` months to test,
    one month apart; each model is fitted on the values strictly before the origin only.
    Fewer origins are used when the series leaves fewer than ``min_train`` training months.
    """
    check_horizon(horizon)
    check_level(level)
    if origins < 1:
        raise InvalidInputError("A backtest needs at least one origin.")
    if min_train < 3:
        raise InvalidInputError("A backtest needs at least 3 training months.")
    names = check_models(models)
    y = regularise_monthly(series)
    require_length(y, min_train + horizon, f"a backtest ({min_train} training + {horizon} test)")

    values = y.to_numpy(dtype=np.float64)
    last_origin = len(y) - horizon
    positions = range(max(min_train, last_origin - origins + 1), last_origin + 1)
    frames: list[pd.DataFrame] = []
    errors: dict[str, str] = {}
    for name in names:
        if MODELS[name].min_obs > min_train:
            errors[name] = f"needs at least {MODELS[name].min_obs} training months"
            continue
        try:
            frames.extend(_origin_frame(name, y, values, pos, horizon, level) for pos in positions)
        except MODEL_FAILURES as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
    if not frames:
        raise InvalidInputError(f"No forecast model could be backtested: {errors}")

    forecasts = pd.concat(frames, ignore_index=True)
    forecasts = forecasts[~forecasts["model"].isin(list(errors))].reset_index(drop=True)
    metrics, by_horizon = _score(forecasts, names, horizon)
    return BacktestResult(
        horizon=horizon,
        level=level,
        min_train=min_train,
        n_obs=len(y),
        origins=tuple(pd.Timestamp(y.index[pos]) for pos in positions),
        metrics=metrics,
        mase_by_horizon=by_horizon,
        chosen=choose_model(metrics),
        errors=errors,
        forecasts=forecasts,
    )


def _origin_frame(
    name: str, y: pd.Series, values: FloatArray, pos: int, horizon: int, level: float
) -> pd.DataFrame:
    # Only y.iloc[:pos] reaches the model; the actuals are attached afterwards.
    train = y.iloc[:pos]
    frame = make_model(name).fit(train).forecast(horizon, level=level)
    frame.insert(0, "model", name)
    frame.insert(1, "origin", y.index[pos])
    frame.insert(2, "step", np.arange(1, horizon + 1))
    frame["actual"] = values[pos : pos + horizon]
    frame["scale"] = float(np.mean(np.abs(np.diff(values[:pos]))))
    return frame


def _score(
    forecasts: pd.DataFrame, names: Sequence[str], horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    actual = forecasts["actual"].to_numpy(dtype=np.float64)
    mean = forecasts["mean"].to_numpy(dtype=np.float64)
    scale = forecasts["scale"].to_numpy(dtype=np.float64)
    error = np.abs(actual - mean)
    # A flat training window has scale 0: a perfect forecast scores 0, any miss infinity.
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(scale > 0, error / scale, np.where(error == 0, 0.0, np.inf))
        denominator = np.abs(actual) + np.abs(mean)
        smape = np.where(denominator > 0, 200.0 * error / denominator, 0.0)
    inside = (forecasts["lower"] <= forecasts["actual"]) & (
        forecasts["actual"] <= forecasts["upper"]
    )
    table = pd.DataFrame(
        {
            "model": forecasts["model"],
            "step": forecasts["step"],
            "mase": scaled,
            "smape": smape,
            "coverage": inside.astype(np.float64),
        }
    )
    index = pd.Index(list(names), name="model")
    grouped = table.groupby("model")
    metrics = grouped[["mase", "smape", "coverage"]].mean().reindex(index)
    metrics["n_forecasts"] = grouped.size().reindex(index).fillna(0).astype("int64")
    by_horizon = (
        table.pivot_table(index="model", columns="step", values="mase", aggfunc="mean")
        .reindex(index=index, columns=pd.RangeIndex(1, horizon + 1, name="step"))
        .astype(np.float64)
    )
    return metrics, by_horizon


def rank_models(metrics: pd.DataFrame) -> list[str]:
    """Return the scored models best first: lowest mean MASE, ties to the simpler model."""
    order = {name: rank for rank, name in enumerate(MODEL_NAMES)}
    candidates = sorted(
        (round(float(mase), 10), order.get(str(name), len(order)), str(name))
        for name, mase in metrics["mase"].items()
        if not math.isnan(float(mase))
    )
    return [name for _, _, name in candidates]


def choose_model(metrics: pd.DataFrame) -> str:
    """Return the model with the lowest mean MASE; ties go to the simpler model."""
    ranked = rank_models(metrics)
    if not ranked:
        raise InvalidInputError("No forecast model has a backtest score.")
    return ranked[0]
