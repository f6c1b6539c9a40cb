"""Add the model registry and the editable links from item categories to market indexes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from store.tenancy import drop_tenant_table_sql, tenant_table_sql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("category_index_links", "model_versions")


def _role() -> str:
    return str(context.config.attributes.get("app_role", "pricing_app"))


def upgrade() -> None:
    op.create_table(
        "category_index_links",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("series_code", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_category_index_links_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "category", name=op.f("pk_category_index_links")),
    )
    op.create_table(
        "model_versions",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="candidate", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaces_version", sa.Integer(), nullable=True),
        sa.Column("data_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("training_rows", sa.Integer(), nullable=False),
        sa.Column("training_seconds", sa.Float(), nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "metrics",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("artifact_format", sa.String(length=32), nullable=False),
        sa.Column("artifact", sa.LargeBinary(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('candidate', 'active', 'retired')", name=op.f("ck_model_versions_status")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_model_versions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint(
            "org_id", "kind", "version", name=op.f("uq_model_versions_org_id_kind_version")
        ),
    )
    op.create_index(
        "uq_model_versions_one_active",
        "model_versions",
        ["org_id", "kind"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
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


def downgrade() -> None:
    role = _role()
    for table in TABLES:
        for statement in drop_tenant_table_sql(table, role):
            op.execute(statement)
    op.drop_index("uq_model_versions_one_active", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("category_index_links")
