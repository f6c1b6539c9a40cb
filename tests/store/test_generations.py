"""Data generations: writes to tracked tables move them, nothing else does, values never repeat.

The generation keys the prediction caches (``tools.price_cache``), so a missed bump would
serve stale prices and a repeated value could serve another state's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from core.settings import Settings, load_settings
from store import generations, migrate, orgs
from store.db import Database, TenantSession
from store.models import DataGeneration, IndexObservation, Item, QuoteLine
from tests import factories
from tests.conftest import make_org


def _now(session: Session, org_id: uuid.UUID) -> int:
    return generations.current(session=session, org_id=org_id)


def test_every_write_to_a_tracked_table_moves_the_generation(
    session: Session, org_id: uuid.UUID
) -> None:
    seen = [_now(session, org_id)]

    def moved() -> None:
        value = _now(session, org_id)
        assert value not in seen
        seen.append(value)

    item = factories.item(session, org_id)
    moved()
    supplier = factories.supplier(session, org_id)
    quote = factories.quote(session, org_id, supplier_id=supplier.id)
    assert _now(session, org_id) == seen[-1]  # suppliers and quote headers are not read
    line = factories.quote_line(
        session, org_id, quote_id=quote.id, supplier_id=supplier.id, item_id=item.id
    )
    moved()
    session.execute(update(QuoteLine).where(QuoteLine.id == line.id).values(unit_price=Decimal(9)))
    moved()
    session.execute(update(Item).where(Item.id == item.id).values(category="asphalt"))
    moved()
    series = factories.index_series(session, org_id)
    moved()
    factories.index_observation(session, org_id, series_id=series.id)
    moved()
    session.execute(delete(IndexObservation).where(IndexObservation.series_id == series.id))
    moved()
    session.execute(delete(QuoteLine).where(QuoteLine.id == line.id))
    moved()
    factories.fx_rate(session, org_id)
    factories.model_version(session, org_id)
    assert _now(session, org_id) == seen[-1]


def test_a_statement_that_changes_no_row_moves_nothing(session: Session, org_id: uuid.UUID) -> None:
    factories.item(session, org_id)
    before = _now(session, org_id)
    session.execute(update(Item).where(Item.code == "no such item").values(name="x"))
    session.execute(delete(QuoteLine).where(QuoteLine.id == -1))
    assert _now(session, org_id) == before


def test_one_bulk_statement_is_one_step(session: Session, org_id: uuid.UUID) -> None:
    factories.item(session, org_id)
    before = _now(session, org_id)
    session.execute(
        text(
            "INSERT INTO items (org_id, code, name, unit) "
            "SELECT :org, 'BULK-' || n, 'bulk item', 'ea' FROM generate_series(1, 500) n"
        ),
        {"org": org_id},
    )
    assert _now(session, org_id) == before + 1


def test_values_are_never_reused_after_a_rollback(database: Database) -> None:
    org_id = make_org(database, "gen")
    tenant = TenantSession(bind=database.service_engine)
    tenant.info["org_id"] = org_id
    try:
        factories.item(tenant, org_id)
        undone = _now(tenant, org_id)
        tenant.rollback()
    finally:
        tenant.close()
    with database.session_scope(org_id) as session:
        assert _now(session, org_id) == 0  # the rolled-back value never became visible
        factories.item(session, org_id)
    with database.session_scope(org_id) as session:
        committed = _now(session, org_id)
    assert committed not in (0, undone)


def test_an_organisation_sees_and_moves_only_its_own_generation(
    database: Database, session: Session, org_id: uuid.UUID
) -> None:
    other = make_org(database, "gen-other")
    with database.session_scope(other) as theirs:
        factories.item(theirs, other)
    with database.session_scope(other) as theirs:
        their_value = _now(theirs, other)
    factories.item(session, org_id)
    assert session.scalar(select(func.count()).select_from(DataGeneration)) == 1
    assert _now(session, other) == 0
    changed = session.execute(
        update(DataGeneration).where(DataGeneration.org_id == other).values(generation=1)
    )
    assert changed.rowcount == 0
    with database.session_scope(other) as theirs:
        assert _now(theirs, other) == their_value


def test_deleting_an_organisation_with_tracked_rows_succeeds(database: Database) -> None:
    org_id = make_org(database, "gen-gone")
    with database.session_scope(org_id) as session:
        item = factories.item(session, org_id)
        supplier = factories.supplier(session, org_id)
        quote = factories.quote(session, org_id, supplier_id=supplier.id)
        factories.quote_line(
            session, org_id, quote_id=quote.id, supplier_id=supplier.id, item_id=item.id
        )
    with database.owner_session() as owner:
        # The cascade deletes quote lines and items: their triggers must not resurrect
        # a generation row for the organisation being deleted.
        owner.execute(text("DELETE FROM quote_lines WHERE org_id = :o"), {"o": org_id})
        owner.execute(text("DELETE FROM organizations WHERE id = :o"), {"o": org_id})
    with database.owner_session() as owner:
        left = owner.scalar(
            select(func.count()).select_from(DataGeneration).where(DataGeneration.org_id == org_id)
        )
    assert left == 0


# --------------------------------------------------------------------------- migration


@pytest.fixture
def fresh(settings: Settings, database: Database) -> Iterator[Database]:
    """An empty database on the test session's embedded server; dropped afterwards."""
    name = f"pricing_agent_gen_{uuid.uuid4().hex[:12]}"
    db = Database(
        load_settings(
            database_url=None, database_app_url=None, data_dir=settings.data_dir, db_name=name
        )
    )
    try:
        yield db
    finally:
        db.dispose()
        with database.owner_engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _catalogue(db: Database) -> dict[str, object]:
    with db.owner_engine.connect() as conn:
        return {
            "table": conn.scalar(text("SELECT to_regclass('data_generations') IS NOT NULL")),
            "sequence": conn.scalar(text("SELECT to_regclass('data_generation_seq') IS NOT NULL")),
            "triggers": conn.scalar(
                text("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'data_generation_%'")
            ),
            "functions": conn.scalar(
                text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'pricing_bump_%'")
            ),
        }


