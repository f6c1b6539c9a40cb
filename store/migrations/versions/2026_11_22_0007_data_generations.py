"""Add the per-organisation data generation that tells caches when prediction data changed.

After every statement that inserts, updates or deletes rows of the tables a price
prediction reads, a statement-level trigger gives each organisation whose rows it wrote
a fresh value from ``data_generation_seq``. The trigger sees the rows through transition
tables, so a bulk import costs one upsert per organisation, not one per row. Sequence
values are never reused (not even after a rollback), so one value names one state of an
organisation's data, and reading it is one primary-key look-up.

The trigger runs as whoever wrote the rows: under row-level security that is a session of
the same organisation, which may write its own generation row (the service role has the
usual tenant grants on it). Rows of a deleted organisation (an ``ON DELETE CASCADE``)
bump nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from store.tenancy import drop_tenant_table_sql, tenant_table_sql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What ``tools.price_cache`` reads (``store.history.price_lines`` and
# ``index_observations``). Frozen here: a later change of that list is a new migration.
TRACKED_TABLES = ("items", "quote_lines", "index_series", "index_observations")
SEQUENCE = "data_generation_seq"
BUMP = "pricing_bump_data_generation"
BUMP_ALL = "pricing_bump_all_data_generations"

# One function serves INSERT, UPDATE and DELETE: PL/pgSQL plans a statement when it first
# runs, so the branch naming a transition table the trigger lacks is never planned.
_BUMP_SQL = f"""
CREATE FUNCTION {BUMP}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO data_generations AS g (org_id, generation)
    SELECT c.org_id, nextval('{SEQUENCE}')
    FROM (SELECT DISTINCT org_id FROM new_rows) c
    WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = c.org_id)
    ON CONFLICT (org_id) DO UPDATE SET generation = excluded.generation, changed_at = now();
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO data_generations AS g (org_id, generation)
    SELECT c.org_id, nextval('{SEQUENCE}')
    FROM (SELECT DISTINCT org_id FROM old_rows) c
    WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = c.org_id)
    ON CONFLICT (org_id) DO UPDATE SET generation = excluded.generation, changed_at = now();
  ELSE
    INSERT INTO data_generations AS g (org_id, generation)
    SELECT c.org_id, nextval('{SEQUENCE}')
    FROM (SELECT org_id FROM new_rows UNION SELECT org_id FROM old_rows) c
    WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = c.org_id)
    ON CONFLICT (org_id) DO UPDATE SET generation = excluded.generation, changed_at = now();
  END IF;
  RETURN NULL;
END $$
"""

# TRUNCATE has no transition table: every organisation's generation moves.
_BUMP_ALL_SQL = f"""
CREATE FUNCTION {BUMP_ALL}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE data_generations SET generation = nextval('{SEQUENCE}'), changed_at = now();
  RETURN NULL;
END $$
"""


def _role() -> str:
    return str(context.config.attributes.get("app_role", "pricing_app"))


def _triggers(table: str) -> list[str]:
    run = f"FOR EACH STATEMENT EXECUTE FUNCTION {BUMP}()"
    return [
        f'CREATE TRIGGER data_generation_insert AFTER INSERT ON "{table}" '
        f"REFERENCING NEW TABLE AS new_rows {run}",
        f'CREATE TRIGGER data_generation_update AFTER UPDATE ON "{table}" '
        f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows {run}",
        f'CREATE TRIGGER data_generation_delete AFTER DELETE ON "{table}" '
        f"REFERENCING OLD TABLE AS old_rows {run}",
        f'CREATE TRIGGER data_generation_truncate AFTER TRUNCATE ON "{table}" '
        f"FOR EACH STATEMENT EXECUTE FUNCTION {BUMP_ALL}()",
    ]


def upgrade() -> None:
    op.execute(f"CREATE SEQUENCE {SEQUENCE}")
    op.create_table(
        "data_generations",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_data_generations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_data_generations")),
    )
    # Organisations that already have data start at a generation of their own (seeded
    # before row-level security applies to the table, so any owner may write it).
    op.execute(
        f"INSERT INTO data_generations (org_id, generation) "
        f"SELECT id, nextval('{SEQUENCE}') FROM organizations"
    )
    role = _role()
    for statement in tenant_table_sql("data_generations", role):
        op.execute(statement)
    op.execute(f'GRANT USAGE, SELECT ON SEQUENCE {SEQUENCE} TO "{role}"')
    op.execute(_BUMP_SQL)
    op.execute(_BUMP_ALL_SQL)
    for table in TRACKED_TABLES:
        for statement in _triggers(table):
            op.execute(statement)


def downgrade() -> None:
    role = _role()
    for table in TRACKED_TABLES:
        for event in ("insert", "update", "delete", "truncate"):
            op.execute(f'DROP TRIGGER IF EXISTS data_generation_{event} ON "{table}"')
    op.execute(f"DROP FUNCTION IF EXISTS {BUMP_ALL}()")
    op.execute(f"DROP FUNCTION IF EXISTS {BUMP}()")
    for statement in drop_tenant_table_sql("data_generations", role):
        op.execute(statement)
    op.drop_table("data_generations")
    op.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")
