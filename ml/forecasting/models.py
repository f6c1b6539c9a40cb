"""Forecast models for monthly price series, all behind one small interface."""

from __future__ import annotations

import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

from core.errors import InvalidInputError
from ml.forecasting.series import regularise_monthly, require_length

if TYPE_CHECKING:
    from prophet import Prophet

FloatArray = npt.NDArray[np.float64]
Bands = tuple[FloatArray, FloatArray, FloatArray]

#: Nominal coverage of the prediction interval unless the caller asks otherwise.
DEFAULT_LEVEL = 0.8
#: Longest horizon accepted, in months (the product asks for 1–12).
MAX_HORIZON = 24
#: Months in a season (yearly cycle of monthly data).
SEASON = 12
#: Fixed seed so Prophet's sampled intervals are reproducible (JSON round trips, tests).
PROPHET_SEED = 20240101


class ModelFitError(RuntimeError):
    """A model could not produce a usable forecast on this data (numerical failure)."""


def check_horizon(horizon: int) -> None:
    """Raise ``InvalidInputError`` unless ``horizon`` is a whole number of months in range."""
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
        raise InvalidInputError("The forecast horizon must be a whole number of months.")
    if not 1 <= horizon <= MAX_HORIZON:
        raise InvalidInputError(f"The forecast horizon must be 1 to {MAX_HORIZON} months.")


def check_level(level: float) -> None:
    """Raise ``InvalidInputError`` unless ``level`` is a coverage strictly between 0 and 1."""
    if not 0.0 < float(level) < 1.0:
        raise InvalidInputError("The interval level must lie strictly between 0 and 1.")


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2.0)


class ForecastModel(ABC):
    """Fit on a monthly series, forecast ``date, mean, lower, upper`` for h months.

    Strictly positive series are modelled on the log scale (``log=None`` decides that
    automatically), so intervals are multiplicative and never go below zero. The
    ``mean`` column is then the back-transformed point forecast, i.e. the median of the
    forecast distribution; it is not bias-adjusted, which keeps the random walk equal to
    the last value and is the right point for absolute-error metrics such as MASE.
    """

    name: ClassVar[str]
    #: Fewest monthly values the model can be fitted on.
    min_obs: ClassVar[int]

    def __init__(self, *, log: bool | None = None) -> None:
        self.log = log
        self._series: pd.Series | None = None
        self._log_scale = False

    @property
    def series(self) -> pd.Series:
        """The regularised training series."""
        if self._series is None:
            raise InvalidInputError(f"The {self.name} model has not been fitted.")
        return self._series

    @property
    def log_scale(self) -> bool:
        """Whether the model was fitted on log values."""
        return self._log_scale

    def fit(self, series: pd.Series) -> Self:
        """Fit on a monthly series (regularised first) and return the fitted model."""
        y = self._prepare(series)
        self._fit(self._to_model_scale(y), pd.DatetimeIndex(y.index))
        self._series = y
        return self

    def forecast(self, horizon: int, *, level: float = DEFAULT_LEVEL) -> pd.DataFrame:
        """Forecast ``horizon`` months after the last observation with a ``level`` interval."""
        check_horizon(horizon)
        check_level(level)
        last = pd.Timestamp(self.series.index[-1])
        mean, lower, upper = self._predict(int(horizon), float(level))
        if self._log_scale:
            with np.errstate(over="ignore"):
                mean, lower, upper = np.exp(mean), np.exp(lower), np.exp(upper)
        if not (np.isfinite(mean).all() and np.isfinite(lower).all() and np.isfinite(upper).all()):
            raise ModelFitError(f"The {self.name} model produced non-finite forecasts.")
        dates = pd.date_range(last + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")
        frame = pd.DataFrame({"date": dates, "mean": mean, "lower": lower, "upper": upper})
        frame.attrs.update(model=self.name, level=float(level))
        return frame

    def state(self) -> dict[str, Any]:
        """Return the fitted state beyond the training series, JSON-serialisable."""
        return {}

    @classmethod
    def restore(
        cls, series: pd.Series, *, log_scale: bool, state: Mapping[str, Any]
    ) -> ForecastModel:
        """Rebuild a fitted model from its training series and ``state()``."""
        model = cls(log=log_scale)
        y = model._prepare(series)
        model._restore(model._to_model_scale(y), pd.DatetimeIndex(y.index), state)
        model._series = y
        return model

    def _prepare(self, series: pd.Series) -> pd.Series:
        y = regularise_monthly(series)
        require_length(y, self.min_obs, f"the {self.name} model")
        positive = bool((y > 0).all())
        if self.log and not positive:
            raise InvalidInputError("A log-scale model needs a strictly positive series.")
        self._log_scale = positive if self.log is None else self.log
        return y

    def _to_model_scale(self, y: pd.Series) -> FloatArray:
        values = y.to_numpy(dtype=np.float64)
        return np.log(values) if self._log_scale else values

    @abstractmethod
    def _fit(self, z: FloatArray, dates: pd.DatetimeIndex) -> None:
        """Fit on the model-scale values ``z``."""

    def _restore(self, z: FloatArray, dates: pd.DatetimeIndex, state: Mapping[str, Any]) -> None:
        # Closed-form models are cheaper to refit than to describe.
        self._fit(z, dates)

    @abstractmethod
    def _predict(self, horizon: int, level: float) -> Bands:
        """Return mean, lower and upper on the model scale."""


def _rms(values: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(values)))) if len(values) else 0.0


