"""Engines and sessions: the owner connection and the tenant-scoped service connection.

Two engines reach one database:

* the *owner* engine (the ``DATABASE_URL`` user, or the embedded superuser) runs
  migrations and operator commands such as creating organisations;
* the *service* engine acts as the application role, which owns no table and has no
  ``BYPASSRLS``, so row-level security applies to every statement it runs.

A tenant session sets ``app.org_id`` at the start of every transaction (``set_config``
with ``is_local``), so the setting can never outlive the transaction that needed it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, SessionTransaction

from core.errors import StoreUnavailableError
from core.settings import Settings, get_settings
from store.embedded import EmbeddedServer, start_embedded

ORG_SETTING = "app.org_id"
"""The per-transaction setting the row-level security policies read."""


class TenantSession(Session):
    """A session bound to one organisation through ``info['org_id']``."""


@event.listens_for(TenantSession, "after_begin")
def _scope_transaction_to_org(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    org_id = session.info.get("org_id")
    if org_id is None:
        # An unscoped service session would silently see nothing; fail loudly instead.
        raise RuntimeError("TenantSession used without info['org_id']")
    if org_id is ORG_PENDING:
        return  # found inside this transaction (``session_for``), which then scopes it
    scope_transaction(connection, org_id)


ORG_PENDING = object()
"""``info['org_id']`` of a session whose organisation its first transaction will find."""


def scope_transaction(connection: Connection | Session, org_id: uuid.UUID) -> None:
    """Scope the current transaction to ``org_id`` (row-level security reads it)."""
    connection.execute(
        text("SELECT set_config(:name, :org, true)"), {"name": ORG_SETTING, "org": str(org_id)}
    )


def _step_down_on_connect(engine: Engine, role: str, *, reassert: bool) -> None:
    """Make every new connection of ``engine`` act as ``role`` (RLS applies to it).

    ``reassert`` repeats ``SET ROLE`` at every checkout: needed only when the login is
    another user (which could ``RESET ROLE``), and it costs a round trip per checkout.
    """

    @event.listens_for(engine, "connect")
    def _set_role(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # Role names are validated by Settings; identifiers cannot be bound.
            cursor.execute(f'SET ROLE "{role}"')
            cursor.execute("SET application_name = 'pricing-agent'")
        except psycopg.errors.InvalidParameterValue:
            dbapi_connection.rollback()
            raise StoreUnavailableError(
                f"the application role {role!r} does not exist: run `pricing-agent db upgrade`"
            ) from None
        except psycopg.errors.InsufficientPrivilege:
            dbapi_connection.rollback()
            raise StoreUnavailableError(
                f"the service login may not act as {role!r}: GRANT {role} TO <that login>"
            ) from None
        finally:
            cursor.close()
        dbapi_connection.commit()

    if not reassert:
        return

    @event.listens_for(engine, "checkout")
    def _reassert_role(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # A connection that logged in as the owner could have run RESET ROLE; never hand
        # such a connection out again. (A dedicated DATABASE_APP_URL login avoids this.)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f'SET ROLE "{role}"')
        finally:
            cursor.close()
        dbapi_connection.commit()


@contextmanager
def unavailable_as_domain_error() -> Iterator[None]:
    """Turn "cannot connect" into StoreUnavailableError; other database errors pass."""
    try:
        yield
    except OperationalError as exc:
        raise StoreUnavailableError(f"cannot reach the store: {_first_line(exc)}") from exc
    except DBAPIError as exc:
        if isinstance(exc.orig, StoreUnavailableError):  # raised in a connect hook
            raise exc.orig from None
        raise


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


class Database:
    """The store's engines for one configuration; create once per process."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._server: EmbeddedServer | None = None
        self._owner: Engine | None = None
        self._service: Engine | None = None

    # ----------------------------------------------------------------- engines

    @property
    def embedded_server(self) -> EmbeddedServer | None:
        """The embedded server, when this store runs one."""
        return self._server

    @property
    def owner_engine(self) -> Engine:
        """Engine of the schema owner: migrations and operator commands."""
        if self._owner is None:
            self._owner = create_engine(self._owner_url(), pool_pre_ping=True)
        return self._owner

    @property
    def service_engine(self) -> Engine:
        """Engine acting as the application role; row-level security applies."""
        if self._service is None:
            role = self.settings.db_app_role
            if self.settings.database_app_url:
                url = self.settings.database_app_url.get_secret_value()
            elif self.settings.embedded:
                self._ensure_embedded_login(role)
                server = self._start_embedded()
                url = server.url(user=role, database=self.settings.db_name)
            else:
                url = self._owner_url()
            engine = create_engine(
                url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=10
            )
            _step_down_on_connect(engine, role, reassert=make_url(url).username != role)
            self._service = engine
        return self._service

    def _start_embedded(self) -> EmbeddedServer:
        if self._server is None:
            self._server = start_embedded(self.settings.data_dir)
        return self._server

    def _owner_url(self) -> str:
        if self.settings.database_url:
            return self.settings.database_url.get_secret_value()
        server = self._start_embedded()
        self._ensure_embedded_database(server)
        return server.url(database=self.settings.db_name)

    def _ensure_embedded_database(self, server: EmbeddedServer) -> None:
        engine = create_engine(server.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                exists = conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": self.settings.db_name},
                )
                if not exists:
                    conn.execute(text(f'CREATE DATABASE "{self.settings.db_name}"'))
        finally:
            engine.dispose()

    def _ensure_embedded_login(self, role: str) -> None:
        # The embedded server listens on its Unix socket only, so letting the application
        # role log in there (trust auth) exposes nothing beyond this machine's user.
        with self.owner_engine.begin() as conn:
            can_login = conn.scalar(
                text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": role}
            )
            if can_login is None:
                raise StoreUnavailableError(
                    "the store has no schema yet: run `pricing-agent db upgrade`"
                )
            if not can_login:
                conn.execute(text(f'ALTER ROLE "{role}" LOGIN'))

    # ----------------------------------------------------------------- sessions

    @contextmanager
    def session_scope(self, org_id: uuid.UUID) -> Iterator[Session]:
        """Open a service session scoped to ``org_id``; commit on success, roll back on error."""
        session = TenantSession(bind=self.service_engine, expire_on_commit=False)
        session.info["org_id"] = org_id
        try:
            with unavailable_as_domain_error(), session.begin():
                yield session
        finally:
            session.close()

    @contextmanager
    def session_for(self, find_org: Callable[[Session], uuid.UUID]) -> Iterator[Session]:
        """Open a service session whose organisation ``find_org`` finds in its transaction.

        For requests that learn their tenant by authenticating (a SECURITY DEFINER
        look-up): one connection and one transaction serve both. Until ``find_org``
        returns, the transaction sees no tenant row; after, it is scoped like
        ``session_scope`` (and so is any later transaction of the session).
        """
        session = TenantSession(bind=self.service_engine, expire_on_commit=False)
        session.info["org_id"] = ORG_PENDING
        try:
            with unavailable_as_domain_error(), session.begin():
                org_id = find_org(session)
                session.info["org_id"] = org_id
                scope_transaction(session, org_id)
                yield session
        finally:
            session.close()

    @contextmanager
    def unscoped_session(self) -> Iterator[Session]:
        """Open a service session bound to no organisation: it sees no tenant row.

        For look-ups that run before a tenant is known, through SECURITY DEFINER
        functions (API-key authentication).
        """
        session = Session(bind=self.service_engine, expire_on_commit=False)
        try:
            with unavailable_as_domain_error(), session.begin():
                yield session
        finally:
            session.close()

    @contextmanager
    def owner_session(self) -> Iterator[Session]:
        """Open an owner session for operator work; commit on success."""
        session = Session(bind=self.owner_engine, expire_on_commit=False)
        try:
            with unavailable_as_domain_error(), session.begin():
                yield session
        finally:
            session.close()

    def ping(self) -> None:
        """Raise StoreUnavailableError unless both the owner and the service can connect."""
        with unavailable_as_domain_error():
            for engine in (self.owner_engine, self.service_engine):
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))

    def describe(self) -> str:
        """Say where the store is, without secrets."""
        if self.settings.embedded:
            return f"embedded PostgreSQL in {self.settings.data_dir / 'pgdata'}"
        url = make_url(self.owner_engine.url)
        return f"PostgreSQL at {url.render_as_string(hide_password=True)}"

    def dispose(self) -> None:
        """Close every pooled connection (the embedded server stops at process exit)."""
        for engine in (self._service, self._owner):
            if engine is not None:
                engine.dispose()
        self._service = None
        self._owner = None
