"""People: scrypt passwords, logins across organisations, and Slack identities."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select, text, update

from core.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from store import users
from store.db import Database
from store.models import AuditLog, User
from tests.conftest import make_org

PASSWORD = "correct horse battery"


def _user(database: Database, org_id: uuid.UUID, email: str, role: str = "buyer", **kw: str) -> int:
    with database.session_scope(org_id) as session:
        return users.create_user(
            session=session, org_id=org_id, email=email, role=role, actor="test", **kw
        ).id


def test_password_hash_verifies_only_the_password() -> None:
    stored = users.hash_password(PASSWORD)
    assert stored.startswith("scrypt$")
    assert users.verify_password(PASSWORD, stored)
    assert not users.verify_password(PASSWORD + "!", stored)
    assert not users.verify_password(PASSWORD, "bcrypt$whatever")
    assert not users.verify_password(PASSWORD, "scrypt$x$y$z$not-base64$also")
    assert users.hash_password(PASSWORD) != stored  # salted


def test_login_finds_the_person_and_refuses_wrong_or_unknown(database: Database) -> None:
    org = make_org(database)
    email = f"dana-{uuid.uuid4().hex[:6]}@example.com"
    user_id = _user(database, org, email, password=PASSWORD, display_name="Dana")
    with database.unscoped_session() as session:
        person = users.authenticate_user(session=session, email=email.upper(), password=PASSWORD)
        assert (person.org_id, person.user_id, person.role) == (org, user_id, "buyer")
        assert person.display_name == "Dana"
        assert person.agent_user == f"user:{user_id}"
        with pytest.raises(AuthenticationError):
            users.authenticate_user(session=session, email=email, password="wrong password")
        with pytest.raises(AuthenticationError):
            users.authenticate_user(session=session, email="nobody@example.com", password=PASSWORD)


def test_a_disabled_user_cannot_log_in(database: Database) -> None:
    org = make_org(database)
    email = f"gone-{uuid.uuid4().hex[:6]}@example.com"
    user_id = _user(database, org, email, password=PASSWORD)
    with database.session_scope(org) as session:
        session.execute(
            update(User)
            .where(User.org_id == org, User.id == user_id)
            .values(disabled_at=dt.datetime.now(dt.UTC))
        )
    with database.unscoped_session() as session, pytest.raises(AuthenticationError):
        users.authenticate_user(session=session, email=email, password=PASSWORD)


def test_the_same_email_in_two_orgs_is_told_apart_by_password(database: Database) -> None:
    email = f"shared-{uuid.uuid4().hex[:6]}@example.com"
    first, second = make_org(database), make_org(database)
    _user(database, first, email, password=PASSWORD)
    _user(database, second, email, password="another long password")
    with database.unscoped_session() as session:
        assert (
            users.authenticate_user(session=session, email=email, password=PASSWORD).org_id == first
        )
        other = users.authenticate_user(
            session=session, email=email, password="another long password"
        )
        assert other.org_id == second
        with pytest.raises(AuthenticationError, match="several"):
            users.trusted_login(session=session, email=email)


def test_the_service_role_cannot_read_users_of_another_org(database: Database) -> None:
    org, other = make_org(database), make_org(database)
    _user(database, other, f"hidden-{uuid.uuid4().hex[:6]}@example.com", password=PASSWORD)
    with database.session_scope(org) as session:
        assert session.scalars(select(User)).all() == []
    with database.unscoped_session() as session:
        # Only the SECURITY DEFINER look-up crosses tenants, and only by exact e-mail.
        assert session.scalar(text("SELECT count(*) FROM users")) == 0


def test_bad_user_input_is_refused(database: Database) -> None:
    org = make_org(database)
    with database.session_scope(org) as session:
        with pytest.raises(InvalidInputError, match="e-mail"):
            users.create_user(session=session, org_id=org, email="nope", role="buyer", actor="t")
        with pytest.raises(InvalidInputError, match="role"):
            users.create_user(
                session=session, org_id=org, email="a@b.example", role="boss", actor="t"
            )
        with pytest.raises(InvalidInputError, match="10 characters"):
            users.create_user(
                session=session,
                org_id=org,
                email="a@b.example",
                role="buyer",
                actor="t",
                password="short",
            )
        users.create_user(session=session, org_id=org, email="a@b.example", role="buyer", actor="t")
        with pytest.raises(ConflictError):
            users.create_user(
                session=session, org_id=org, email="A@B.example", role="viewer", actor="t"
            )
        actions = session.scalars(select(AuditLog.action).where(AuditLog.org_id == org)).all()
        assert actions == ["user.create"]


def test_slack_members_map_to_their_user_or_the_workspace_role(database: Database) -> None:
    org = make_org(database)
    team = f"T{uuid.uuid4().hex[:8].upper()}"
    email = f"slack-{uuid.uuid4().hex[:6]}@example.com"
    user_id = _user(database, org, email, role="buyer")
    with database.session_scope(org) as session:
        users.link_slack_workspace(session=session, org_id=org, team_id=team, actor="t")
        with pytest.raises(InvalidInputError):
            users.link_slack_user(
                session=session,
                org_id=org,
                email=email,
                team_id=team,
                slack_user_id="u-1",
                actor="t",
            )
        users.link_slack_user(
            session=session,
            org_id=org,
            email=email,
            team_id=team,
            slack_user_id="U0BUYER1",
            actor="t",
        )
    with database.unscoped_session() as session:
        linked = users.slack_person(session=session, team_id=team, slack_user_id="U0BUYER1")
        assert (linked.org_id, linked.user_id, linked.role) == (org, user_id, "buyer")
        stranger = users.slack_person(session=session, team_id=team, slack_user_id="U0OTHER")
        assert (stranger.org_id, stranger.user_id, stranger.role) == (org, None, "viewer")
        assert stranger.agent_user == f"slack:{team}/U0OTHER"
        with pytest.raises(NotFoundError, match="not linked"):
            users.slack_person(session=session, team_id="T0NOWHERE", slack_user_id="U0BUYER1")
    with database.session_scope(make_org(database)) as session, pytest.raises(ConflictError):
        users.link_slack_workspace(
            session=session, org_id=session.info["org_id"], team_id=team, actor="t"
        )


def test_role_order() -> None:
    assert users.role_at_least("admin", "buyer")
    assert users.role_at_least("buyer", "buyer")
    assert not users.role_at_least("viewer", "buyer")
    assert not users.role_at_least("root", "viewer")
