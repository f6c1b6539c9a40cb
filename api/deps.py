"""Dependencies every route shares: the services, the caller, and its tenant session.

A request is authenticated (one SECURITY DEFINER look-up of the key's hash), rate-limited
per key, and then runs in one transaction scoped to the caller's organisation, so
row-level security applies to every statement. The transaction commits before the
response is sent (``scope="function"``): a 2xx means the write is durable.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.metrics import Metrics
from api.problems import RateLimitedError
from api.security import Caller, KeyToucher, RateLimiter, bearer_token
from api.settings import ApiSettings
from core.errors import PricingAgentError
from core.settings import Settings
from store import orgs
from store.db import Database
from tools.base import ToolContext

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class Services:
    """What the app holds for its whole life; built once by ``create_app``."""

    database: Database
    settings: Settings
    api: ApiSettings
    limiter: RateLimiter
    toucher: KeyToucher
    metrics: Metrics


def services(request: Request) -> Services:
    """The app's services."""
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key of your organisation: `pricing-agent keys create` or POST /keys.",
)


def authenticate(
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Caller:
    """Authenticate the bearer key and take one token of its rate limit."""
    # The security scheme documents the key in OpenAPI; the header itself is parsed here so
    # that every malformed form gets the same clear 401.
    key = credentials.credentials if credentials else bearer_token(authorization)
    with svc.database.unscoped_session() as session:
        principal = orgs.authenticate_api_key(session=session, key=key)
        if svc.toucher.due(principal.key_id):
            orgs.touch_api_key(session=session, org_id=principal.org_id, key_id=principal.key_id)
    wait = svc.limiter.acquire(principal.key_id)
    if wait > 0:
        seconds = svc.limiter.retry_after(wait)
        raise RateLimitedError(
            f"this key's rate limit ({svc.api.rate_limit_per_minute}/min) is used up; "
            f"retry in {seconds} s",
            retry_after=seconds,
        )
    return Caller(principal)


CallerDep = Annotated[Caller, Depends(authenticate)]


@dataclass
class Tenant:
    """The caller and its organisation-scoped session for one request."""

    caller: Caller
    session: Session
    as_of: dt.date
    metrics: Metrics

    @property
    def org_id(self) -> uuid.UUID:
        """The caller's organisation."""
        return self.caller.org_id

    def tool_context(self) -> ToolContext:
        """The context a capability runs in, for this caller."""
        return ToolContext(
            session=self.session, org_id=self.org_id, as_of=self.as_of, actor=self.caller.actor
        )

    def run(self, tool: Callable[[ToolContext, In], Out], args: In) -> Out:
        """Call one capability for the caller, counting it in the metrics."""
        name = getattr(tool, "__name__", "tool")
        try:
            result = tool(self.tool_context(), args)
        except PricingAgentError:
            self.metrics.tool_calls.labels(name, "api", "error").inc()
            raise
        self.metrics.tool_calls.labels(name, "api", "ok").inc()
        return result


def tenant(
    caller: CallerDep,
    svc: ServicesDep,
    x_as_of: Annotated[
        dt.date | None,
        Header(
            description="Answer as of this date (e.g. to see what the service would have "
            "said then); default today."
        ),
    ] = None,
) -> Iterator[Tenant]:
    """Open the caller's transaction; commit it before the response goes out."""
    with svc.database.session_scope(caller.org_id) as session:
        yield Tenant(
            caller=caller,
            session=session,
            as_of=x_as_of or dt.datetime.now(dt.UTC).date(),
            metrics=svc.metrics,
        )


TenantDep = Annotated[Tenant, Depends(tenant, scope="function")]
