"""The store against an external PostgreSQL reached only through ``DATABASE_URL``.

The module starts its own server (pgserver's PostgreSQL 16 binaries, see ``tests/pgcluster.py``)
on a loopback TCP port with password authentication, and points the store at it the way a
deployment does: an owner URL, optionally a separate service login (``DATABASE_APP_URL``).

Fixture data: ``tests/fixtures/indot_slice_30.csv`` is the header and the first 30 rows of
``/work/shared/data/bids/indot_bidtabs_material_items_2022-08_2026-05.csv.gz`` (Indiana DOT
bid tabulations, material items; letting of 2022-08-10, project B -40276-A), copied so that
the test runs without the shared data folder.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from core.errors import StoreUnavailableError
from core.settings import Settings, load_settings
from store import db as store_db
from store import migrate, orgs
from store.db import Database
from store.importing.files import read_table
from store.importing.mapping import load_mapping
from store.importing.quotes import import_quotes
from store.models import Supplier
from tests.pgcluster import ClusterUnavailable, PgCluster, bin_dir, running_cluster

DB_NAME = "pricing_ext"
APP_ROLE = "pricing_app"
SLICE = Path(__file__).resolve().parents[1] / "fixtures" / "indot_slice_30.csv"
SLICE_ROWS = 30


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    """A separate PostgreSQL on 127.0.0.1 with one empty database; stopped afterwards."""
    try:
        bin_dir()
    except ClusterUnavailable as exc:
        pytest.skip(f"no PostgreSQL binaries to start a test server: {exc}")
    with running_cluster() as server:
        server.create_database(DB_NAME)
        yield server


@pytest.fixture(scope="module")
def no_embedded_start() -> Iterator[None]:
    """Make any attempt to start the embedded server fail the test loudly."""

    def _refuse(data_dir: Path) -> None:
        raise AssertionError(f"the store tried to start an embedded server in {data_dir}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_db, "start_embedded", _refuse)
        yield


def external_settings(
    cluster: PgCluster, data_dir: Path, *, app_url: str | None = None, **url: str
) -> Settings:
    """Settings for the external server; ``url`` overrides parts of the owner URL."""
    return load_settings(
        database_url=cluster.url(DB_NAME, **url),
        database_app_url=app_url,
        data_dir=data_dir,
        db_app_role=APP_ROLE,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty data folder: the embedded server would put its ``pgdata`` here."""
    return tmp_path_factory.mktemp("external-store-data")


@pytest.fixture(scope="module")
def db(cluster: PgCluster, data_dir: Path, no_embedded_start: None) -> Iterator[Database]:
    """The store on the external server, migrated to head."""
    database = Database(external_settings(cluster, data_dir))
    try:
        migrate.upgrade(database)
        yield database
    finally:
        database.dispose()


def new_org(db: Database) -> uuid.UUID:
    """Create (and commit) an organisation as the owner."""
    with db.owner_session() as session:
        return orgs.create_org(session=session, name=f"ext-{uuid.uuid4().hex[:10]}").id


def add_supplier(db: Database, *, scope: uuid.UUID, owner: uuid.UUID, code: str) -> None:
    """Insert a supplier row for ``owner`` through a service session scoped to ``scope``."""
    with db.session_scope(scope) as session:
        session.add(Supplier(org_id=owner, code=code, code_key=code, name=f"Supplier {code}"))
        session.flush()


# --------------------------------------------------------------------------- tests


def test_migrations_reach_head_and_step_back_and_forth(db: Database) -> None:
    head = migrate.head_revision()
    assert migrate.is_current(db)
    assert migrate.current_revision(db) == head

    migrate.downgrade(db, "-1")
    previous = migrate.current_revision(db)
    assert previous is not None
    assert previous != head

    migrate.upgrade(db)
    assert migrate.is_current(db)


def test_no_embedded_server_is_started(db: Database, cluster: PgCluster, data_dir: Path) -> None:
    assert db.embedded_server is None
    assert not (data_dir / "pgdata").exists()
    assert list(data_dir.iterdir()) == []
    # The owner engine talks to the test server over TCP, nothing else.
    with db.owner_engine.connect() as conn:
        row = conn.execute(
            text("SELECT inet_server_addr()::text, inet_server_port(), current_database()")
        ).one()
    assert tuple(row) == ("127.0.0.1/32", cluster.port, DB_NAME)
    described = db.describe()
    assert described.startswith(
        f"PostgreSQL at postgresql+psycopg://postgres:***@127.0.0.1:{cluster.port}/"
    )
    assert cluster.password not in described


def test_service_engine_steps_down_to_the_app_role(db: Database) -> None:
    org = new_org(db)
    with db.session_scope(org) as session:
        row = session.execute(
            text("SELECT current_user, session_user, current_setting('app.org_id')")
        ).one()
    assert tuple(row) == (APP_ROLE, "postgres", str(org))
    with db.owner_engine.connect() as conn:
        role = conn.execute(
            text("SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"),
            {"r": APP_ROLE},
        ).one()
    assert tuple(role) == (False, False, False)


