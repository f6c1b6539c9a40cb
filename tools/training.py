"""Operator capabilities: train, register, evaluate and load models for an organisation.

These combine the store (history, registry) with ``ml`` (pure modelling). The command
line, the scheduler and the demo call them; the buyer-facing tools load active models
through ``load_price_model``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from sqlalchemy.orm import Session

from core.errors import InvalidInputError, NotFoundError
from ml.forecasting import evaluate_forecasts, fit_forecaster
from ml.price.evaluate import evaluate_price
from ml.price.model import ARTIFACT_FORMAT, PriceModel, train_price_model
from store import history, registry

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
    """Return the active price model and its version number."""
    row = registry.active(session=session, org_id=org_id, kind="price")
    if row is None:
        raise NotFoundError("no active price model: run `pricing-agent train price`")
    return PriceModel.from_bytes(row.artifact), row.version


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


def evaluate_forecast_models(
    *,
    session: Session,
    org_id: uuid.UUID,
    codes: list[str] | None = None,
    horizon: int = 6,
    origins: int = 12,
) -> list[dict[str, Any]]:
    """Backtest every forecasting model on the organisation's index series."""
    index_obs = history.index_observations(session=session, org_id=org_id, codes=codes or None)
    if index_obs.empty:
        raise InvalidInputError("no index series match: import some with `import index`")
    return evaluate_forecasts(
        _monthly_series(index_obs), horizon=horizon, origins=origins, level=0.8
    )
