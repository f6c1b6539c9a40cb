"""Who is calling: bearer API keys, roles, and the per-key rate limit."""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from core.errors import AuthenticationError, PermissionDeniedError
from store.orgs import Principal
from store.users import role_at_least

Role = Literal["viewer", "buyer", "admin"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one request."""

    principal: Principal

    @property
    def org_id(self) -> uuid.UUID:
        """The caller's organisation; every query of the request is scoped to it."""
        return self.principal.org_id

    @property
    def role(self) -> str:
        """viewer, buyer or admin."""
        return self.principal.role

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return f"api-key:{self.principal.key_id}:{self.principal.key_name}"

    @property
    def user_id(self) -> str:
        """The owner of the conversations this key starts."""
        return f"api-key-{self.principal.key_id}"

    def require(self, role: Role, doing: str) -> None:
        """Raise PermissionDeniedError unless the caller's role is at least ``role``."""
        if not role_at_least(self.role, role):
            raise PermissionDeniedError(
                f"a {self.role} key may not {doing}; it needs the {role} role or higher"
            )


def bearer_token(authorization: str | None) -> str:
    """The key in an ``Authorization: Bearer <key>`` header, or AuthenticationError."""
    if not authorization:
        raise AuthenticationError("send an API key as `Authorization: Bearer <key>`")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be `Bearer <key>`")
    return token.strip()


class RateLimiter:
    """A token bucket per key: ``rate`` requests a minute, bursts up to ``burst``.

    Buckets live in this process; with several workers each enforces the limit on the
    requests it serves (the load balancer spreads a key's requests across them).
    """

    def __init__(self, *, per_minute: int, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: int) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is free."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> int:
        """Whole seconds for a Retry-After header (at least 1)."""
        return max(1, math.ceil(wait))


class KeyToucher:
    """Decide when a key's ``last_used_at`` is due for a stamp (at most once a period)."""

    def __init__(self, period_seconds: float) -> None:
        self.period = period_seconds
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def due(self, key_id: int) -> bool:
        """True at most once per period per key in this process."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key_id, -math.inf) < self.period:
                return False
            self._last[key_id] = now
            return True
