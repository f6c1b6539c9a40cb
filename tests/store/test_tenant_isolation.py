"""Row-level security: a session of one organisation can neither read nor write another's rows.

Organisation B's rows are committed, one per tenant table; organisation A is the
``session`` fixture's (rolled back). Every test is parametrized over ``TENANT_TABLES``, so a
new tenant table is covered as soon as it has a factory (and fails loudly until it does).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg.errors
import pytest
from sqlalchemy import Table, and_, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from store.db import Database
from store.models import REFERENCE_TABLES, TENANT_TABLES, Base
from store.tenancy import UNFORCED_TABLES
from tests import factories
from tests.conftest import count, make_org


@dataclass(frozen=True)
class OtherOrg:
    """Organisation B: its id, the primary key of its row in each table, its parent ids."""

    org_id: uuid.UUID
    keys: dict[str, dict[str, Any]]
    ids: dict[str, int]
    api_key_secret: str


@pytest.fixture(scope="module")
def org_b(database: Database) -> Iterator[OtherOrg]:
    """Commit one row per tenant table for a second organisation; delete it afterwards."""
    org_id = make_org(database, prefix="org-b")
    secret = f"pa_{uuid.uuid4().hex}"
    with database.session_scope(org_id) as session:
        rows = factories.one_row_per_tenant_table(session, org_id)
        factories.api_key(session, org_id, secret=secret)
        keys = {table: factories.primary_key(row) for table, row in rows.items()}
        ids = factories.parent_ids(rows)
    yield OtherOrg(org_id=org_id, keys=keys, ids=ids, api_key_secret=secret)
    with database.owner_session() as owner:
        owner.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org_id})


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _by_key(table: Table, key: dict[str, Any]) -> Any:
    return and_(*(table.c[col] == value for col, value in key.items()))


def _is_rls_violation(exc: DBAPIError) -> bool:
    return isinstance(exc.orig, psycopg.errors.InsufficientPrivilege) and (
        "row-level security" in str(exc.orig)
    )


def _is_permission_denied(exc: DBAPIError) -> bool:
    return isinstance(exc.orig, psycopg.errors.InsufficientPrivilege) and (
        "permission denied" in str(exc.orig)
    )


# --------------------------------------------------------------------------- per tenant table


def test_factories_cover_every_tenant_table() -> None:
    assert set(factories.TENANT_ROW_FACTORIES) == set(TENANT_TABLES)


@pytest.mark.parametrize("table_name", TENANT_TABLES)
def test_other_org_rows_are_invisible(session: Session, org_b: OtherOrg, table_name: str) -> None:
    table = _table(table_name)
    key = org_b.keys[table_name]
    assert session.scalar(select(func.count()).select_from(table)) == 0
    assert (
        session.scalar(
            select(func.count()).select_from(table).where(table.c.org_id == org_b.org_id)
        )
        == 0
    )
    assert session.execute(select(table).where(_by_key(table, key))).first() is None


@pytest.mark.parametrize("table_name", TENANT_TABLES)
def test_other_org_rows_cannot_be_updated_or_deleted(
    database: Database, session: Session, org_b: OtherOrg, table_name: str
) -> None:
    table = _table(table_name)
    key = org_b.keys[table_name]
    updated = session.execute(
        update(table).where(_by_key(table, key)).values(org_id=table.c.org_id)
    )
    assert updated.rowcount == 0
    deleted = session.execute(delete(table).where(_by_key(table, key)))
    assert deleted.rowcount == 0
    session.flush()
    # B's own session still sees the row it owns (A's transaction is still open here).
    with database.session_scope(org_b.org_id) as own:
        assert own.execute(select(table).where(_by_key(table, key))).first() is not None


@pytest.mark.parametrize("table_name", TENANT_TABLES)
def test_rows_for_another_org_cannot_be_inserted(
    session: Session, org_b: OtherOrg, table_name: str
) -> None:
    build = factories.TENANT_ROW_FACTORIES[table_name]
    # The row is valid for B (its parents exist in B), so only the policy can refuse it.
    with pytest.raises(DBAPIError) as caught:
        build(session, org_b.org_id, org_b.ids)
    assert _is_rls_violation(caught.value), caught.value
    session.rollback()


@pytest.mark.parametrize("table_name", TENANT_TABLES)
def test_owner_org_sees_its_own_row(database: Database, org_b: OtherOrg, table_name: str) -> None:
    table = _table(table_name)
    with database.session_scope(org_b.org_id) as own:
        rows = own.execute(select(table).where(_by_key(table, org_b.keys[table_name]))).all()
        total = own.scalar(select(func.count()).select_from(table))
    assert len(rows) == 1
    assert rows[0].org_id == org_b.org_id
    # api_keys holds the extra key the fixture made for authentication tests.
    assert total == (2 if table_name == "api_keys" else 1)


def test_org_can_write_its_own_rows_in_every_tenant_table(
    session: Session, org_id: uuid.UUID
) -> None:
    rows = factories.one_row_per_tenant_table(session, org_id)
    for table_name in TENANT_TABLES:
        assert count(session, table_name) == 1, table_name
        assert rows[table_name].org_id == org_id


# --------------------------------------------------------------------------- catalogue facts


def _rls_flags(database: Database) -> dict[str, tuple[bool, bool]]:
    with database.owner_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
            )
        ).all()
    return {r.relname: (r.relrowsecurity, r.relforcerowsecurity) for r in rows}


def test_row_level_security_is_enabled_on_tenant_tables_and_organizations(
    database: Database,
) -> None:
    flags = _rls_flags(database)
    not_enabled = [t for t in (*TENANT_TABLES, "organizations") if not flags[t][0]]
    assert not_enabled == []


def test_row_level_security_is_forced_except_where_documented(database: Database) -> None:
    flags = _rls_flags(database)
    not_forced = {t for t in TENANT_TABLES if not flags[t][1]}
    assert not_forced == set(UNFORCED_TABLES)


def test_every_tenant_table_has_the_isolation_policy(database: Database) -> None:
    with database.owner_engine.connect() as conn:
        policies = {
            (r.tablename, r.policyname): (r.cmd, r.qual, r.with_check)
            for r in conn.execute(
                text(
                    "SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies "
                    "WHERE schemaname = current_schema()"
                )
            )
        }
    for table in TENANT_TABLES:
        cmd, qual, with_check = policies[(table, "tenant_isolation")]
        assert cmd == "ALL"
        assert "pricing_current_org()" in qual
        assert "pricing_current_org()" in with_check


def test_app_role_is_unprivileged_and_owns_nothing(database: Database) -> None:
    role = database.settings.db_app_role
    with database.owner_engine.connect() as conn:
        flags = conn.execute(
            text(
                "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, "
                "has_schema_privilege(rolname, current_schema(), 'CREATE') AS creates_in_schema, "
                "has_database_privilege(rolname, current_database(), 'CREATE') AS creates_schemas "
                "FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role},
        ).one()
        owned_relations = conn.scalars(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                "WHERE r.rolname = :r"
            ),
            {"r": role},
        ).all()
        owned_functions = conn.scalars(
            text(
                "SELECT p.proname FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner "
                "WHERE r.rolname = :r"
            ),
            {"r": role},
        ).all()
    assert flags.rolsuper is False
    assert flags.rolbypassrls is False
    assert (flags.rolcreatedb, flags.rolcreaterole) == (False, False)
    # It cannot plant tables or functions that would shadow the store's own.
    assert (flags.creates_in_schema, flags.creates_schemas) == (False, False)
    assert owned_relations == []
    assert owned_functions == []


def test_service_session_acts_as_the_app_role(database: Database, session: Session) -> None:
    assert session.scalar(text("SELECT current_user")) == database.settings.db_app_role


# --------------------------------------------------------------------------- unscoped sessions


def test_session_without_org_sees_no_tenant_rows(database: Database, org_b: OtherOrg) -> None:
    with Session(bind=database.service_engine) as plain:
        assert plain.scalar(text("SELECT pricing_current_org()")) is None
        for table in (*TENANT_TABLES, "organizations"):
            assert count(plain, table) == 0, table
        plain.rollback()


def test_session_without_org_cannot_insert(database: Database, org_b: OtherOrg) -> None:
    with Session(bind=database.service_engine) as plain:
        with pytest.raises(DBAPIError) as caught:
            factories.supplier(plain, org_b.org_id)
        assert _is_rls_violation(caught.value)
        plain.rollback()


def test_org_sees_only_its_own_organization_row(
    session: Session, org_id: uuid.UUID, org_b: OtherOrg
) -> None:
    ids = session.scalars(text("SELECT id FROM organizations")).all()
    assert ids == [org_id]


_REFERENCE_ROWS: dict[str, dict[str, Any]] = {
    "organizations": {"name": "intruder"},
    "units": {"code": "zz", "name": "zz", "dimension": "count", "to_base": 1},
    "unit_aliases": {"alias": "ZZZ", "unit_code": "ea"},
    "currencies": {"code": "ZZZ", "name": "Zed", "minor_units": 2},
}


@pytest.mark.parametrize("table_name", ["organizations", *REFERENCE_TABLES])
def test_app_role_cannot_insert_global_rows(session: Session, table_name: str) -> None:
    with pytest.raises(DBAPIError) as caught, session.begin_nested():
        session.execute(insert(_table(table_name)).values(**_REFERENCE_ROWS[table_name]))
    assert _is_permission_denied(caught.value), caught.value


@pytest.mark.parametrize("table_name", ["organizations", *REFERENCE_TABLES])
def test_app_role_cannot_change_global_rows(session: Session, table_name: str) -> None:
    column = next(iter(_REFERENCE_ROWS[table_name]))
    for statement in (
        f'UPDATE "{table_name}" SET "{column}" = "{column}"',
        f'DELETE FROM "{table_name}"',
    ):
        with pytest.raises(DBAPIError) as caught, session.begin_nested():
            session.execute(text(statement))
        assert _is_permission_denied(caught.value), (statement, caught.value)


# --------------------------------------------------------------------------- API-key look-up


def _authenticate(session: Session, key_hash: str) -> list[Any]:
    return list(
        session.execute(
            text("SELECT * FROM pricing_authenticate_api_key(:h)"), {"h": key_hash}
        ).all()
    )


def test_authenticate_function_answers_only_for_the_exact_hash(
    session: Session, org_id: uuid.UUID
) -> None:
    secret = f"pa_{uuid.uuid4().hex}"
    key = factories.api_key(session, org_id, secret=secret, role="buyer")
    digest = hashlib.sha256(secret.encode()).hexdigest()

    found = _authenticate(session, digest)
    assert [(r.org_id, r.key_id, r.role) for r in found] == [(org_id, key.id, "buyer")]
    for near_miss in (digest.upper(), digest[:-1], digest + " ", "%", "", secret):
        assert _authenticate(session, near_miss) == [], near_miss


def test_authenticate_function_ignores_revoked_keys(session: Session, org_id: uuid.UUID) -> None:
    secret = f"pa_{uuid.uuid4().hex}"
    key = factories.api_key(session, org_id, secret=secret)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert len(_authenticate(session, digest)) == 1

    key.revoked_at = session.scalar(text("SELECT now()"))
    session.flush()
    assert _authenticate(session, digest) == []


def test_authenticate_function_finds_keys_before_a_tenant_is_known(
    database: Database, org_b: OtherOrg
) -> None:
    digest = hashlib.sha256(org_b.api_key_secret.encode()).hexdigest()
    with Session(bind=database.service_engine) as plain:
        found = _authenticate(plain, digest)
        # The same session still cannot read the key table itself.
        assert count(plain, "api_keys") == 0
        plain.rollback()
    assert [r.org_id for r in found] == [org_b.org_id]


def test_authenticate_function_is_a_hardened_security_definer(database: Database) -> None:
    role = database.settings.db_app_role
    with database.owner_engine.connect() as conn:
        fn = conn.execute(
            text(
                "SELECT prosecdef, proconfig, "
                "has_function_privilege(:r, oid, 'EXECUTE') AS app_can_run, "
                "has_function_privilege('public', oid, 'EXECUTE') AS public_can_run "
                "FROM pg_proc WHERE proname = 'pricing_authenticate_api_key'"
            ),
            {"r": role},
        ).one()
    assert fn.prosecdef is True
    assert any(c.startswith("search_path=") for c in fn.proconfig or [])
    assert fn.app_can_run is True
    assert fn.public_can_run is False


def test_authenticate_function_ignores_the_callers_temporary_tables(
    session: Session, org_b: OtherOrg
) -> None:
    # The app role may create temporary tables (PUBLIC has TEMP on the database); the
    # tables vanish with the fixture's rolled-back transaction.
    session.execute(
        text(
            "CREATE TEMP TABLE api_keys (org_id uuid, id bigint, name text, role text, "
            "key_hash text, revoked_at timestamptz)"
        )
    )
    session.execute(text("CREATE TEMP TABLE organizations (id uuid, name text)"))
    session.execute(
        text("INSERT INTO pg_temp.api_keys VALUES (:o, 1, 'forged', 'admin', 'forged', NULL)"),
        {"o": org_b.org_id},
    )
    session.execute(
        text("INSERT INTO pg_temp.organizations VALUES (:o, 'forged')"), {"o": org_b.org_id}
    )
    assert _authenticate(session, "forged") == []
