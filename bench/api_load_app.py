"""The service as ``bench.api_load`` runs it: the real app plus two reference routes.

``uvicorn bench.api_load_app:create --factory`` builds the app exactly as the service does
(``api.create_app()``: settings from the environment, the same middleware, error handlers
and model warm-up) and adds, on the same app:

``POST /bench/constant``
    returns a constant JSON object; no authentication, no store. It goes through the same
    ASGI stack (uvicorn, the metrics middleware, FastAPI routing and JSON serialisation) as
    the prediction route, so it is the floor for any route of this app: the reference.

``POST /bench/constant-auth``
    returns the same constant behind the real tenant dependency: the bearer key is looked
    up in the store, rate-limited, and a transaction scoped to the caller's organisation is
    opened and committed. It shows how much of a request is authentication and the store
    round trips before the prediction itself starts.

Both ignore the request body (the load generator sends the prediction's body anyway, so
the bytes on the wire are the same). Both are plain ``def`` routes, run in the thread pool
as the price route and its dependencies are, so the price route differs from the
reference by its own work only.
"""

from __future__ import annotations

from fastapi import FastAPI

from api import create_app
from api.deps import TenantDep

CONSTANT = {"status": "ok", "p10": "0.9800", "p50": "1.1400", "p90": "1.3900"}
REFERENCE_PATH = "/bench/constant"
AUTH_FLOOR_PATH = "/bench/constant-auth"


def add_reference_routes(app: FastAPI) -> FastAPI:
    """Add the two constant routes to ``app`` (after its own routes and middleware)."""

    @app.post(REFERENCE_PATH, include_in_schema=False)
    def constant() -> dict[str, str]:
        return CONSTANT

    @app.post(AUTH_FLOOR_PATH, include_in_schema=False)
    def constant_auth(tenant: TenantDep) -> dict[str, str]:
        return CONSTANT

    return app


def create() -> FastAPI:
    """The service's app with the reference routes (uvicorn ``--factory`` entry)."""
    return add_reference_routes(create_app())
