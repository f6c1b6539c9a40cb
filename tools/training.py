"""Operator capabilities: train, register, evaluate and load models for an organisation.

These combine the store (history, registry) with ``ml`` (pure modelling). The command
line, the scheduler and the demo call them; the buyer-facing tools load active models
through ``load_price_model``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from sqlalchemy.orm import Session

from core.errors import InvalidInputError, NotFoundError, UnitConversionError
from ml.anomaly import measure_detection
from ml.forecasting import evaluate_forecasts, fit_forecaster
from ml.price.evaluate import evaluate_price
from ml.price.model import ARTIFACT_FORMAT, PriceModel, train_price_model
from ml.should_cost import calibrate, shipped_template
from store import history, registry
from store.units import UnitCatalog
from tools import price_cache

FORECAST_FORMAT = "forecasters-json-v1"


@dataclass(frozen=True)
class TrainedVersion:
    """What a training run registered."""

    kind: str
    version: int
    rows: int
    seconds: float
    metrics: dict[str, Any]

    def summary(self) -> str:
        """One line for people."""
        shown = ", ".join(f"{k} {v:.3f}" for k, v in self.metrics.items() if isinstance(v, float))
        return (
            f"{self.kind} model v{self.version}: trained on {self.rows:,} rows in "
            f"{self.seconds:.1f} s{'; ' + shown if shown else ''}"
        )


def fingerprint(frame: pd.DataFrame, columns: list[str]) -> str:
    """SHA-256 of the training data's identity and values (order-independent)."""
    hashed = pd.util.hash_pandas_object(frame[columns], index=False).sort_values()
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def _price_inputs(
    session: Session, org_id: uuid.UUID, until: dt.date | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    frame = history.quote_history(session=session, org_id=org_id, until=until)
    links = history.category_links(session=session, org_id=org_id)
    codes = sorted(set(links.values()))
    index_obs = history.index_observations(session=session, org_id=org_id, codes=codes or None)
    return frame, index_obs, links


def train_price(*, session: Session, org_id: uuid.UUID, actor: str) -> TrainedVersion:
    """Train the quote-price model on the organisation's history and activate it."""
    frame, index_obs, links = _price_inputs(session, org_id)
    started = time.perf_counter()
    model = train_price_model(frame, index_obs, links)
    seconds = time.perf_counter() - started
    metrics = {"calibration_coverage_80": model.info["calibration_coverage_80"]}
    row = registry.register(
        session=session,
        org_id=org_id,
        kind="price",
        artifact=model.to_bytes(),
        artifact_format=ARTIFACT_FORMAT,
        data_fingerprint=fingerprint(frame, ["line_id", "quote_date", "unit_price"]),
        training_rows=len(frame),
        training_seconds=seconds,
        params={"links": links, "rounds": model.info["rounds"]},
        metrics=metrics,
        actor=actor,
    )
    return TrainedVersion("price", row.version, len(frame), seconds, metrics)


def load_price_model(*, session: Session, org_id: uuid.UUID) -> tuple[PriceModel, int]:
    """Return the active price model and its version number (read once per process)."""
    cached = price_cache.active_model(session=session, org_id=org_id)
    return cached.model, cached.version


def _monthly_series(index_obs: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        str(code): group.set_index("obs_date")["value"].astype(float).sort_index()
        for code, group in index_obs.groupby("code")
    }


def train_forecast(
    *,
    session: Session,
    org_id: uuid.UUID,
    actor: str,
    horizon: int = 12,
    codes: list[str] | None = None,
) -> TrainedVersion:
    """Pick and fit a forecaster per index series (rolling-origin backtest) and register them."""
    index_obs = history.index_observations(session=session, org_id=org_id, codes=codes)
    if index_obs.empty:
        raise InvalidInputError("no index series to forecast: import some with `import index`")
    started = time.perf_counter()
    fitted: dict[str, Any] = {}
    chosen: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for code, series in _monthly_series(index_obs).items():
        try:
            forecaster = fit_forecaster(series, horizon=horizon)
        except InvalidInputError as exc:
            skipped[code] = exc.message
            continue
        fitted[code] = forecaster.to_json()
        chosen[code] = forecaster.model_name
    if not fitted:
        raise InvalidInputError(f"no series long enough to forecast: {skipped}")
    seconds = time.perf_counter() - started
    metrics = {
        "series": len(fitted),
        "skipped": len(skipped),
        "chosen": {m: list(chosen.values()).count(m) for m in sorted(set(chosen.values()))},
    }
    artifact = json.dumps({"format": FORECAST_FORMAT, "forecasters": fitted}).encode()
    row = registry.register(
        session=session,
        org_id=org_id,
        kind="forecast",
        artifact=artifact,
        artifact_format=FORECAST_FORMAT,
        data_fingerprint=fingerprint(index_obs, ["code", "obs_date", "value"]),
        training_rows=len(index_obs),
        training_seconds=seconds,
        params={"horizon": horizon, "skipped": skipped},
        metrics=metrics,
        actor=actor,
    )
    return TrainedVersion("forecast", row.version, len(index_obs), seconds, {})


def evaluate_price_model(
    *,
    session: Session,
    org_id: uuid.UUID,
    folds: int = 5,
    group: Literal["item", "supplier", "rfq"] = "rfq",
    split: Literal["group", "time"] = "group",
    cutoff: dt.date | None = None,
) -> dict[str, Any]:
    """Cross-validate the price model on the organisation's quotes, with baselines."""
    frame, index_obs, links = _price_inputs(session, org_id)
    return evaluate_price(
        frame, index_obs, links, folds=folds, group=group, split=split, cutoff=cutoff
    )


def item_price_series(frame: pd.DataFrame, item_code: str) -> pd.Series:
    """An item's monthly median quoted unit price (in the item's unit)."""
    lines = frame[frame["item_code"] == item_code]
    if lines.empty:
        raise NotFoundError(f"no quotes for item {item_code!r}")
    monthly = lines.set_index("quote_date")["unit_price"].resample("MS").median()
    return monthly.dropna().rename(f"item {item_code}")


def evaluate_forecast_models(
    *,
    session: Session,
    org_id: uuid.UUID,
    codes: list[str] | None = None,
    items: list[str] | None = None,
    horizon: int = 6,
    origins: int = 12,
    min_train: int = 48,
) -> list[dict[str, Any]]:
    """Backtest every forecasting model on index series and item price series."""
    series: dict[str, pd.Series] = {}
    if codes or not items:
        index_obs = history.index_observations(session=session, org_id=org_id, codes=codes or None)
        series.update(_monthly_series(index_obs))
    if items:
        frame = history.quote_history(session=session, org_id=org_id)
        for code in items:
            series[f"item:{code}"] = item_price_series(frame, code)
    if not series:
        raise InvalidInputError("no series match: import index series or quotes first")
    return evaluate_forecasts(
        series, horizon=horizon, origins=origins, level=0.8, min_train=min_train
    )


def template_name(category: str) -> str:
    """The should-cost template name for an item category (``ready-mix concrete`` ->
    ``ready_mix_concrete``)."""
    return re.sub(r"[^a-z0-9]+", "_", category.strip().lower()).strip("_")


def category_quotes(
    *,
    session: Session,
    org_id: uuid.UUID,
    category: str,
    unit: str,
    items: list[str] | None = None,
    until: dt.date | None = None,
) -> tuple[pd.DataFrame, list[str], int]:
    """A category's quotes re-expressed in ``unit`` (those that convert).

    Returns the quotes (quote_date, quantity, unit_price), the item codes used, and how
    many quotes were left out because their unit does not convert.
    """
    frame = history.quote_history(session=session, org_id=org_id, until=until)
    chosen = frame[frame["category"] == category]
    if items:
        chosen = chosen[chosen["item_code"].isin(items)]
    if chosen.empty:
        raise InvalidInputError(
            f"no quotes of category {category!r}" + (f" items {items}" if items else "")
        )
    catalog = UnitCatalog.load(session)
    factors: dict[str, float | None] = {}
    for line_unit in chosen["unit"].unique():
        try:
            factors[line_unit] = float(catalog.factor(line_unit, unit))
        except UnitConversionError:
            factors[line_unit] = None
    factor = chosen["unit"].map(factors)
    usable = chosen[factor.notna()]
    per = factor[factor.notna()].astype(float)
    quotes = pd.DataFrame(
        {
            "quote_date": usable["quote_date"],
            "quantity": usable["quantity"] * per,
            "unit_price": usable["unit_price"] / per,
        }
    )
    return quotes, sorted(usable["item_code"].unique()), int(len(chosen) - len(usable))


def evaluate_should_cost(
    *,
    session: Session,
    org_id: uuid.UUID,
    category: str,
    items: list[str] | None = None,
) -> dict[str, Any]:
    """Calibrate a category's should-cost template on the organisation's quotes.

    Uses the quotes of the category's items (or only ``items``) whose unit converts to the
    template's; reports uncalibrated and calibrated error on the later 20% of quotes.
    """
    template = shipped_template(template_name(category))
    quotes, usable_items, excluded = category_quotes(
        session=session, org_id=org_id, category=category, unit=template.unit, items=items
    )
    codes = sorted({m.index for m in template.material if m.index})
    index_obs = history.index_observations(session=session, org_id=org_id, codes=codes or None)
    result = calibrate(template, quotes, index_obs)
    return {
        "category": category,
        "template": template_name(category),
        "unit": template.unit,
        "items": usable_items,
        "quotes": len(quotes),
        "excluded_other_units": excluded,
        "cutoff": str(result.cutoff),
        "train": result.n_train,
        "test": result.n_test,
        "uncalibrated": {
            "held_out_mdape": result.uncalibrated_held_out.mdape,
            "held_out_bias": result.uncalibrated_held_out.bias,
        },
        "calibrated": {
            "held_out_mdape": result.calibrated_held_out.mdape,
            "held_out_bias": result.calibrated_held_out.bias,
        },
        "params": result.params,
        "at_bounds": list(result.at_bounds),
    }


def evaluate_anomaly_detection(
    *,
    session: Session,
    org_id: uuid.UUID,
    cutoff: dt.date,
    sizes: tuple[float, ...] = (1.3, 1.5, 2.0),
    share: float = 0.1,
    seed: int = 0,
) -> dict[str, Any]:
    """Inject known overpricing into held-out quotes and measure precision and recall."""
    frame, index_obs, links = _price_inputs(session, org_id)
    return measure_detection(
        frame, index_obs, links, cutoff=cutoff, sizes=sizes, share=share, seed=seed
    )
