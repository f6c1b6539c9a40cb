"""API keys of the caller's organisation: list, create, revoke (admin keys only)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import TenantDep
from store import orgs
from store.models import ApiKey

router = APIRouter(prefix="/keys", tags=["keys"])


class KeyInfo(BaseModel):
    """A key as operators see it; the secret is never shown again after creation."""

    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    role: str
    created_at: dt.datetime
    created_by: str | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None = Field(description="Stamped at most once a minute.")

    @classmethod
    def of(cls, key: ApiKey) -> KeyInfo:
        """From the stored row."""
        return cls.model_validate(key, from_attributes=True)


class NewKey(BaseModel):
    """A key to create."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "erp-sync", "role": "viewer"}]}
    )

    name: str = Field(min_length=1, max_length=100, description="A label for the key.")
    role: Literal["viewer", "buyer", "admin"] = "viewer"


class CreatedKey(KeyInfo):
    """The new key, with its secret: store it now, it cannot be shown again."""

    secret: str


@router.get("", summary="List the organisation's API keys")
def list_keys(tenant: TenantDep) -> list[KeyInfo]:
    """Every key of the caller's organisation, newest first; admin keys only."""
    tenant.caller.require("admin", "manage API keys")
    return [KeyInfo.of(k) for k in orgs.list_api_keys(session=tenant.session, org_id=tenant.org_id)]


@router.post("", status_code=201, summary="Create an API key")
def create_key(body: NewKey, tenant: TenantDep) -> CreatedKey:
    """Create a key in the caller's organisation; the answer holds its secret, once."""
    tenant.caller.require("admin", "manage API keys")
    key, secret = orgs.create_api_key(
        session=tenant.session,
        org_id=tenant.org_id,
        name=body.name,
        role=body.role,
        actor=tenant.caller.actor,
    )
    tenant.session.refresh(key)
    return CreatedKey(**KeyInfo.of(key).model_dump(), secret=secret)


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key")
def revoke_key(key_id: int, tenant: TenantDep) -> Response:
    """Revoke a key of the caller's organisation; it stops working at once."""
    tenant.caller.require("admin", "manage API keys")
    orgs.revoke_api_key(
        session=tenant.session, org_id=tenant.org_id, key_id=key_id, actor=tenant.caller.actor
    )
    return Response(status_code=204)
