"""Choose, refit and store a forecaster; evaluate the models over many series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInputError
from ml.forecasting.backtest import (
    DEFAULT_MIN_TRAIN,
    DEFAULT_ORIGINS,
    MODEL_FAILURES,
    BacktestResult,
    backtest,
    check_models,
    rank_models,
)
from ml.forecasting.models import (
    DEFAULT_LEVEL,
    MODEL_NAMES,
    MODELS,
    ForecastModel,
    check_horizon,
    check_level,
    make_model,
)

FORMAT = "pricing-agent/forecaster"
FORMAT_VERSION = 1


class Forecaster:
    """A model chosen by backtest and refitted on the whole series."""

    def __init__(
        self,
        model: ForecastModel,
        *,
        horizon: int,
        level: float = DEFAULT_LEVEL,
        backtest: BacktestResult | None = None,
    ) -> None:
        check_horizon(horizon)
        check_level(level)
        self.model = model
        self.horizon = horizon
        self.level = level
        self.backtest = backtest

    @property
    def model_name(self) -> str:
        """Name of the chosen model."""
        return self.model.name

    @property
    def series(self) -> pd.Series:
        """The regularised series the model was fitted on."""
        return self.model.series

    @property
    def last_date(self) -> pd.Timestamp:
        """Month of the last observation."""
        return pd.Timestamp(self.series.index[-1])

    @property
    def last_value(self) -> float:
        """Last observed value (the base for expected changes)."""
        return float(self.series.iloc[-1])

    def forecast(self, horizon: int | None = None, *, level: float | None = None) -> pd.DataFrame:
        """Forecast ``date, mean, lower, upper`` for the next months after the last one."""
        return self.model.forecast(
            self.horizon if horizon is None else horizon,
            level=self.level if level is None else level,
        )

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict: the training series, the model state, the scores."""
        series = self.series
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": self.model_name,
            "horizon": self.horizon,
            "level": self.level,
            "log_scale": self.model.log_scale,
            "series": {
                "name": None if series.name is None else str(series.name),
                "start": f"{series.index[0]:%Y-%m-%d}",
                "values": [float(value) for value in series.to_numpy(dtype=np.float64)],
            },
            "state": self.model.state(),
            "backtest": None if self.backtest is None else self.backtest.to_dict(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Forecaster:
        """Rebuild a forecaster saved by ``to_json``; its forecasts are the same."""
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise InvalidInputError("This is not a saved forecaster of a known version.")
        try:
            model_class = MODELS[str(data["model"])]
            stored = data["series"]
            values = [float(value) for value in stored["values"]]
            index = pd.date_range(stored["start"], periods=len(values), freq="MS")
            series = pd.Series(values, index=index, name=stored["name"], dtype="float64")
            model = model_class.restore(
                series, log_scale=bool(data["log_scale"]), state=data["state"]
            )
            scores = data["backtest"]
            return cls(
                model,
                horizon=int(data["horizon"]),
                level=float(data["level"]),
                backtest=None if scores is None else BacktestResult.from_dict(scores),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"The saved forecaster is malformed: {exc}") from exc


def fit_forecaster(
    series: pd.Series,
    *,
    horizon: int,
    models: Sequence[str] = MODEL_NAMES,
    origins: int = DEFAULT_ORIGINS,
    min_train: int = DEFAULT_MIN_TRAIN,
    level: float = DEFAULT_LEVEL,
) -> Forecaster:
    """Backtest the models, pick the lowest mean MASE and refit it on the whole series.

    Should the chosen model fail to refit on the full series (a numerical failure), the
    next best one is used; ``model_name`` then differs from ``backtest.chosen``.
    """
    result = backtest(
        series, horizon=horizon, models=models, origins=origins, min_train=min_train, level=level
    )
    failures: list[str] = []
    for name in rank_models(result.metrics):
        try:
            model = make_model(name).fit(series)
            model.forecast(horizon, level=level)  # proves the refit gives finite forecasts
        except MODEL_FAILURES as exc:
            failures.append(f"{name}: {exc}")
            continue
        return Forecaster(model, horizon=horizon, level=level, backtest=result)
    raise InvalidInputError(f"No forecast model could be fitted: {'; '.join(failures)}")


def evaluate_forecasts(
    series_by_code: Mapping[str, pd.Series],
    *,
    horizon: int = 6,
    origins: int = DEFAULT_ORIGINS,
    level: float = DEFAULT_LEVEL,
    models: Sequence[str] = MODEL_NAMES,
    min_train: int = DEFAULT_MIN_TRAIN,
) -> list[dict[str, Any]]:
    """Backtest every series and return one row per series and model.

    Rows hold ``series, model, mase, smape, coverage_<level%>, chosen, n_obs, origins,
    error``; a metric is ``None`` when the model failed (``error`` says why) and a series
    too short to backtest gets rows with ``origins`` 0 instead of stopping the run.
    """
    check_horizon(horizon)
    check_level(level)
    names = check_models(models)
    coverage_key = f"coverage_{round(level * 100)}"
    rows: list[dict[str, Any]] = []
    for code, series in series_by_code.items():
        try:
            result = backtest(
                series,
                horizon=horizon,
                models=names,
                origins=origins,
                min_train=min_train,
                level=level,
            )
        except InvalidInputError as exc:
            rows.extend(
                {
                    "series": code,
                    "model": name,
                    "mase": None,
                    "smape": None,
                    coverage_key: None,
                    "chosen": False,
                    "n_obs": int(series.notna().sum()),
                    "origins": 0,
                    "error": exc.message,
                }
                for name in names
            )
            continue
        scores = result.to_dict()["models"]
        rows.extend(
            {
                "series": code,
                "model": name,
                "mase": scores[name]["mase"],
                "smape": scores[name]["smape"],
                coverage_key: scores[name]["coverage"],
                "chosen": name == result.chosen,
                "n_obs": result.n_obs,
                "origins": len(result.origins),
                "error": scores[name]["error"],
            }
            for name in names
        )
    return rows
