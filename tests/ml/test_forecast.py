"""Forecasting of monthly price series: models, backtest, choice, storage, reading."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInputError
from ml.forecasting import (
    ETS,
    MODEL_NAMES,
    BacktestResult,
    Forecaster,
    ModelFitError,
    backtest,
    buy_signal,
    choose_model,
    evaluate_forecasts,
    fit_forecaster,
    make_model,
    regularise_monthly,
)

FRED = (
    Path(__file__).resolve().parents[2]
    / "data"
    / "sample"
    / "fred_ppi_construction_inputs_1947-01_2023-11.csv.gz"
)


@pytest.fixture(scope="module")
def fred() -> pd.DataFrame:
    """The FRED producer price indexes, one column per series."""
    return pd.read_csv(FRED, parse_dates=["date"]).set_index("date")


@pytest.fixture(scope="module")
def concrete(fred: pd.DataFrame) -> pd.Series:
    """Ready-mix concrete PPI, 1971-2023: a steady climb that steepens at the end."""
    return fred["WPU1333"].dropna()


@pytest.fixture(scope="module")
def concrete_forecaster(concrete: pd.Series) -> Forecaster:
    """The forecaster chosen for ready-mix concrete, horizon 6."""
    return fit_forecaster(concrete, horizon=6)


def _monthly(values: list[float] | np.ndarray, start: str = "2010-01-01") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq="MS")
    return pd.Series(np.asarray(values, dtype=float), index=index, name="test")


def _seasonal(months: int = 72) -> pd.Series:
    steps = np.arange(months)
    return _monthly(100 + 0.2 * steps + 8 * np.sin(2 * np.pi * steps / 12))


def test_forecaster_beats_or_ties_random_walk_on_trending_series(
    concrete_forecaster: Forecaster,
) -> None:
    metrics = concrete_forecaster.backtest.metrics if concrete_forecaster.backtest else None
    assert metrics is not None
    chosen = metrics.loc[concrete_forecaster.model_name, "mase"]
    assert chosen <= metrics.loc["random_walk", "mase"]
    # On a clear trend the damped-trend model should do strictly better than naive.
    assert metrics.loc["ets", "mase"] < metrics.loc["random_walk", "mase"]
    assert concrete_forecaster.model_name != "random_walk"
    assert list(metrics.index) == list(MODEL_NAMES)
    assert (metrics["n_forecasts"] == 12 * 6).all()


def test_interval_coverage_is_sane_on_real_series(
    concrete_forecaster: Forecaster, fred: pd.DataFrame
) -> None:
    all_commodities = fred["PPIACO"].loc["1995-01":"2019-12"]
    other = backtest(all_commodities, horizon=6, models=["random_walk", "ets"])
    assert concrete_forecaster.backtest is not None
    for result in (concrete_forecaster.backtest, other):
        coverage = result.metrics.loc[result.chosen, "coverage"]
        assert 0.5 <= coverage <= 1.0, (result.chosen, coverage)


def test_forecast_frame_shape_and_dates(concrete_forecaster: Forecaster) -> None:
    frame = concrete_forecaster.forecast(3)
    assert list(frame.columns) == ["date", "mean", "lower", "upper"]
    assert frame["date"].tolist() == list(pd.date_range("2023-12-01", periods=3, freq="MS"))
    assert (frame["lower"] < frame["mean"]).all()
    assert (frame["mean"] < frame["upper"]).all()


def test_random_walk_forecast_equals_last_value(concrete: pd.Series) -> None:
    model = make_model("random_walk").fit(concrete)
    frame = model.forecast(9)
    np.testing.assert_allclose(frame["mean"], concrete.iloc[-1], rtol=1e-12)
    # Log scale: the half-width of log(upper / mean) grows with sqrt(h).
    spread = np.log(frame["upper"] / frame["mean"]).to_numpy()
    np.testing.assert_allclose(spread[3] / spread[0], 2.0, rtol=1e-9)
    wider = model.forecast(9, level=0.95)
    assert (wider["upper"] > frame["upper"]).all()


def test_seasonal_naive_repeats_last_year() -> None:
    series = _seasonal()
    frame = make_model("seasonal_naive").fit(series).forecast(15)
    last_year = series.iloc[-12:].to_numpy()
    np.testing.assert_allclose(frame["mean"].iloc[:12], last_year, rtol=1e-12)
    np.testing.assert_allclose(frame["mean"].iloc[12:], last_year[:3], rtol=1e-12)
    width = np.log(frame["upper"] / frame["mean"]).to_numpy()
    np.testing.assert_allclose(width[:12], width[0])
    np.testing.assert_allclose(width[12] / width[0], np.sqrt(2.0))


def test_non_positive_series_is_modelled_on_the_original_scale() -> None:
    series = _monthly(np.linspace(-5.0, 5.0, 40))
    model = make_model("ets").fit(series)
    assert not model.log_scale
    assert np.isfinite(model.forecast(6).to_numpy()[:, 1:].astype(float)).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_json_round_trip_reproduces_forecasts(name: str, concrete: pd.Series) -> None:
    model = make_model(name).fit(concrete.loc["2005-01":])
    forecaster = Forecaster(model, horizon=6)
    stored = json.loads(json.dumps(forecaster.to_json(), allow_nan=False))
    loaded = Forecaster.from_json(stored)
    assert loaded.model_name == name
    pd.testing.assert_frame_equal(loaded.forecast(), forecaster.forecast(), rtol=1e-10)
    pd.testing.assert_frame_equal(
        loaded.forecast(12, level=0.9), forecaster.forecast(12, level=0.9), rtol=1e-10
    )


def test_json_round_trip_keeps_backtest_scores(concrete_forecaster: Forecaster) -> None:
    payload = json.dumps(concrete_forecaster.to_json(), allow_nan=False)
    loaded = Forecaster.from_json(json.loads(payload))
    assert loaded.backtest is not None
    assert concrete_forecaster.backtest is not None
    assert loaded.backtest.chosen == concrete_forecaster.backtest.chosen
    pd.testing.assert_frame_equal(loaded.backtest.metrics, concrete_forecaster.backtest.metrics)
    pd.testing.assert_frame_equal(
        loaded.backtest.mase_by_horizon, concrete_forecaster.backtest.mase_by_horizon
    )
    assert loaded.last_value == concrete_forecaster.last_value
    with pytest.raises(InvalidInputError):
        Forecaster.from_json({"format": "something else"})


def test_short_gaps_are_forward_filled_and_dates_snapped() -> None:
    series = _monthly(np.arange(1.0, 31.0))
    series = series.drop(series.index[[10, 11]])  # a two-month gap
    series.index = series.index + pd.Timedelta(days=14)  # mid-month dates
    regular = regularise_monthly(series.sample(frac=1.0, random_state=1))
    assert len(regular) == 30
    assert regular.index.freqstr == "MS"
    assert regular.iloc[10] == regular.iloc[11] == regular.iloc[9] == 10.0
    doubled = pd.concat([series, series + 2.0])  # two quotes in one month are averaged
    assert regularise_monthly(doubled).iloc[0] == 2.0


def test_long_gap_keeps_the_recent_stretch() -> None:
    series = _monthly(np.arange(1.0, 121.0))
    series.iloc[40:43] = np.nan  # three missing months break the series
    regular = regularise_monthly(series)
    assert regular.index[0] == series.index[43]
    assert len(regular) == 77
    model = make_model("ets").fit(series)
    assert model.forecast(2)["date"].iloc[0] == pd.Timestamp("2020-01-01")


def test_too_short_series_raises_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="too short"):
        fit_forecaster(_monthly(np.linspace(100, 110, 30)), horizon=6)
    broken = _monthly(np.linspace(100, 200, 200))
    broken.iloc[180:184] = np.nan  # only 16 months after the last long gap
    with pytest.raises(InvalidInputError, match="16 monthly values"):
        backtest(broken, horizon=6)
    with pytest.raises(InvalidInputError, match="too short"):
        make_model("prophet").fit(_monthly([1.0, 2.0, 3.0]))


def test_invalid_arguments_raise_invalid_input() -> None:
    series = _seasonal()
    with pytest.raises(InvalidInputError):
        make_model("random_walk").fit(series).forecast(0)
    with pytest.raises(InvalidInputError):
        backtest(series, horizon=6, level=1.5)
    with pytest.raises(InvalidInputError, match="Unknown forecast model"):
        backtest(series, horizon=6, models=["arima"])
    with pytest.raises(InvalidInputError):
        regularise_monthly(pd.Series([1.0, 2.0]))


def test_backtest_never_uses_data_at_or_after_the_origin() -> None:
    series = _seasonal(96)
    clean = backtest(series, horizon=3, origins=3, min_train=48)
    first_origin = clean.origins[0]
    spiked = series.copy()
    spiked[spiked.index >= first_origin] *= 10.0  # leaked, this would move every model
    leaked = backtest(spiked, horizon=3, origins=3, min_train=48)

    def at(result: BacktestResult, origin: pd.Timestamp) -> pd.DataFrame:
        rows = result.forecasts[result.forecasts["origin"] == origin]
        return rows[["model", "step", "mean", "lower", "upper"]].reset_index(drop=True)

    pd.testing.assert_frame_equal(at(clean, first_origin), at(leaked, first_origin))
    assert len(at(clean, first_origin)) == len(MODEL_NAMES) * 3
    # The test is sensitive: at the next origin the spike is history and shows up.
    later = clean.origins[1]
    assert not np.allclose(at(clean, later)["mean"], at(leaked, later)["mean"])
    # The random walk forecasts the value just before each origin, never the origin's own.
    walk = clean.forecasts[clean.forecasts["model"] == "random_walk"]
    for origin, rows in walk.groupby("origin"):
        previous = series[series.index < origin].iloc[-1]
        np.testing.assert_allclose(rows["mean"], previous, rtol=1e-12)


def test_choose_model_breaks_ties_towards_the_simpler_model() -> None:
    metrics = pd.DataFrame(
        {"mase": [1.0, 0.9, 0.9, 0.9 + 1e-13]}, index=["random_walk", "prophet", "ets", "x"]
    )
    assert choose_model(metrics) == "ets"


def test_refit_failure_falls_back_to_the_next_best_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    series = _monthly(100 * 1.01 ** np.arange(80))
    fit = ETS._fit

    def fail_on_full_series(self: ETS, z: np.ndarray, dates: pd.DatetimeIndex) -> None:
        if len(z) == 80:
            raise ModelFitError("no convergence")
        fit(self, z, dates)

    monkeypatch.setattr(ETS, "_fit", fail_on_full_series)
    forecaster = fit_forecaster(series, horizon=3, models=["random_walk", "ets"])
    assert forecaster.backtest is not None
    assert forecaster.backtest.chosen == "ets"
    assert forecaster.model_name == "random_walk"


def test_evaluate_forecasts_rows(fred: pd.DataFrame) -> None:
    rows = evaluate_forecasts(
        {"WPU1333": fred["WPU1333"], "TOO_SHORT": fred["PPIACO"].iloc[-20:]},
        horizon=6,
        origins=4,
        level=0.8,
        models=["random_walk", "ets"],
    )
    assert len(rows) == 4
    assert {tuple(row) for row in rows} == {
        (
            "series",
            "model",
            "mase",
            "smape",
            "coverage_80",
            "chosen",
            "n_obs",
            "origins",
            "error",
        )
    }
    concrete = [row for row in rows if row["series"] == "WPU1333"]
    assert sum(row["chosen"] for row in concrete) == 1
    assert all(row["origins"] == 4 and row["n_obs"] == 635 for row in concrete)
    assert all(0 <= row["smape"] <= 200 for row in concrete)
    short = [row for row in rows if row["series"] == "TOO_SHORT"]
    assert all(row["mase"] is None and "too short" in row["error"] for row in short)
    json.dumps(rows, allow_nan=False)


def _frame(mean: float, lower: float, upper: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.date_range("2024-01-01", periods=3, freq="MS"),
            "mean": [100.0, 100.0, mean],
            "lower": [90.0, 90.0, lower],
            "upper": [110.0, 110.0, upper],
        }
    )


@pytest.mark.parametrize(
    ("bounds", "direction"),
    [((108.0, 103.0, 112.0), "rise"), ((95.0, 91.0, 98.0), "fall"), ((99.0, 92.0, 106.0), "flat")],
)
def test_buy_signal_reads_the_interval(bounds: tuple[float, float, float], direction: str) -> None:
    signal = buy_signal(_frame(*bounds), 100.0)
    assert signal["direction"] == direction
    assert signal["months_ahead"] == 3
    assert signal["expected_change_pct"] == pytest.approx(bounds[0] - 100.0)
    assert signal["lower_change_pct"] == pytest.approx(bounds[1] - 100.0)
    assert "80% interval" in signal["summary"]
    if direction == "flat":
        assert "within noise" in signal["summary"]
    assert buy_signal(_frame(*bounds), 100.0, step=1)["direction"] == "flat"


def test_buy_signal_on_a_real_forecast(concrete_forecaster: Forecaster) -> None:
    frame = concrete_forecaster.forecast(3, level=0.9)
    signal = buy_signal(frame, concrete_forecaster.last_value)
    assert signal["level"] == 0.9
    assert signal["date"] == "2024-02-01"
    assert signal["lower_change_pct"] < signal["expected_change_pct"] < signal["upper_change_pct"]
    with pytest.raises(InvalidInputError):
        buy_signal(frame, 0.0)


def test_prophet_is_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    make_model("prophet").fit(_seasonal()).forecast(3)
    captured = capfd.readouterr()
    assert "INFO" not in captured.err + captured.out
    assert logging.getLogger("cmdstanpy").getEffectiveLevel() >= logging.WARNING
