"""Dependencies every route shares: the services, the caller, and its tenant session.

A request is authenticated (one SECURITY DEFINER look-up of the key's hash) and
rate-limited per key inside the transaction it then works in, which is scoped to the
key's organisation as soon as the key is known, so row-level security applies to every
statement. The transaction commits before the response is sent (``scope="function"``):
a 2xx means the write is durable.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

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
from tools.base import EARLIEST_DATE, LATEST_DATE, ToolContext
from tools.erp_actions import ConnectorFactory

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
    erp_connectors: ConnectorFactory  # builds an ERP's connector for an approved write


async def services(request: Request) -> Services:
    """The app's services (async: no thread-pool hop for a dictionary look-up)."""
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key of your organisation: `pricing-agent keys create` or POST /keys.",
)


def _api_key(credentials: HTTPAuthorizationCredentials | None, authorization: str | None) -> str:
    # The security scheme documents the key in OpenAPI; the header itself is parsed here
    # so that every malformed form gets the same clear 401.
    return credentials.credentials if credentials else bearer_token(authorization)


def _admit(svc: Services, session: Session, key: str) -> Caller:
    """Authenticate ``key`` in ``session``, take a rate-limit token, stamp its use."""
    principal = orgs.authenticate_api_key(session=session, key=key)
    wait = svc.limiter.acquire(principal.key_id)
    if wait > 0:
        seconds = svc.limiter.retry_after(wait)
        raise RateLimitedError(
            f"this key's rate limit ({svc.api.rate_limit_per_minute}/min) is used up; "
            f"retry in {seconds} s",
            retry_after=seconds,
        )
    if svc.toucher.due(principal.key_id):
        # Its own short transaction: the stamp must stay even if the request then fails.
        with svc.database.unscoped_session() as stamp:
            orgs.touch_api_key(session=stamp, org_id=principal.org_id, key_id=principal.key_id)
    return Caller(principal)


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
AuthorizationHeader = Annotated[str | None, Header(include_in_schema=False)]


def authenticate(
    svc: ServicesDep, credentials: BearerDep, authorization: AuthorizationHeader = None
) -> Caller:
    """Authenticate the bearer key (for routes that open their own sessions, e.g. chat)."""
    key = _api_key(credentials, authorization)
    with svc.database.unscoped_session() as session:
        return _admit(svc, session, key)


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

    def run(self, tool: Callable[..., Out], args: In, **options: Any) -> Out:
        """Call one capability for the caller, counting it in the metrics."""
        name = getattr(tool, "__name__", "tool")
        try:
            result = tool(self.tool_context(), args, **options)
        except PricingAgentError:
            self.metrics.tool_calls.labels(name, "api", "error").inc()
            raise
        self.metrics.tool_calls.labels(name, "api", "ok").inc()
        return result


def tenant(
    svc: ServicesDep,
    credentials: BearerDep,
    authorization: AuthorizationHeader = None,
    x_as_of: Annotated[
        dt.date | None,
        Header(
            ge=EARLIEST_DATE,
            le=LATEST_DATE,
            description="Answer as of this date (e.g. to see what the service would have "
            "said then); default today.",
        ),
    ] = None,
) -> Iterator[Tenant]:
    """Authenticate and open the caller's transaction; commit it before the response.

    One connection and one transaction serve the key look-up and the work: the
    transaction is scoped to the key's organisation as soon as the key is known.
    """
    key = _api_key(credentials, authorization)
    admitted: list[Caller] = []

    def find_org(session: Session) -> uuid.UUID:
        admitted.append(_admit(svc, session, key))
        return admitted[0].org_id

    with svc.database.session_for(find_org) as session:
        yield Tenant(
            caller=admitted[0],
            session=session,
            as_of=x_as_of or dt.datetime.now(dt.UTC).date(),
            metrics=svc.metrics,
        )


TenantDep = Annotated[Tenant, Depends(tenant, scope="function")]
