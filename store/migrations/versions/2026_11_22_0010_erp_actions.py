"""Add the ERP writes a person approves, and the ERPs' own unit spellings.

- ``erp_actions``: a requisition or contract-price change the agent drafted; it is sent
  to the ERP only after a person approves, and keeps what was sent and what came back.
- ``item_aliases.erp_unit`` and ``contract_prices.erp_unit``: the unit as the ERP spells
  it ("ST", "Each"), so a write goes back in the ERP's own code.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 13:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from store.tenancy import drop_tenant_table_sql, tenant_table_sql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("create_requisition", "update_contract_price")
STATUSES = ("pending_approval", "rejected", "abandoned", "approved", "sending", "sent", "failed")


def _role() -> str:
    return str(context.config.attributes.get("app_role", "pricing_app"))


def _fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    parent = target.split(".", maxsplit=1)[0]
    return sa.ForeignKeyConstraint(
        ["org_id", column],
        [f"{parent}.org_id", target],
        name=op.f(f"fk_erp_actions_org_id_{column}_{parent}"),
        ondelete="RESTRICT",
    )


def _json(name: str) -> sa.Column[sa.JSON]:
    return sa.Column(
        name,
        postgresql.JSONB(astext_type=sa.Text()),
        server_default=sa.text("'{}'::jsonb"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "erp_actions",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("supplier_id", sa.BigInteger(), nullable=True),
        _json("payload"),
        sa.Column("summary", sa.Text(), nullable=False),
        _json("basis"),
        sa.Column(
            "status", sa.String(length=16), server_default="pending_approval", nullable=False
        ),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("erp_message", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(f"kind IN {KINDS!r}", name=op.f("ck_erp_actions_kind")),
        sa.CheckConstraint(f"status IN {STATUSES!r}", name=op.f("ck_erp_actions_status")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_erp_actions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        _fk("item_id", "items.id"),
        _fk("supplier_id", "suppliers.id"),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_erp_actions")),
    )
    op.create_index(
        op.f("ix_erp_actions_org_id_status_created_at"),
        "erp_actions",
        ["org_id", "status", "created_at"],
    )
    op.add_column("item_aliases", sa.Column("erp_unit", sa.Text(), nullable=True))
    op.add_column("contract_prices", sa.Column("erp_unit", sa.Text(), nullable=True))
    for statement in tenant_table_sql("erp_actions", _role()):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_tenant_table_sql("erp_actions", _role()):
        op.execute(statement)
    op.drop_table("erp_actions")
    op.drop_column("contract_prices", "erp_unit")
    op.drop_column("item_aliases", "erp_unit")
