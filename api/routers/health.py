"""Liveness, readiness and metrics: for load balancers, orchestrators and Prometheus."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from core.errors import PricingAgentError
from store import migrate

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    """Answer as long as the process runs; touches nothing else."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: store reachable, schema current, models loaded",
    responses={503: {"description": "Not ready; the body says which check failed."}},
)
def ready(svc: ServicesDep, request: Request) -> JSONResponse:
    """Say whether this process should get traffic, check by check."""
    checks: dict[str, Any] = {}
    ok = True
    try:
        svc.database.ping()
        checks["store"] = "ok"
    except PricingAgentError as exc:
        checks["store"] = exc.message
        ok = False
    if ok:
        try:
            current, head = migrate.current_revision(svc.database), migrate.head_revision()
        except PricingAgentError as exc:  # the store went away between the two checks
            checks["schema"] = exc.message
            ok = False
        else:
            checks["schema"] = {"current": current, "head": head}
            ok = current == head
    warmup = request.app.state.warmup
    checks["models"] = warmup.status()
    ok = ok and warmup.done
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Request counts and latencies by route, tool calls, active model versions."""
    body, content_type = request.app.state.metrics.exposition()
    return Response(body, media_type=content_type)
