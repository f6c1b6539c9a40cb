"""Calibrate a template's free parameters on the organisation's own quote history.

The fit minimises a robust loss (``soft_l1`` by default, or ``huber``) of the log-price
residual log(should-cost) - log(quote), within the template's bounds, with
``scipy.optimize.least_squares``. Why robust: bid tabulations carry gross outliers (a
unit price keyed as the line total, lump sums entered per pound, unbalanced bids that
load one item with the project's mobilisation, emergency repairs); under a squared loss a
handful of them pull every parameter. Beyond ``f_scale`` (0.1 = about 10 %) a residual
counts roughly linearly, so the fit behaves like a median rather than a mean. Log prices
make the errors relative, so a 1 USD/lb item and a 1,500 USD/yd3 item are treated alike.

A weak prior pulls each parameter towards the template's own value (``prior_weight``,
about one quote's worth): it only decides between parameter sets the data cannot tell
apart, e.g. a material base and a conversion scale when the index barely moves.

Honest error: quotes are ordered by date and split at a cutoff (default: the date at which
80 % of the quotes precede it; same-day quotes never straddle it). The parameters are fit
on quotes before the cutoff and scored on the rest (held-out figures); in-sample figures
score the same fit on its own training quotes. The uncalibrated template is scored on the
same quotes for comparison. The returned ``params`` and ``template`` are then refit on
every quote (``refit_all``), the version to use going forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import least_squares

from core.errors import InvalidInputError
from ml.should_cost.engine import index_ratios, unit_cost_vector
from ml.should_cost.indexes import IndexTable
from ml.should_cost.template import Template

HISTORY_COLUMNS = ("quote_date", "quantity", "unit_price")
MIN_TRAIN = 10
MIN_TEST = 3
_LOSSES = ("soft_l1", "huber", "cauchy", "arctan", "linear")


@dataclass(frozen=True, slots=True)
class ErrorStats:
    """Errors of a should-cost against quotes, as fractions (0.12 = 12 %)."""

    n: int
    #: Median absolute percentage error: median of |should-cost / quote - 1|.
    mdape: float
    #: Median signed error: median of (should-cost / quote - 1); > 0 means above the quotes.
    bias: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """Fitted parameters, the calibrated template and honest error figures."""

    template: Template
    params: dict[str, float]
    train_params: dict[str, float]
    start_params: dict[str, float]
    cutoff: date
    n_quotes: int
    n_train: int
    n_test: int
    n_dropped: int
    uncalibrated_in_sample: ErrorStats
    uncalibrated_held_out: ErrorStats
    calibrated_in_sample: ErrorStats
    calibrated_held_out: ErrorStats
    loss: str
    f_scale: float
    converged: bool
    #: Free parameters that ended on a bound (fit on all quotes or before the cutoff): the
    #: template's structure or bounds, not the data, decided them; widen or rethink.
    at_bounds: tuple[str, ...] = ()

    def summary(self) -> pd.DataFrame:
        """Return the error table: uncalibrated vs calibrated, in-sample and held out."""
        rows = []
        for label, ins, out in (
            ("uncalibrated", self.uncalibrated_in_sample, self.uncalibrated_held_out),
            ("calibrated", self.calibrated_in_sample, self.calibrated_held_out),
        ):
            rows.append(
                {
                    "template": label,
                    "in_sample_n": ins.n,
                    "in_sample_mdape": ins.mdape,
                    "in_sample_bias": ins.bias,
                    "held_out_n": out.n,
                    "held_out_mdape": out.mdape,
                    "held_out_bias": out.bias,
                }
            )
        return pd.DataFrame(rows).set_index("template")


@dataclass(frozen=True, slots=True)
class _Quotes:
    dates: npt.NDArray[np.datetime64]
    quantity: npt.NDArray[np.float64]
    price: npt.NDArray[np.float64]
    ratios: dict[str, npt.NDArray[np.float64]]

    def take(self, mask: npt.NDArray[np.bool_]) -> _Quotes:
        return _Quotes(
            self.dates[mask],
            self.quantity[mask],
            self.price[mask],
            {k: v[mask] for k, v in self.ratios.items()},
        )


def calibrate(
    template: Template,
    history: pd.DataFrame,
    index_values: pd.DataFrame | IndexTable,
    *,
    cutoff: date | None = None,
    holdout_fraction: float = 0.2,
    loss: str = "soft_l1",
    f_scale: float = 0.1,
    prior_weight: float = 1.0,
    refit_all: bool = True,
) -> Calibration:
    """Fit the template's free parameters to quotes and measure the error on later quotes."""
    if not template.free:
        raise InvalidInputError(f"{template.source}: free: no free parameters to calibrate")
    if loss not in _LOSSES:
        raise InvalidInputError(f"loss must be one of {', '.join(_LOSSES)}, got {loss!r}")
    if not 0 < holdout_fraction < 1:
        raise InvalidInputError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    table = index_values if isinstance(index_values, IndexTable) else IndexTable(index_values)
    quotes, dropped = _quotes(template, history, table)
    cut = _cutoff(quotes.dates, holdout_fraction) if cutoff is None else cutoff
    cut64 = np.datetime64(cut, "D")
    train = quotes.take(quotes.dates < cut64)
    test = quotes.take(quotes.dates >= cut64)
    if len(train.price) < MIN_TRAIN or len(test.price) < MIN_TEST:
        raise InvalidInputError(
            f"calibration needs at least {MIN_TRAIN} quotes before the cutoff {cut} and"
            f" {MIN_TEST} on or after it; got {len(train.price)} and {len(test.price)}"
        )
    fit = _Fitter(template, loss=loss, f_scale=f_scale, prior_weight=prior_weight)
    train_params, converged = fit.fit(train)
    trained = template.with_params(train_params, note="fit")
    if refit_all:
        params, converged_all = fit.fit(quotes)
        converged = converged and converged_all
        fitted_on = quotes
    else:
        params, fitted_on = train_params, train
    first = fitted_on.dates.min().astype("datetime64[D]").item()
    last = fitted_on.dates.max().astype("datetime64[D]").item()
    note = f"calibrated on {len(fitted_on.price):,} quotes {first:%Y-%m}..{last:%Y-%m}"
    return Calibration(
        template=template.with_params(params, note=note),
        params=params,
        train_params=train_params,
        start_params=template.free_start(),
        cutoff=cut,
        n_quotes=len(quotes.price),
        n_train=len(train.price),
        n_test=len(test.price),
        n_dropped=dropped,
        uncalibrated_in_sample=_errors(template, train),
        uncalibrated_held_out=_errors(template, test),
        calibrated_in_sample=_errors(trained, train),
        calibrated_held_out=_errors(trained, test),
        loss=loss,
        f_scale=f_scale,
        converged=converged,
        at_bounds=tuple(
            p
            for p, (lo, hi) in template.free.items()
            if any(_on_bound(fitted[p], lo, hi) for fitted in (params, train_params))
        ),
    )


