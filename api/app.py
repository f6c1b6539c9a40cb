"""The FastAPI app factory: routers, error handlers, limits, metrics, start-up warm-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.deps import Services
from api.limits import BodyLimitMiddleware, NulGuardMiddleware
from api.metrics import Metrics, MetricsMiddleware
from api.routers import (
    anomalies,
    chat,
    erp,
    forecasts,
    health,
    imports,
    items,
    keys,
    negotiation,
    predictions,
    price_increase,
    quotes,
    rfqs,
    should_cost,
    suppliers,
)
from api.security import KeyToucher, RateLimiter
from api.settings import ApiSettings, get_api_settings
from api.warmup import ModelWarmup
from core.settings import Settings, get_settings
from store.db import Database
from tools.erp_actions import ConnectorFactory, build_connector
from ui.chat.mount import mount_chat
from ui.chat.settings import ChatSettings, get_chat_settings
from ui.slack.http import mount_slack

API_PREFIX = "/api/v1"
DESCRIPTION = """\
Price checks, bid leveling, should-cost, forecasts and negotiation advice for buyers,
computed from your organisation's own quote and purchase history.

* Authenticate with `Authorization: Bearer <api key>` (`pricing-agent keys create`).
  Keys have a role: **viewer** (read and analyse), **buyer** (also import and approve),
  **admin** (also manage keys).
* Money is exact: amounts are decimal strings, each with its currency and unit of measure.
* Errors are RFC 9457 `application/problem+json`; validation errors name each field.
* Each key is rate-limited; a 429 carries `Retry-After`.
"""


def create_app(
    *,
    settings: Settings | None = None,
    api_settings: ApiSettings | None = None,
    database: Database | None = None,
    warm_models: bool = True,
    chat_settings: ChatSettings | None = None,
    erp_connectors: ConnectorFactory | None = None,
) -> FastAPI:
    """Build the service; pass ``database`` to share one (tests), else one is made."""
    settings = settings or (database.settings if database else get_settings())
    api_settings = api_settings or get_api_settings()
    chat_settings = chat_settings or get_chat_settings()
    owns_database = database is None
    db = database or Database(settings)
    metrics = Metrics(db)
    svc = Services(
        database=db,
        settings=settings,
        api=api_settings,
        limiter=RateLimiter(
            per_minute=api_settings.rate_limit_per_minute, burst=api_settings.rate_limit_burst
        ),
        toucher=KeyToucher(api_settings.key_touch_seconds),
        metrics=metrics,
        erp_connectors=erp_connectors or build_connector,
    )
    warmup = ModelWarmup(db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_models:
            warmup.start()
        else:
            warmup.done = True
        yield
        if owns_database:
            db.dispose()

    app = FastAPI(
        title="Pricing agent",
        version="1.0.0",
        summary="Fair prices, bid leveling and negotiation advice for procurement buyers.",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=problems.PROBLEM_RESPONSES,
    )
    app.state.services = svc
    app.state.metrics = metrics
    app.state.warmup = warmup
    problems.install(app)
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        default=api_settings.max_body_bytes,
        per_path={
            f"{API_PREFIX}/imports": api_settings.max_upload_bytes,
            f"{chat_settings.path}/project/file": api_settings.max_upload_bytes,
        },
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(health.router)
    for module in (
        predictions,
        quotes,
        should_cost,
        anomalies,
        forecasts,
        price_increase,
        negotiation,
        items,
        suppliers,
        rfqs,
        imports,
        chat,
        erp,
        keys,
    ):
        router = module.router
        app.include_router(router, prefix=API_PREFIX)
    # The faces people use, served by the same process: the chat and the Slack bot.
    mount_chat(app, database=db, settings=settings, chat=chat_settings)
    mount_slack(app, database=db, settings=settings)
    return app