def test_row_level_security_isolates_organisations(db: Database) -> None:
    org_a, org_b = new_org(db), new_org(db)
    code = f"SUP-{uuid.uuid4().hex[:8]}"
    add_supplier(db, scope=org_a, owner=org_a, code=code)

    with db.session_scope(org_b) as session:
        assert session.scalars(select(Supplier.code)).all() == []
        assert session.scalar(text("SELECT count(*) FROM suppliers")) == 0

    # Org B may not write a row that claims to be org A's (the policy's WITH CHECK).
    with pytest.raises(DBAPIError, match="row-level security"):
        add_supplier(db, scope=org_b, owner=org_a, code="INTRUDER")

    with db.session_scope(org_a) as session:
        assert session.scalars(select(Supplier.code)).all() == [code]
    # The owner bypasses the policies: org A has exactly its one supplier, nothing from B.
    with db.owner_session() as session:
        codes = session.scalars(select(Supplier.code).where(Supplier.org_id == org_a)).all()
        assert codes == [code]
        assert session.scalar(select(Supplier.id).where(Supplier.org_id == org_b)) is None


def test_import_of_an_indot_slice(db: Database) -> None:
    org, other = new_org(db), new_org(db)
    table = read_table(SLICE)
    mapping = load_mapping("indot_bidtabs")
    with db.session_scope(org) as session:
        result = import_quotes(
            session=session, org_id=org, table=table, mapping=mapping, actor="test"
        )
    assert result.rows_read == SLICE_ROWS
    assert [(r.line_no, r.reason) for r in result.rejections] == []
    assert result.inserted == SLICE_ROWS

    with db.session_scope(org) as session:
        assert session.scalar(text("SELECT count(*) FROM quote_lines")) == SLICE_ROWS
        assert session.scalar(text("SELECT count(*) FROM suppliers")) == 7
        assert session.scalar(text("SELECT count(*) FROM items")) == 5
    with db.session_scope(other) as session:
        assert session.scalar(text("SELECT count(*) FROM quote_lines")) == 0

    # Importing the same file again changes nothing.
    with db.session_scope(org) as session:
        again = import_quotes(
            session=session, org_id=org, table=read_table(SLICE), mapping=mapping, actor="test"
        )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, SLICE_ROWS)


def test_wrong_password_is_a_clean_store_unavailable_error(
    cluster: PgCluster, tmp_path: Path, no_embedded_start: None
) -> None:
    wrong = "wrong-" + secrets.token_hex(8)
    database = Database(external_settings(cluster, tmp_path, password=wrong))
    try:
        with pytest.raises(StoreUnavailableError, match="password authentication failed") as info:
            database.ping()
    finally:
        database.dispose()
    assert wrong not in str(info.value)
    assert database.embedded_server is None
    assert list(tmp_path.iterdir()) == []


def test_database_app_url_logs_in_as_its_own_role(
    db: Database, cluster: PgCluster, tmp_path: Path
) -> None:
    login = "svc_login"
    password = secrets.token_hex(16)  # hex only, so the literal below needs no escaping
    with db.owner_engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {login} LOGIN PASSWORD '{password}'"))
        conn.execute(text(f"GRANT {APP_ROLE} TO {login}"))
    org = new_org(db)

    app_url = cluster.url(DB_NAME, user=login, password=password)
    database = Database(external_settings(cluster, tmp_path, app_url=app_url))
    try:
        with database.session_scope(org) as session:
            session.add(Supplier(org_id=org, code="SVC", code_key="SVC", name="Via login"))
        with database.session_scope(org) as session:
            row = session.execute(text("SELECT session_user, current_user")).one()
            codes = session.scalars(select(Supplier.code)).all()
        assert tuple(row) == (login, APP_ROLE)
        assert codes == ["SVC"]
        assert database.embedded_server is None
        assert list(tmp_path.iterdir()) == []
    finally:
        database.dispose()


def test_unmigrated_store_says_to_run_db_upgrade(
    cluster: PgCluster, tmp_path: Path, no_embedded_start: None
) -> None:
    cluster.create_database("pricing_unmigrated")
    settings = load_settings(
        database_url=cluster.url("pricing_unmigrated"),
        data_dir=tmp_path,
        db_app_role="pricing_app_never_created",
    )
    database = Database(settings)
    try:
        with pytest.raises(StoreUnavailableError, match="pricing-agent db upgrade"):
            database.ping()
    finally:
        database.dispose()


def test_service_login_without_the_grant_is_told_what_to_grant(
    db: Database, cluster: PgCluster, tmp_path: Path
) -> None:
    login, password = "svc_nogrant", secrets.token_hex(16)
    with db.owner_engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {login} LOGIN PASSWORD '{password}'"))
    app_url = cluster.url(DB_NAME, user=login, password=password)
    database = Database(external_settings(cluster, tmp_path, app_url=app_url))
    try:
        with pytest.raises(StoreUnavailableError, match=f"GRANT {APP_ROLE} TO"):
            database.ping()
        with pytest.raises(StoreUnavailableError), database.session_scope(uuid.uuid4()) as s:
            s.execute(text("SELECT 1"))
    finally:
        database.dispose()


def test_reset_role_does_not_survive_the_pool(db: Database) -> None:
    """An owner login steps down on every checkout, so RESET ROLE cannot leak to a later use."""
    org = new_org(db)
    with db.session_scope(org) as session:
        session.execute(text("RESET ROLE"))
        assert session.scalar(text("SELECT current_user")) == "postgres"
    for _ in range(3):  # whichever pooled connection comes back
        with db.session_scope(org) as session:
            assert session.scalar(text("SELECT current_user")) == APP_ROLE
