"""Prometheus metrics: requests and latencies by route, tool calls, active model versions.

Each app has its own registry (tests build many apps). With ``PROMETHEUS_MULTIPROC_DIR``
set (``pricing-agent serve --workers N`` sets it), the figures of every worker are
collected through prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.db import Database

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ActiveModels(Collector):
    """Active model versions per organisation and kind, read from the store at scrape time."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "pricing_active_model_version",
            "Version number of the active model, by organisation and kind.",
            labels=["org_id", "kind"],
        )
        try:
            with self.database.owner_session() as session:
                rows = session.execute(
                    text("SELECT org_id, kind, version FROM model_versions WHERE status = 'active'")
                ).all()
        except Exception:
            rows = []
        for row in rows:
            family.add_metric([str(row.org_id), row.kind], float(row.version))
        yield family


class Metrics:
    """The metrics of one app."""

    def __init__(self, database: Database | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "pricing_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pricing_http_request_duration_seconds",
            "HTTP request latency by method and route (to the last byte sent).",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "pricing_tool_calls",
            "Capability calls by tool, face (api or chat) and outcome.",
            ["tool", "face", "outcome"],
            registry=self.registry,
        )
        self.database = database
        if database is not None:
            self.registry.register(ActiveModels(database))

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Several workers: counters and histograms live in files every worker writes.
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            if self.database is not None:
                registry.register(ActiveModels(self.database))
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_template(scope: Scope) -> str:
    """The matched route's template with its router prefix, e.g. ``/api/v1/items/{code}``.

    Unmatched paths share one label, so scanners cannot blow up the number of series.
    """
    path = getattr(scope.get("route"), "path", None)
    if path is None:
        return "unmatched"
    # FastAPI keeps an included router's prefix apart from its routes' own paths.
    included = (scope.get("fastapi") or {}).get("included_router")
    prefix = getattr(getattr(included, "include_context", None), "prefix", "") or ""
    return f"{prefix}{path}"


class MetricsMiddleware:
    """Count and time every HTTP request by its route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            template = route_template(scope)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
