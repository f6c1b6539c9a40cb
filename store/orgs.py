"""Organisations (tenants) and their API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from store import audit
from store.models import ROLES, ApiKey, Organization

KEY_PREFIX = "pa_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an API key speaks for."""

    org_id: uuid.UUID
    org_name: str
    key_id: int
    key_name: str
    role: str


def hash_api_key(key: str) -> str:
    """Return the stored form of an API key (SHA-256 hex; keys carry 256 random bits)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_org(*, session: Session, name: str) -> Organization:
    """Create an organisation; ``session`` must be an owner session."""
    name = name.strip()
    if not name:
        raise InvalidInputError("an organisation needs a name")
    if session.scalar(select(Organization.id).where(func.lower(Organization.name) == name.lower())):
        raise ConflictError(f"organisation {name!r} already exists")
    org = Organization(name=name)
    session.add(org)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"organisation {name!r} already exists") from exc
    return org


def get_org(*, session: Session, name: str) -> Organization:
    """Return the organisation called ``name`` (case-insensitive), via an owner session."""
    org = session.scalar(select(Organization).where(func.lower(Organization.name) == name.lower()))
    if org is None:
        raise NotFoundError(
            f"no organisation named {name!r}; create it with `pricing-agent orgs create {name}`"
        )
    return org


def get_or_create_org(*, session: Session, name: str) -> tuple[Organization, bool]:
    """Return the organisation called ``name``, creating it if needed."""
    try:
        return get_org(session=session, name=name), False
    except NotFoundError:
        return create_org(session=session, name=name), True


def create_api_key(
    *, session: Session, org_id: uuid.UUID, name: str, role: str, actor: str
) -> tuple[ApiKey, str]:
    """Create an API key in the tenant session's organisation; return it and its secret."""
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        org_id=org_id,
        name=name,
        prefix=secret[:10],
        key_hash=hash_api_key(secret),
        role=role,
        created_by=actor,
    )
    session.add(key)
    session.flush()
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="api_key.create",
        entity="api_key",
        entity_ids=[key.id],
        details={"name": name, "role": role, "prefix": key.prefix},
    )
    return key, secret


def revoke_api_key(*, session: Session, org_id: uuid.UUID, key_id: int, actor: str) -> None:
    """Revoke a key of the tenant session's organisation."""
    revoked = session.execute(
        update(ApiKey)
        .where(ApiKey.org_id == org_id, ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=dt.datetime.now(dt.UTC))
        .returning(ApiKey.id)
    ).first()
    if revoked is None:
        raise NotFoundError(f"no active API key {key_id}")
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="api_key.revoke",
        entity="api_key",
        entity_ids=[key_id],
    )


def list_api_keys(*, session: Session, org_id: uuid.UUID) -> list[ApiKey]:
    """The organisation's keys, newest first (revoked ones included)."""
    return list(
        session.scalars(select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.id.desc()))
    )


def touch_api_key(*, session: Session, org_id: uuid.UUID, key_id: int) -> None:
    """Stamp a key's ``last_used_at``; works in an unscoped session right after authenticating."""
    # The session may not be scoped yet (authentication runs before a tenant is known):
    # scope this transaction to the key's own organisation so row-level security allows it.
    session.execute(text("SELECT set_config('app.org_id', :org, true)"), {"org": str(org_id)})
    session.execute(
        update(ApiKey)
        .where(ApiKey.org_id == org_id, ApiKey.id == key_id)
        .values(last_used_at=func.now())
    )


def authenticate_api_key(*, session: Session, key: str) -> Principal:
    """Return the principal of an unrevoked key, or raise AuthenticationError.

    Runs before any tenant is known, through a SECURITY DEFINER function that answers
    only for the exact hash of an active key.
    """
    if not key.startswith(KEY_PREFIX):
        raise AuthenticationError("malformed API key")
    row = session.execute(
        text("SELECT * FROM pricing_authenticate_api_key(:h)"), {"h": hash_api_key(key)}
    ).first()
    if row is None:
        raise AuthenticationError("unknown or revoked API key")
    return Principal(
        org_id=row.org_id,
        org_name=row.org_name,
        key_id=row.key_id,
        key_name=row.key_name,
        role=row.role,
    )
