"""Create the schema: reference data, tenants, master data, quotes, ERP documents, imports.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:29:46.227877
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # pgvector is the one extension the store needs (any PostgreSQL 15+ that has it).
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "currencies",
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("minor_units", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_currencies")),
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_index(
        "uq_organizations_lower_name",
        "organizations",
        [sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "units",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("to_base", sa.Numeric(), nullable=False),
        sa.CheckConstraint(
            "dimension IN ('mass','length','area','volume','count','lump_sum','time')",
            name=op.f("ck_units_dimension"),
        ),
        sa.CheckConstraint("to_base > 0", name=op.f("ck_units_to_base_positive")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_units")),
    )
    op.create_table(
        "api_keys",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('viewer', 'buyer', 'admin')", name=op.f("ck_api_keys_role")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_api_keys_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column(
            "entity_ids",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_audit_log_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_org_id_occurred_at"),
        "audit_log",
        ["org_id", "occurred_at"],
        unique=False,
    )
    op.create_table(
        "fx_rates",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("base_currency", sa.String(length=3), nullable=False),
        sa.Column("quote_currency", sa.String(length=3), nullable=False),
        sa.Column("rate_date", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.CheckConstraint("rate > 0", name=op.f("ck_fx_rates_rate_positive")),
        sa.ForeignKeyConstraint(
            ["base_currency"],
            ["currencies.code"],
            name=op.f("fk_fx_rates_base_currency_currencies"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_fx_rates_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["quote_currency"],
            ["currencies.code"],
            name=op.f("fk_fx_rates_quote_currency_currencies"),
        ),
        sa.PrimaryKeyConstraint(
            "org_id", "base_currency", "quote_currency", "rate_date", name=op.f("pk_fx_rates")
        ),
    )
    op.create_table(
        "import_runs",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_inserted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_updated", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_rejected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column(
            "mapping",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running','succeeded','failed')", name=op.f("ck_import_runs_status")
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_import_runs_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_import_runs")),
    )
    op.create_table(
        "index_series",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("unit", sa.Text(), nullable=True),
        sa.Column("frequency", sa.String(length=16), server_default="monthly", nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_index_series_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_index_series")),
        sa.UniqueConstraint("org_id", "code", name=op.f("uq_index_series_org_id_code")),
    )
    op.create_table(
        "items",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("embedding", Vector(384), nullable=True),
        sa.Column("embedding_model", sa.Text(), nullable=True),
        sa.Column(
            "search_tsv",
            postgresql.TSVECTOR(),
            sa.Computed(
                "to_tsvector('english', coalesce(code, '') || ' ' || coalesce(name, '') || ' ' || coalesce(description, '') || ' ' || coalesce(category, ''))",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_items_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.code"], name=op.f("fk_items_unit_units")),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_items")),
        sa.UniqueConstraint("org_id", "code", name=op.f("uq_items_org_id_code")),
    )
    op.create_index("ix_items_org_id_category", "items", ["org_id", "category"], unique=False)
    op.create_index(
        "ix_items_search_tsv", "items", ["search_tsv"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "rfqs",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("issued_date", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_rfqs_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_rfqs")),
        sa.UniqueConstraint("org_id", "code", name=op.f("uq_rfqs_org_id_code")),
    )
    op.create_table(
        "suppliers",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("code_key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_suppliers_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_suppliers")),
        sa.UniqueConstraint("org_id", "code_key", name=op.f("uq_suppliers_org_id_code_key")),
    )
    op.create_table(
        "unit_aliases",
        sa.Column("alias", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["units.code"],
            name=op.f("fk_unit_aliases_unit_code_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_unit_aliases")),
    )
    op.create_table(
        "users",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), server_default="buyer", nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('viewer', 'buyer', 'admin')", name=op.f("ck_users_role")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_users_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_users")),
    )
    op.create_index(
        "uq_users_org_id_lower_email",
        "users",
        ["org_id", sa.literal_column("lower(email)")],
        unique=True,
    )
    op.create_table(
        "contracts",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source_system", sa.Text(), nullable=False),
        sa.Column("contract_number", sa.Text(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["currency"], ["currencies.code"], name=op.f("fk_contracts_currency_currencies")
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "supplier_id"],
            ["suppliers.org_id", "suppliers.id"],
            name=op.f("fk_contracts_org_id_supplier_id_suppliers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_contracts_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_contracts")),
        sa.UniqueConstraint(
            "org_id",
            "source_system",
            "contract_number",
            name=op.f("uq_contracts_org_id_source_system_contract_number"),
        ),
    )
    op.create_table(
        "import_rejections",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("import_run_id", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "import_run_id"],
            ["import_runs.org_id", "import_runs.id"],
            name=op.f("fk_import_rejections_org_id_import_run_id_import_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_import_rejections_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "org_id", "import_run_id", "line_no", name=op.f("pk_import_rejections")
        ),
    )
    op.create_table(
        "index_observations",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("series_id", sa.BigInteger(), nullable=False),
        sa.Column("obs_date", sa.Date(), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id", "series_id"],
            ["index_series.org_id", "index_series.id"],
            name=op.f("fk_index_observations_org_id_series_id_index_series"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_index_observations_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "org_id", "series_id", "obs_date", name=op.f("pk_index_observations")
        ),
    )
    op.create_table(
        "item_aliases",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("external_code", sa.Text(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "item_id"],
            ["items.org_id", "items.id"],
            name=op.f("fk_item_aliases_org_id_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_item_aliases_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "system", "external_code", name=op.f("pk_item_aliases")),
    )
    op.create_index(
        op.f("ix_item_aliases_org_id_item_id"), "item_aliases", ["org_id", "item_id"], unique=False
    )
    op.create_table(
        "purchase_orders",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("source_system", sa.Text(), nullable=False),
        sa.Column("po_number", sa.Text(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("incoterm", sa.String(length=3), nullable=True),
        sa.Column("payment_terms", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["currency"], ["currencies.code"], name=op.f("fk_purchase_orders_currency_currencies")
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "supplier_id"],
            ["suppliers.org_id", "suppliers.id"],
            name=op.f("fk_purchase_orders_org_id_supplier_id_suppliers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_purchase_orders_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_purchase_orders")),
        sa.UniqueConstraint(
            "org_id",
            "source_system",
            "po_number",
            name=op.f("uq_purchase_orders_org_id_source_system_po_number"),
        ),
    )
    op.create_index(
        op.f("ix_purchase_orders_org_id_supplier_id_order_date"),
        "purchase_orders",
        ["org_id", "supplier_id", "order_date"],
        unique=False,
    )
    op.create_table(
        "quotes",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("quote_key", sa.Text(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("rfq_id", sa.BigInteger(), nullable=True),
        sa.Column("quote_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["currency"], ["currencies.code"], name=op.f("fk_quotes_currency_currencies")
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "rfq_id"],
            ["rfqs.org_id", "rfqs.id"],
            name=op.f("fk_quotes_org_id_rfq_id_rfqs"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "supplier_id"],
            ["suppliers.org_id", "suppliers.id"],
            name=op.f("fk_quotes_org_id_supplier_id_suppliers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_quotes_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_quotes")),
        sa.UniqueConstraint("org_id", "quote_key", name=op.f("uq_quotes_org_id_quote_key")),
    )
    op.create_index(op.f("ix_quotes_org_id_rfq_id"), "quotes", ["org_id", "rfq_id"], unique=False)
    op.create_table(
        "rfq_lines",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rfq_id", sa.BigInteger(), nullable=False),
        sa.Column("line_code", sa.Text(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Numeric(), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "item_id"],
            ["items.org_id", "items.id"],
            name=op.f("fk_rfq_lines_org_id_item_id_items"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "rfq_id"],
            ["rfqs.org_id", "rfqs.id"],
            name=op.f("fk_rfq_lines_org_id_rfq_id_rfqs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_rfq_lines_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.code"], name=op.f("fk_rfq_lines_unit_units")),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_rfq_lines")),
        sa.UniqueConstraint(
            "org_id", "rfq_id", "line_code", name=op.f("uq_rfq_lines_org_id_rfq_id_line_code")
        ),
    )
    op.create_index(
        op.f("ix_rfq_lines_org_id_item_id"), "rfq_lines", ["org_id", "item_id"], unique=False
    )
    op.create_table(
        "contract_prices",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("contract_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_price", sa.Numeric(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("min_quantity", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "unit_price >= 0", name=op.f("ck_contract_prices_unit_price_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["currency"], ["currencies.code"], name=op.f("fk_contract_prices_currency_currencies")
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "contract_id"],
            ["contracts.org_id", "contracts.id"],
            name=op.f("fk_contract_prices_org_id_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "item_id"],
            ["items.org_id", "items.id"],
            name=op.f("fk_contract_prices_org_id_item_id_items"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_contract_prices_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit"], ["units.code"], name=op.f("fk_contract_prices_unit_units")
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_contract_prices")),
        sa.UniqueConstraint(
            "org_id",
            "contract_id",
            "item_id",
            "min_quantity",
            "valid_from",
            name=op.f("uq_contract_prices_org_id_contract_id_item_id_min_quantity_valid_from"),
        ),
    )
    op.create_index(
        "ix_contract_prices_item_validity",
        "contract_prices",
        ["org_id", "item_id", "valid_from"],
        unique=False,
    )
    op.create_table(
        "purchase_order_lines",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("purchase_order_id", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.Text(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("unit_price", sa.Numeric(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("need_by_date", sa.Date(), nullable=True),
        sa.Column("received_quantity", sa.Numeric(), nullable=True),
        sa.Column("received_date", sa.Date(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "unit_price >= 0", name=op.f("ck_purchase_order_lines_unit_price_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["currency"],
            ["currencies.code"],
            name=op.f("fk_purchase_order_lines_currency_currencies"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "item_id"],
            ["items.org_id", "items.id"],
            name=op.f("fk_purchase_order_lines_org_id_item_id_items"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "purchase_order_id"],
            ["purchase_orders.org_id", "purchase_orders.id"],
            name=op.f("fk_purchase_order_lines_org_id_purchase_order_id_purchase_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "supplier_id"],
            ["suppliers.org_id", "suppliers.id"],
            name=op.f("fk_purchase_order_lines_org_id_supplier_id_suppliers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_purchase_order_lines_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit"], ["units.code"], name=op.f("fk_purchase_order_lines_unit_units")
        ),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_purchase_order_lines")),
        sa.UniqueConstraint(
            "org_id",
            "purchase_order_id",
            "line_no",
            name=op.f("uq_purchase_order_lines_org_id_purchase_order_id_line_no"),
        ),
    )
    op.create_index(
        "ix_purchase_order_lines_item_history",
        "purchase_order_lines",
        ["org_id", "item_id", "order_date"],
        unique=False,
    )
    op.create_table(
        "quote_lines",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("natural_key", sa.Text(), nullable=False),
        sa.Column("quote_id", sa.BigInteger(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("rfq_line_id", sa.BigInteger(), nullable=True),
        sa.Column("quote_date", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Numeric(), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("unit_price", sa.Numeric(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("incoterm", sa.String(length=3), nullable=True),
        sa.Column("lead_time_days", sa.Integer(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("awarded", sa.Boolean(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("import_run_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "lead_time_days IS NULL OR lead_time_days >= 0", name=op.f("ck_quote_lines_lead_time")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_quote_lines_quantity_positive")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_quote_lines_unit_price_non_negative")),
        sa.ForeignKeyConstraint(
            ["currency"], ["currencies.code"], name=op.f("fk_quote_lines_currency_currencies")
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "import_run_id"],
            ["import_runs.org_id", "import_runs.id"],
            name=op.f("fk_quote_lines_org_id_import_run_id_import_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "item_id"],
            ["items.org_id", "items.id"],
            name=op.f("fk_quote_lines_org_id_item_id_items"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "quote_id"],
            ["quotes.org_id", "quotes.id"],
            name=op.f("fk_quote_lines_org_id_quote_id_quotes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "rfq_line_id"],
            ["rfq_lines.org_id", "rfq_lines.id"],
            name=op.f("fk_quote_lines_org_id_rfq_line_id_rfq_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id", "supplier_id"],
            ["suppliers.org_id", "suppliers.id"],
            name=op.f("fk_quote_lines_org_id_supplier_id_suppliers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_quote_lines_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["unit"], ["units.code"], name=op.f("fk_quote_lines_unit_units")),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_quote_lines")),
        sa.UniqueConstraint(
            "org_id", "natural_key", name=op.f("uq_quote_lines_org_id_natural_key")
        ),
    )
    op.create_index(
        "ix_quote_lines_item_history",
        "quote_lines",
        ["org_id", "item_id", "quote_date"],
        unique=False,
    )
    op.create_index(
        op.f("ix_quote_lines_org_id_quote_id"), "quote_lines", ["org_id", "quote_id"], unique=False
    )
    op.create_index(
        op.f("ix_quote_lines_org_id_rfq_line_id"),
        "quote_lines",
        ["org_id", "rfq_line_id"],
        unique=False,
    )
    op.create_index(
        "ix_quote_lines_supplier_history",
        "quote_lines",
        ["org_id", "supplier_id", "quote_date"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_quote_lines_supplier_history", table_name="quote_lines")
    op.drop_index(op.f("ix_quote_lines_org_id_rfq_line_id"), table_name="quote_lines")
    op.drop_index(op.f("ix_quote_lines_org_id_quote_id"), table_name="quote_lines")
    op.drop_index("ix_quote_lines_item_history", table_name="quote_lines")
    op.drop_table("quote_lines")
    op.drop_index("ix_purchase_order_lines_item_history", table_name="purchase_order_lines")
    op.drop_table("purchase_order_lines")
    op.drop_index("ix_contract_prices_item_validity", table_name="contract_prices")
    op.drop_table("contract_prices")
    op.drop_index(op.f("ix_rfq_lines_org_id_item_id"), table_name="rfq_lines")
    op.drop_table("rfq_lines")
    op.drop_index(op.f("ix_quotes_org_id_rfq_id"), table_name="quotes")
    op.drop_table("quotes")
    op.drop_index(
        op.f("ix_purchase_orders_org_id_supplier_id_order_date"), table_name="purchase_orders"
    )
    op.drop_table("purchase_orders")
    op.drop_index(op.f("ix_item_aliases_org_id_item_id"), table_name="item_aliases")
    op.drop_table("item_aliases")
    op.drop_table("index_observations")
    op.drop_table("import_rejections")
    op.drop_table("contracts")
    op.drop_index("uq_users_org_id_lower_email", table_name="users")
    op.drop_table("users")
    op.drop_table("unit_aliases")
    op.drop_table("suppliers")
    op.drop_table("rfqs")
    op.drop_index("ix_items_search_tsv", table_name="items", postgresql_using="gin")
    op.drop_index("ix_items_org_id_category", table_name="items")
    op.drop_table("items")
    op.drop_table("index_series")
    op.drop_table("import_runs")
    op.drop_table("fx_rates")
    op.drop_index(op.f("ix_audit_log_org_id_occurred_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_table("units")
    op.drop_index("uq_organizations_lower_name", table_name="organizations")
    op.drop_table("organizations")
    op.drop_table("currencies")