def test_migration_0007_seeds_existing_organisations_and_undoes_cleanly(fresh: Database) -> None:
    migrate.upgrade(fresh, "0006")
    with fresh.owner_session() as owner:
        before = orgs.create_org(session=owner, name="existing").id
    migrate.upgrade(fresh, "0007")
    assert _catalogue(fresh) == {"table": True, "sequence": True, "triggers": 16, "functions": 2}
    with fresh.session_scope(before) as session:
        seeded = _now(session, before)
        assert seeded > 0
        factories.item(session, before)
        assert _now(session, before) not in (0, seeded)

    migrate.downgrade(fresh, "0006")
    assert _catalogue(fresh) == {"table": False, "sequence": False, "triggers": 0, "functions": 0}
    with fresh.session_scope(before) as session:
        factories.item(session, before)  # writes work without the triggers

    migrate.upgrade(fresh)
    assert migrate.is_current(fresh)
    assert _catalogue(fresh) == {"table": True, "sequence": True, "triggers": 16, "functions": 2}


def test_read_gives_the_generation_and_the_active_model_together(
    session: Session, org_id: uuid.UUID
) -> None:
    assert generations.read(session=session, org_id=org_id, model_kind="price") == (
        generations.Reading(0, None, None)
    )
    factories.item(session, org_id)
    factories.model_version(session, org_id, version=1, status="retired")
    active = factories.model_version(session, org_id, version=2, status="active")
    reading = generations.read(session=session, org_id=org_id, model_kind="price")
    assert reading == generations.Reading(_now(session, org_id), active.id, 2)
    assert reading.generation > 0
    assert generations.read(session=session, org_id=org_id, model_kind="forecast").model_id is None
