"""Add the agent's threads, drafted counter-offers, and its isolated checkpointer schema.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from store import agent_memory
from store.tenancy import drop_tenant_table_sql, tenant_table_sql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("agent_threads", "counter_offers")


def _role() -> str:
    return str(context.config.attributes.get("app_role", "pricing_app"))


def _created(name: str = "created_at") -> sa.Column[sa.DateTime]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "agent_threads",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        _created(),
        _created("updated_at"),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_agent_threads_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "thread_id", name=op.f("pk_agent_threads")),
    )
    op.create_index(
        op.f("ix_agent_threads_org_id_user_id_updated_at"),
        "agent_threads",
        ["org_id", "user_id", "updated_at"],
    )
    op.create_table(
        "counter_offers",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("rfq_code", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(), nullable=True),
        sa.Column("unit_price", sa.Numeric(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "basis",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "status", sa.String(length=16), server_default="pending_approval", nullable=False
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        _created(),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'approved', 'rejected', 'abandoned')",
            name=op.f("ck_counter_offers_status"),
        ),
        sa.CheckConstraint("unit_price > 0", name=op.f("ck_counter_offers_unit_price_positive")),
        sa.ForeignKeyConstraint(
            ["currency"], ["currencies.code"], name=op.f("fk_counter_offers_currency_currencies")
        ),
        sa.ForeignKeyConstraint(
            ["unit"], ["units.code"], name=op.f("fk_counter_offers_unit_units")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_counter_offers_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "supplier_id"],
            ["suppliers.org_id", "suppliers.id"],
            name=op.f("fk_counter_offers_org_id_supplier_id_suppliers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "item_id"],
            ["items.org_id", "items.id"],
            name=op.f("fk_counter_offers_org_id_item_id_items"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_counter_offers")),
    )
    op.create_index(
        op.f("ix_counter_offers_org_id_status_created_at"),
        "counter_offers",
        ["org_id", "status", "created_at"],
    )
    role = _role()
    for table in TABLES:
        for statement in tenant_table_sql(table, role):
            op.execute(statement)
    op.execute(f"""
        DO $$ BEGIN
          EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO "{role}"', current_schema());
        END $$
    """)
    # The checkpointer's own migrations build indexes CONCURRENTLY: outside a transaction.
    with op.get_context().autocommit_block():
        agent_memory.ensure_schema(op.get_bind().connection.driver_connection, app_role=role)


def downgrade() -> None:
    role = _role()
    op.execute(f"DROP SCHEMA IF EXISTS {agent_memory.SCHEMA} CASCADE")
    for table in TABLES:
        for statement in drop_tenant_table_sql(table, role):
            op.execute(statement)
    op.drop_index(op.f("ix_counter_offers_org_id_status_created_at"), table_name="counter_offers")
    op.drop_table("counter_offers")
    op.drop_index(op.f("ix_agent_threads_org_id_user_id_updated_at"), table_name="agent_threads")
    op.drop_table("agent_threads")
