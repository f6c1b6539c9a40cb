"""Forecasting of monthly price series (indexes and item prices), horizons 1–12 months.

Design choices, in one place:

- Gaps: ``regularise_monthly`` snaps dates to month starts, averages several values in
  one month, forward-fills gaps of at most 2 months and otherwise keeps only the stretch
  after the last longer gap (a forecast must start from the latest observation).
- Scale: strictly positive series are modelled on the log scale by every model and
  transformed back; ``mean`` is then the back-transformed median (no bias adjustment).
- Models (simplest first): ``random_walk``, ``seasonal_naive`` (period 12), ``ets``
  (ETS(A,Ad,N), statsmodels) and ``prophet`` (yearly seasonality only).
- Backtest: rolling origins one month apart, expanding training window strictly before
  each origin. MASE uses the standard non-seasonal scale (mean absolute one-step naive
  error of the training window, original units); sMAPE is on the 0–200 scale; coverage
  is the share of actuals inside the interval. The lowest mean MASE wins; ties go to the
  simpler model. Every model, Prophet included, uses the same origins.
- Storage: ``Forecaster.to_json`` keeps the regularised training series plus the model
  state: nothing for the naive models (refitted on load, closed form), the estimated
  parameters for ETS (smoothed with them on load, no re-estimation) and
  ``prophet.serialize.model_to_json`` for Prophet.
"""

from ml.forecasting.backtest import (
    DEFAULT_MIN_TRAIN,
    DEFAULT_ORIGINS,
    BacktestResult,
    backtest,
    choose_model,
    rank_models,
)
from ml.forecasting.forecaster import Forecaster, evaluate_forecasts, fit_forecaster
from ml.forecasting.models import (
    DEFAULT_LEVEL,
    ETS,
    MAX_HORIZON,
    MODEL_NAMES,
    MODELS,
    ForecastModel,
    ModelFitError,
    ProphetModel,
    RandomWalk,
    SeasonalNaive,
    make_model,
)
from ml.forecasting.reading import buy_signal
from ml.forecasting.series import MAX_FILL_MONTHS, regularise_monthly

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_MIN_TRAIN",
    "DEFAULT_ORIGINS",
    "ETS",
    "MAX_FILL_MONTHS",
    "MAX_HORIZON",
    "MODELS",
    "MODEL_NAMES",
    "BacktestResult",
    "ForecastModel",
    "Forecaster",
    "ModelFitError",
    "ProphetModel",
    "RandomWalk",
    "SeasonalNaive",
    "backtest",
    "buy_signal",
    "choose_model",
    "evaluate_forecasts",
    "fit_forecaster",
    "make_model",
    "rank_models",
    "regularise_monthly",
]