def _on_bound(value: float, lo: float, hi: float) -> bool:
    tol = 1e-4 * (hi - lo)
    return value <= lo + tol or value >= hi - tol


def _quotes(template: Template, history: pd.DataFrame, table: IndexTable) -> tuple[_Quotes, int]:
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise InvalidInputError(
            f"history: missing column(s) {', '.join(missing)};"
            f" expected {', '.join(HISTORY_COLUMNS)}"
        )
    for column, expected in (("currency", template.currency), ("unit", template.unit)):
        if column in history.columns:
            other = sorted(set(history[column].dropna().astype(str)) - {expected})
            if other:
                raise InvalidInputError(
                    f"history: {column} {other[0]!r} differs from the template's {expected!r};"
                    " convert quotes to the template's unit and currency first"
                )
    dates = pd.to_datetime(history["quote_date"], errors="coerce")
    qty = pd.to_numeric(history["quantity"], errors="coerce").astype("float64")
    price = pd.to_numeric(history["unit_price"], errors="coerce").astype("float64")
    ok = (dates.notna() & (qty > 0) & (price > 0) & np.isfinite(qty) & np.isfinite(price)).to_numpy(
        dtype=bool
    )
    day = dates[ok].to_numpy(dtype="datetime64[D]")
    return (
        _Quotes(
            dates=day,
            quantity=np.asarray(qty[ok], dtype=np.float64),
            price=np.asarray(price[ok], dtype=np.float64),
            ratios=index_ratios(template, table, day),
        ),
        int((~ok).sum()),
    )


def _cutoff(dates: npt.NDArray[np.datetime64], holdout_fraction: float) -> date:
    if len(dates) == 0:
        raise InvalidInputError("history: no usable quotes (positive quantity and unit price)")
    ordered = np.sort(dates)
    pos = min(int(len(ordered) * (1 - holdout_fraction)), len(ordered) - 1)
    cut: date = ordered[pos].astype("datetime64[D]").item()
    return cut


def _errors(template: Template, quotes: _Quotes) -> ErrorStats:
    pred = unit_cost_vector(template, quotes.ratios, quotes.quantity)
    rel = pred / quotes.price - 1
    return ErrorStats(n=len(rel), mdape=float(np.median(np.abs(rel))), bias=float(np.median(rel)))


class _Fitter:
    """Bounded robust least squares on log price, in parameters scaled to [0, 1]."""

    def __init__(self, template: Template, *, loss: str, f_scale: float, prior_weight: float):
        self.template = template
        self.paths = list(template.free)
        self.lo = np.array([template.free[p][0] for p in self.paths])
        self.hi = np.array([template.free[p][1] for p in self.paths])
        start = np.array([float(template.get_param(p)) for p in self.paths])
        self.x0 = (start - self.lo) / (self.hi - self.lo)
        self.loss, self.f_scale, self.prior_weight = loss, f_scale, prior_weight

    def params(self, x: npt.NDArray[np.float64]) -> dict[str, float]:
        values = self.lo + np.clip(x, 0, 1) * (self.hi - self.lo)
        return {p: float(v) for p, v in zip(self.paths, values, strict=True)}

    def fit(self, quotes: _Quotes) -> tuple[dict[str, float], bool]:
        log_price = np.log(quotes.price)

        def residuals(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            candidate = self.template.with_params(self.params(x), note="fit")
            pred = unit_cost_vector(candidate, quotes.ratios, quotes.quantity)
            data = np.log(np.maximum(pred, 1e-12)) - log_price
            prior = self.prior_weight * (x - self.x0)
            out: npt.NDArray[np.float64] = np.concatenate([data, prior])
            return out

        # A few deterministic starts guard against a poor local optimum of the robust loss.
        starts = [self.x0, np.full_like(self.x0, 0.25), np.full_like(self.x0, 0.75)]
        results = [
            least_squares(
                residuals,
                np.clip(x_start, 0, 1),
                bounds=(np.zeros_like(self.x0), np.ones_like(self.x0)),
                loss=self.loss,
                f_scale=self.f_scale,
                method="trf",
            )
            for x_start in starts
        ]
        best = min(results, key=lambda r: float(r.cost))
        # Six significant digits keep the YAML readable; clipping keeps rounding in bounds.
        fitted = {
            p: min(max(float(f"{v:.6g}"), lo), hi)
            for (p, v), lo, hi in zip(self.params(best.x).items(), self.lo, self.hi, strict=True)
        }
        return fitted, bool(best.success)
