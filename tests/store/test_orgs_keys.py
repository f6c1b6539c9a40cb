"""Organisations and API keys: creation, look-up, hashing, authentication, revocation, audit."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from store import orgs
from store.db import Database
from store.models import TENANT_TABLES, ApiKey, AuditLog, Organization
from tests.conftest import count, make_org


@pytest.fixture
def owner(database: Database) -> Iterator[Session]:
    """An owner session whose work is rolled back after the test."""
    connection = database.owner_engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


def _name(prefix: str = "Acme") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------- organisations


def test_create_org_strips_the_name_and_assigns_an_id(owner: Session) -> None:
    name = _name()
    org = orgs.create_org(session=owner, name=f"  {name}  ")
    assert org.name == name
    assert isinstance(org.id, uuid.UUID)
    assert owner.scalar(select(Organization.name).where(Organization.id == org.id)) == name


def test_duplicate_org_name_is_a_conflict_whatever_the_case(owner: Session) -> None:
    name = _name()
    orgs.create_org(session=owner, name=name)
    with pytest.raises(ConflictError, match="already exists"):
        orgs.create_org(session=owner, name=name.upper())
    with pytest.raises(ConflictError):
        orgs.create_org(session=owner, name=f" {name.lower()} ")


def test_database_enforces_case_insensitive_org_names(owner: Session) -> None:
    # The guard that holds when two creations race past the look-up.
    name = _name()
    orgs.create_org(session=owner, name=name)
    with pytest.raises(IntegrityError), owner.begin_nested():
        owner.execute(insert(Organization).values(name=name.swapcase()))


@pytest.mark.parametrize("blank", ["", "   "])
def test_org_needs_a_name(owner: Session, blank: str) -> None:
    with pytest.raises(InvalidInputError):
        orgs.create_org(session=owner, name=blank)


def test_get_missing_org_is_not_found(owner: Session) -> None:
    name = _name("Nobody")
    with pytest.raises(NotFoundError, match=name) as caught:
        orgs.get_org(session=owner, name=name)
    assert "pricing-agent orgs create" in caught.value.message


def test_get_org_ignores_case(owner: Session) -> None:
    created = orgs.create_org(session=owner, name=_name())
    assert orgs.get_org(session=owner, name=created.name.upper()).id == created.id


def test_get_or_create_org_creates_once(owner: Session) -> None:
    name = _name()
    first, created = orgs.get_or_create_org(session=owner, name=name)
    again, created_again = orgs.get_or_create_org(session=owner, name=name.lower())
    assert (created, created_again) == (True, False)
    assert again.id == first.id


# --------------------------------------------------------------------------- API keys


def test_create_api_key_returns_a_prefixed_secret_stored_only_as_its_hash(
    session: Session, org_id: uuid.UUID
) -> None:
    key, secret = orgs.create_api_key(
        session=session, org_id=org_id, name="ci", role="buyer", actor="alice"
    )
    assert secret.startswith("pa_")
    assert len(secret) >= 40
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.key_hash == orgs.hash_api_key(secret)
    assert key.prefix == secret[:10]
    assert (key.org_id, key.name, key.role, key.created_by) == (org_id, "ci", "buyer", "alice")
    assert key.revoked_at is None

    random_part = secret[len("pa_") :]
    for table in (*TENANT_TABLES, "organizations"):
        for (row_text,) in session.execute(text(f'SELECT t::text FROM "{table}" t')):
            assert random_part not in row_text, table


def test_each_key_gets_its_own_secret(session: Session, org_id: uuid.UUID) -> None:
    secrets = {
        orgs.create_api_key(
            session=session, org_id=org_id, name=f"k{i}", role="viewer", actor="alice"
        )[1]
        for i in range(3)
    }
    assert len(secrets) == 3


def test_key_creation_is_audited(session: Session, org_id: uuid.UUID) -> None:
    assert count(session, "audit_log") == 0
    key, secret = orgs.create_api_key(
        session=session, org_id=org_id, name="ci", role="admin", actor="alice"
    )
    session.flush()
    entries = session.scalars(select(AuditLog)).all()
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.org_id, entry.actor, entry.action, entry.entity) == (
        org_id,
        "alice",
        "api_key.create",
        "api_key",
    )
    assert entry.entity_ids == [key.id]
    assert entry.details == {"name": "ci", "role": "admin", "prefix": secret[:10]}


@pytest.mark.parametrize("role", ["owner", "ADMIN", "", "superuser"])
def test_invalid_role_is_refused(session: Session, org_id: uuid.UUID, role: str) -> None:
    with pytest.raises(InvalidInputError, match="role must be one of"):
        orgs.create_api_key(session=session, org_id=org_id, name="x", role=role, actor="alice")
    session.flush()
    assert count(session, "api_keys") == 0
    assert count(session, "audit_log") == 0


def test_authenticate_returns_the_principal(session: Session, org_id: uuid.UUID) -> None:
    key, secret = orgs.create_api_key(
        session=session, org_id=org_id, name="ci", role="buyer", actor="alice"
    )
    org_name = session.scalar(select(Organization.name))
    principal = orgs.authenticate_api_key(session=session, key=secret)
    assert principal == orgs.Principal(
        org_id=org_id, org_name=org_name, key_id=key.id, key_name="ci", role="buyer"
    )


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda s: s + "x", id="extra-char"),
        pytest.param(lambda s: s[:-1], id="truncated"),
        pytest.param(lambda s: "pa_" + s[3:].swapcase(), id="case-changed"),
        pytest.param(lambda s: f"pa_{uuid.uuid4().hex}", id="unknown"),
        pytest.param(lambda s: "pa_", id="prefix-only"),
    ],
)
def test_wrong_key_is_refused(
    session: Session, org_id: uuid.UUID, mangle: Callable[[str], str]
) -> None:
    _, secret = orgs.create_api_key(
        session=session, org_id=org_id, name="ci", role="buyer", actor="alice"
    )
    with pytest.raises(AuthenticationError, match="unknown or revoked"):
        orgs.authenticate_api_key(session=session, key=mangle(secret))


@pytest.mark.parametrize("bad", ["", "sk-abc", "PA_abc", " pa_abc", "Bearer pa_abc"])
def test_malformed_key_is_refused(session: Session, bad: str) -> None:
    with pytest.raises(AuthenticationError, match="malformed"):
        orgs.authenticate_api_key(session=session, key=bad)


def test_revoked_key_is_refused_and_revocation_is_audited(
    session: Session, org_id: uuid.UUID
) -> None:
    key, secret = orgs.create_api_key(
        session=session, org_id=org_id, name="ci", role="buyer", actor="alice"
    )
    orgs.revoke_api_key(session=session, org_id=org_id, key_id=key.id, actor="bob")
    session.flush()
    with pytest.raises(AuthenticationError, match="unknown or revoked"):
        orgs.authenticate_api_key(session=session, key=secret)
    assert session.scalar(select(ApiKey.revoked_at).where(ApiKey.id == key.id)) is not None
    actions = session.execute(
        select(AuditLog.action, AuditLog.actor, AuditLog.entity_ids).order_by(AuditLog.id)
    ).all()
    assert [tuple(a) for a in actions] == [
        ("api_key.create", "alice", [key.id]),
        ("api_key.revoke", "bob", [key.id]),
    ]
    with pytest.raises(NotFoundError):
        orgs.revoke_api_key(session=session, org_id=org_id, key_id=key.id, actor="bob")


def test_committed_key_authenticates_before_any_tenant_is_known(database: Database) -> None:
    org = make_org(database, prefix="keys")
    try:
        with database.session_scope(org) as tenant:
            key, secret = orgs.create_api_key(
                session=tenant, org_id=org, name="ci", role="viewer", actor="alice"
            )
        with Session(bind=database.service_engine) as plain:
            principal = orgs.authenticate_api_key(session=plain, key=secret)
            plain.rollback()
        assert (principal.org_id, principal.key_id, principal.role) == (org, key.id, "viewer")
        assert principal.org_name.startswith("keys-")
    finally:
        with database.owner_session() as owner:
            owner.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org})


def test_another_orgs_key_cannot_be_revoked(database: Database, session: Session) -> None:
    other = make_org(database, prefix="keys-other")
    try:
        with database.session_scope(other) as tenant:
            key, secret = orgs.create_api_key(
                session=tenant, org_id=other, name="ci", role="viewer", actor="alice"
            )
        with pytest.raises(NotFoundError):
            orgs.revoke_api_key(session=session, org_id=other, key_id=key.id, actor="mallory")
        # The other organisation's key still works.
        assert orgs.authenticate_api_key(session=session, key=secret).org_id == other
    finally:
        with database.owner_session() as owner:
            owner.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": other})