class RandomWalk(ForecastModel):
    """Naive forecast: the last value; the interval widens with sqrt(h).

    The spread is the root mean square of the one-step differences of the training
    series (Hyndman's naive residual standard deviation), with normal quantiles.
    """

    name = "random_walk"
    min_obs = 3

    def _fit(self, z: FloatArray, dates: pd.DatetimeIndex) -> None:
        self._last = float(z[-1])
        self._sigma = _rms(np.diff(z))

    def _predict(self, horizon: int, level: float) -> Bands:
        steps = np.arange(1, horizon + 1, dtype=np.float64)
        mean = np.full(horizon, self._last)
        half = _z(level) * self._sigma * np.sqrt(steps)
        return mean, mean - half, mean + half


class SeasonalNaive(ForecastModel):
    """Same month last year; the interval comes from the year-on-year differences.

    The spread is the root mean square of ``y[t] - y[t-12]``, widened by sqrt(k) where k is
    the number of whole years the forecast reaches ahead (1 for horizons up to 12).
    """

    name = "seasonal_naive"
    min_obs = 2 * SEASON

    def _fit(self, z: FloatArray, dates: pd.DatetimeIndex) -> None:
        self._last_year = z[-SEASON:].copy()
        self._sigma = _rms(z[SEASON:] - z[:-SEASON])

    def _predict(self, horizon: int, level: float) -> Bands:
        steps = np.arange(horizon)
        mean = self._last_year[steps % SEASON]
        years = (steps // SEASON + 1).astype(np.float64)
        half = _z(level) * self._sigma * np.sqrt(years)
        return mean, mean - half, mean + half


class ETS(ForecastModel):
    """Exponential smoothing with additive errors and an additive damped trend, ETS(A,Ad,N).

    Fitted by maximum likelihood with statsmodels' ``ETSModel``; intervals are the model's
    analytic prediction intervals (additive-error models have a closed form).
    """

    name = "ets"
    min_obs = 2 * SEASON

    @staticmethod
    def _model(z: FloatArray) -> Any:
        from statsmodels.tsa.exponential_smoothing.ets import (
            ETSModel,
        )

        # A plain RangeIndex: statsmodels 0.15 breaks on bare arrays in get_prediction.
        return ETSModel(
            pd.Series(z),
            error="add",
            trend="add",
            damped_trend=True,
            seasonal=None,
            initialization_method="estimated",
        )

    def _fit(self, z: FloatArray, dates: pd.DatetimeIndex) -> None:
        self._n = len(z)
        # Convergence chatter is noise here: the backtest judges the fit by its forecasts.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._result = self._model(z).fit(disp=False)

    def _restore(self, z: FloatArray, dates: pd.DatetimeIndex, state: Mapping[str, Any]) -> None:
        self._n = len(z)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = self._model(z)
            if list(state["param_names"]) != list(model.param_names):
                raise InvalidInputError("The stored ETS parameters do not match the model.")
            self._result = model.smooth(np.asarray(state["params"], dtype=np.float64))

    def _predict(self, horizon: int, level: float) -> Bands:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prediction = self._result.get_prediction(start=self._n, end=self._n + horizon - 1)
            frame = prediction.summary_frame(alpha=1.0 - level)
        return (
            frame["mean"].to_numpy(dtype=np.float64),
            frame["pi_lower"].to_numpy(dtype=np.float64),
            frame["pi_upper"].to_numpy(dtype=np.float64),
        )

    def state(self) -> dict[str, Any]:
        """Return the estimated parameters; loading smooths with them, no re-estimation."""
        return {
            "param_names": [str(name) for name in self._result.param_names],
            "params": [float(value) for value in self._result.params],
        }


def _prophet_class() -> type[Prophet]:
    # Plotting extras are not installed on purpose; say nothing about them.
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    from cmdstanpy.utils import get_logger
    from prophet import Prophet

    # Prophet sets its logger to INFO on import and cmdstanpy configures its own lazily,
    # so both are quietened after the import, through cmdstanpy's own accessor.
    logging.getLogger("prophet").setLevel(logging.WARNING)
    get_logger().setLevel(logging.WARNING)
    return Prophet


@contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    # Prophet samples its intervals from numpy's global generator; seed it and put the
    # caller's state back so nothing outside sees a change.
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


@contextmanager
def _prophet_quirks() -> Iterator[None]:
    # Prophet 1.5 still calls pandas APIs that pandas 3 deprecates; the warnings are
    # Prophet's to fix and only bury ours.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"prophet(\.|$)")
        yield


class ProphetModel(ForecastModel):
    """Prophet with a linear trend and yearly seasonality only.

    Intervals come from Prophet's own trend-and-noise simulation (``interval_width`` is
    the level), sampled with a fixed seed so the same model always gives the same band.
    """

    name = "prophet"
    min_obs = 2 * SEASON

    def _fit(self, z: FloatArray, dates: pd.DatetimeIndex) -> None:
        prophet_class = _prophet_class()
        model = prophet_class(
            growth="linear",
            yearly_seasonality=True,
            weekly_seasonality=False,
            daily_seasonality=False,
            interval_width=DEFAULT_LEVEL,
        )
        frame = pd.DataFrame({"ds": dates, "y": z})
        try:
            with _numpy_seed(PROPHET_SEED), _prophet_quirks():
                model.fit(frame, seed=PROPHET_SEED)
        except RuntimeError as exc:
            raise ModelFitError(f"Prophet failed to fit: {exc}") from exc
        self._model = model

    def _restore(self, z: FloatArray, dates: pd.DatetimeIndex, state: Mapping[str, Any]) -> None:
        _prophet_class()
        from prophet.serialize import model_from_json

        with _prophet_quirks():
            self._model = model_from_json(str(state["prophet_json"]))

    def _predict(self, horizon: int, level: float) -> Bands:
        last = pd.Timestamp(self.series.index[-1])
        future = pd.DataFrame(
            {"ds": pd.date_range(last + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")}
        )
        self._model.interval_width = level
        with _numpy_seed(PROPHET_SEED), _prophet_quirks():
            frame = self._model.predict(future)
        return (
            frame["yhat"].to_numpy(dtype=np.float64),
            frame["yhat_lower"].to_numpy(dtype=np.float64),
            frame["yhat_upper"].to_numpy(dtype=np.float64),
        )

    def state(self) -> dict[str, Any]:
        """Return Prophet's own JSON (``prophet.serialize.model_to_json``) as a string."""
        from prophet.serialize import model_to_json

        return {"prophet_json": model_to_json(self._model)}


#: The models, simplest first; the order breaks ties between equal backtest scores.
MODELS: dict[str, type[ForecastModel]] = {
    model.name: model for model in (RandomWalk, SeasonalNaive, ETS, ProphetModel)
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def make_model(name: str, *, log: bool | None = None) -> ForecastModel:
    """Return an unfitted model by name: random_walk, seasonal_naive, ets or prophet."""
    try:
        model_class = MODELS[name]
    except KeyError:
        known = ", ".join(MODEL_NAMES)
        raise InvalidInputError(f"Unknown forecast model {name!r}; known: {known}.") from None
    return model_class(log=log)
