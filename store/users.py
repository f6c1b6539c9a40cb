"""People: users of an organisation, their passwords, and their Slack accounts.

The chat logs people in by e-mail and password; the Slack bot knows them by workspace
(team) and Slack user id. Both look-ups run before a tenant is known, through SECURITY
DEFINER functions that answer for one exact key (migration 0008).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from store import audit
from store.models import ROLES, SlackWorkspace, User

# scrypt at n=2**14, r=8 (RFC 7914's interactive setting): about 16 MiB and tens of ms.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD_CHARS = 10
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")


@dataclass(frozen=True, slots=True)
class Person:
    """Who a login or a Slack account speaks for, and with which role."""

    org_id: uuid.UUID
    org_name: str
    role: str
    user_id: int | None  # None: a Slack member not linked to a user (the workspace's role)
    email: str | None
    display_name: str

    @property
    def agent_user(self) -> str:
        """The owner name the agent's threads and audit records use."""
        return f"user:{self.user_id}" if self.user_id is not None else f"slack:{self.email}"


def role_at_least(role: str, needed: str) -> bool:
    """Return whether ``role`` may do what ``needed`` may (viewer < buyer < admin)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def hash_password(password: str) -> str:
    """Return the stored form of a password: ``scrypt$n$r$p$salt$hash`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return (
        f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$"
        f"{b64(salt).decode()}${b64(digest).decode()}"
    )


def verify_password(password: str, stored: str) -> bool:
    """Return whether ``password`` matches ``stored`` (constant time in the digest)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Checked when no account matches, so an unknown e-mail costs the same as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")


def _add_new(session: Session, row: User | SlackWorkspace, clash: str) -> None:
    """Insert ``row``, or raise ConflictError(clash); a refused row leaves the session clean."""
    try:
        with session.begin_nested():  # added inside the savepoint, so a refusal removes it
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise ConflictError(clash) from exc


def _person(row: Any) -> Person:
    """A person from a row of the look-up functions (a user's own role and names)."""
    return Person(
        org_id=row.org_id,
        org_name=row.org_name,
        role=row.role,
        user_id=row.user_id,
        email=row.email,
        display_name=row.display_name or row.email,
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInputError(f"a password has at least {MIN_PASSWORD_CHARS} characters")


def create_user(
    *,
    session: Session,
    org_id: uuid.UUID,
    email: str,
    role: str,
    actor: str,
    password: str | None = None,
    display_name: str | None = None,
) -> User:
    """Add a person to the tenant session's organisation (audited)."""
    email = email.strip()
    if not EMAIL.fullmatch(email):
        raise InvalidInputError(f"{email!r} is not an e-mail address")
    _check_role(role)
    if password is not None:
        _check_password(password)
    user = User(
        org_id=org_id,
        email=email,
        role=role,
        display_name=(display_name or "").strip() or None,
        password_hash=hash_password(password) if password is not None else None,
    )
    _add_new(session, user, f"a user with e-mail {email!r} already exists")
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="user.create",
        entity="user",
        entity_ids=[user.id],
        details={"email": email, "role": role},
    )
    return user


def get_user(*, session: Session, org_id: uuid.UUID, email: str) -> User:
    """Return the organisation's user with this e-mail (case-insensitive)."""
    user = session.scalar(
        select(User).where(User.org_id == org_id, func.lower(User.email) == email.lower())
    )
    if user is None:
        raise NotFoundError(f"no user with e-mail {email!r}")
    return user


def list_users(*, session: Session, org_id: uuid.UUID) -> list[User]:
    """The organisation's users, by e-mail."""
    return list(session.scalars(select(User).where(User.org_id == org_id).order_by(User.email)))


def set_password(
    *, session: Session, org_id: uuid.UUID, email: str, password: str, actor: str
) -> None:
    """Set a user's password (audited)."""
    _check_password(password)
    user = get_user(session=session, org_id=org_id, email=email)
    user.password_hash = hash_password(password)
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="user.set_password",
        entity="user",
        entity_ids=[user.id],
    )


def authenticate_user(*, session: Session, email: str, password: str) -> Person:
    """Return the person whose e-mail and password these are, or raise AuthenticationError.

    Runs in an unscoped session, before any tenant is known. An e-mail may exist in
    several organisations; the password then tells which, and if it fits more than one
    the login is refused rather than guessed.
    """
    rows = session.execute(
        text("SELECT * FROM pricing_login_candidates(:e)"), {"e": email.strip()}
    ).all()
    if not rows:
        verify_password(password, _DUMMY_HASH)
        raise AuthenticationError("unknown e-mail or wrong password")
    matches = [r for r in rows if verify_password(password, r.password_hash)]
    if len(matches) != 1:
        raise AuthenticationError(
            "unknown e-mail or wrong password"
            if not matches
            else "this login fits several organisations; ask an admin to separate them"
        )
    return _person(matches[0])


def trusted_login(*, session: Session, email: str) -> Person:
    """Return the one person with this e-mail, for a login a trusted proxy already checked."""
    rows = session.execute(
        text("SELECT * FROM pricing_login_candidates(:e)"), {"e": email.strip()}
    ).all()
    if len(rows) != 1:
        raise AuthenticationError(
            "no such user" if not rows else "this e-mail is a user of several organisations"
        )
    return _person(rows[0])


# --------------------------------------------------------------------------- Slack


def link_slack_workspace(
    *,
    session: Session,
    org_id: uuid.UUID,
    team_id: str,
    actor: str,
    name: str | None = None,
    default_role: str = "viewer",
) -> SlackWorkspace:
    """Link a Slack workspace to the tenant session's organisation (audited)."""
    if not SLACK_ID.fullmatch(team_id):
        raise InvalidInputError(f"{team_id!r} is not a Slack team id (like T0123ABCD)")
    _check_role(default_role)
    workspace = SlackWorkspace(org_id=org_id, team_id=team_id, name=name, default_role=default_role)
    _add_new(session, workspace, f"Slack workspace {team_id} is already linked")
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="slack_workspace.link",
        entity="slack_workspace",
        entity_ids=[],
        details={"team_id": team_id, "default_role": default_role},
    )
    return workspace


def link_slack_user(
    *,
    session: Session,
    org_id: uuid.UUID,
    email: str,
    team_id: str,
    slack_user_id: str,
    actor: str,
) -> User:
    """Say which Slack account (in a linked workspace) a user of the organisation is."""
    if not SLACK_ID.fullmatch(slack_user_id):
        raise InvalidInputError(f"{slack_user_id!r} is not a Slack user id (like U0123ABCD)")
    if session.get(SlackWorkspace, (org_id, team_id)) is None:
        raise NotFoundError(f"Slack workspace {team_id} is not linked to this organisation")
    user = get_user(session=session, org_id=org_id, email=email)
    try:
        with session.begin_nested():
            session.execute(
                update(User)
                .where(User.org_id == org_id, User.id == user.id)
                .values(slack_team_id=team_id, slack_user_id=slack_user_id)
            )
    except IntegrityError as exc:
        raise ConflictError(f"Slack user {slack_user_id} is already linked to a user") from exc
    session.refresh(user)
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="user.link_slack",
        entity="user",
        entity_ids=[user.id],
        details={"team_id": team_id, "slack_user_id": slack_user_id},
    )
    return user


def slack_person(*, session: Session, team_id: str, slack_user_id: str) -> Person:
    """Return who a Slack member speaks for; NotFoundError for a workspace not linked.

    A member linked to a user has that user's role; any other member of a linked
    workspace has the workspace's default role and is named by their Slack id.
    """
    row = session.execute(
        text("SELECT * FROM pricing_slack_identity(:t, :u)"),
        {"t": team_id, "u": slack_user_id},
    ).first()
    if row is None:
        raise NotFoundError(f"Slack workspace {team_id} is not linked to any organisation")
    if row.user_id is None:
        return Person(
            org_id=row.org_id,
            org_name=row.org_name,
            role=row.default_role,
            user_id=None,
            email=f"{team_id}/{slack_user_id}",
            display_name=f"<@{slack_user_id}>",
        )
    return _person(row)
