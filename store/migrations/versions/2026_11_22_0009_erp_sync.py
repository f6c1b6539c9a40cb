"""Add what the ERP sync keeps: supplier aliases, runs, watermarks, rejections, match candidates.

- ``supplier_aliases``: a supplier's code in an ERP, as ``item_aliases`` is for items.
- ``erp_sync_runs``: each sync's counts, errors and duration; ``erp_rejections`` the records
  it refused with their reasons; ``erp_watermarks`` how far each entity has been read.
- ``item_match_candidates``: doubtful matches of an ERP item to a store item, for a person
  to confirm (the sync never merges them on its own).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 11:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from store.tenancy import drop_tenant_table_sql, tenant_table_sql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "supplier_aliases",
    "erp_sync_runs",
    "erp_watermarks",
    "erp_rejections",
    "item_match_candidates",
)


def _role() -> str:
    return str(context.config.attributes.get("app_role", "pricing_app"))


def _now(name: str) -> sa.Column[sa.DateTime]:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _org(table: str) -> list[sa.SchemaItem]:
    return [
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f(f"fk_{table}_org_id_organizations"),
            ondelete="CASCADE",
        ),
    ]


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    parent = target.split(".", maxsplit=1)[0]
    return sa.ForeignKeyConstraint(
        ["org_id", column],
        [f"{parent}.org_id", target],
        name=op.f(f"fk_{table}_org_id_{column}_{parent}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "supplier_aliases",
        *_org("supplier_aliases"),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("external_code", sa.Text(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        _now("created_at"),
        _fk("supplier_aliases", "supplier_id", "suppliers.id"),
        sa.PrimaryKeyConstraint(
            "org_id", "system", "external_code", name=op.f("pk_supplier_aliases")
        ),
    )
    op.create_index(
        op.f("ix_supplier_aliases_org_id_supplier_id"),
        "supplier_aliases",
        ["org_id", "supplier_id"],
    )
    op.create_table(
        "erp_sync_runs",
        *_org("erp_sync_runs"),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        _now("started_at"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column(
            "counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'finished', 'failed')", name=op.f("ck_erp_sync_runs_status")
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_erp_sync_runs")),
    )
    op.create_index(
        op.f("ix_erp_sync_runs_org_id_system_started_at"),
        "erp_sync_runs",
        ["org_id", "system", "started_at"],
    )
    op.create_table(
        "erp_watermarks",
        *_org("erp_watermarks"),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("org_id", "system", "entity", name=op.f("pk_erp_watermarks")),
    )
    op.create_table(
        "erp_rejections",
        *_org("erp_rejections"),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        _fk("erp_rejections", "run_id", "erp_sync_runs.id"),
        sa.PrimaryKeyConstraint("org_id", "run_id", "seq", name=op.f("pk_erp_rejections")),
    )
    op.create_table(
        "item_match_candidates",
        *_org("item_match_candidates"),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("external_code", sa.Text(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        _now("created_at"),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'rejected')",
            name=op.f("ck_item_match_candidates_status"),
        ),
        _fk("item_match_candidates", "item_id", "items.id"),
        sa.PrimaryKeyConstraint(
            "org_id", "system", "external_code", "item_id", name=op.f("pk_item_match_candidates")
        ),
    )
    op.add_column("contract_prices", sa.Column("line_no", sa.Text(), nullable=True))
    op.create_index(
        "ix_contract_prices_contract_line", "contract_prices", ["org_id", "contract_id", "line_no"]
    )
    role = _role()
    for table in TABLES:
        for statement in tenant_table_sql(table, role):
            op.execute(statement)


def downgrade() -> None:
    role = _role()
    for table in reversed(TABLES):
        for statement in drop_tenant_table_sql(table, role):
            op.execute(statement)
        op.drop_table(table)
    op.drop_index("ix_contract_prices_contract_line", table_name="contract_prices")
    op.drop_column("contract_prices", "line_no")
