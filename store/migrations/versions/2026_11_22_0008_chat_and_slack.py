"""Add what the chat and Slack faces need: logins, Slack links, and the chat's own steps.

- ``users`` gains the person's Slack account; ``slack_workspaces`` links a Slack team to
  the organisation its members speak for, with the role of members not linked to a user.
- ``agent_threads`` records the face a conversation started in, and that face's metadata.
- ``chat_steps`` and ``chat_elements`` keep a chat conversation as the chat showed it
  (messages, tool steps, charts), so a resumed thread looks as it did.

Three SECURITY DEFINER functions answer before any tenant is known, each for one exact
key: a login's e-mail, a Slack team and user, a chat thread id. ``agent_threads`` and
``slack_workspaces`` are therefore not FORCEd (their owner, and with it the functions,
reads across tenants); the service role is still bound by the policy.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from store.tenancy import drop_tenant_table_sql, tenant_table_sql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_TABLES = ("slack_workspaces", "chat_steps", "chat_elements")


def _role() -> str:
    return str(context.config.attributes.get("app_role", "pricing_app"))


def _created() -> sa.Column[sa.DateTime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_org_id_organizations"),
        ondelete="CASCADE",
    )


def _thread_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id", "thread_id"],
        ["agent_threads.org_id", "agent_threads.thread_id"],
        name=op.f(f"fk_{table}_org_id_thread_id_agent_threads"),
        ondelete="CASCADE",
    )


def _jsonb(name: str) -> sa.Column[object]:
    return sa.Column(
        name,
        postgresql.JSONB(astext_type=sa.Text()),
        server_default=sa.text("'{}'::jsonb"),
        nullable=False,
    )


def _definer(signature: str, returns: str, body: str) -> str:
    # Tables are schema-qualified and pg_temp is last on the search path, so a caller's
    # temporary tables can never stand in for ours (as in 0003).
    return f"""
        DO $$ BEGIN EXECUTE format($fn$
            CREATE FUNCTION %1$I.{signature}
            RETURNS TABLE ({returns})
            LANGUAGE sql STABLE SECURITY DEFINER
            SET search_path = %1$I, pg_temp
            AS $body$ {body} $body$
        $fn$, current_schema()); END $$
    """


FUNCTIONS = {
    "pricing_login_candidates(text)": _definer(
        "pricing_login_candidates(p_email text)",
        "org_id uuid, org_name text, user_id bigint, email text, display_name text, "
        "role text, password_hash text",
        """
        SELECT u.org_id, o.name, u.id, u.email, u.display_name, u.role, u.password_hash
        FROM %1$I.users u JOIN %1$I.organizations o ON o.id = u.org_id
        WHERE lower(u.email) = lower(p_email) AND u.disabled_at IS NULL
          AND u.password_hash IS NOT NULL
        """,
    ),
    "pricing_slack_identity(text, text)": _definer(
        "pricing_slack_identity(p_team_id text, p_slack_user_id text)",
        "org_id uuid, org_name text, default_role text, user_id bigint, email text, "
        "display_name text, role text",
        """
        SELECT w.org_id, o.name, w.default_role, u.id, u.email, u.display_name, u.role
        FROM %1$I.slack_workspaces w
        JOIN %1$I.organizations o ON o.id = w.org_id
        LEFT JOIN %1$I.users u ON u.org_id = w.org_id AND u.slack_team_id = w.team_id
             AND u.slack_user_id = p_slack_user_id AND u.disabled_at IS NULL
        WHERE w.team_id = p_team_id
        """,
    ),
    "pricing_thread_owner(text)": _definer(
        "pricing_thread_owner(p_thread_id text)",
        "org_id uuid, user_id text",
        """
        SELECT t.org_id, t.user_id FROM %1$I.agent_threads t WHERE t.thread_id = p_thread_id
        """,
    ),
}


def upgrade() -> None:
    role = _role()
    op.add_column("users", sa.Column("slack_team_id", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("slack_user_id", sa.Text(), nullable=True))
    op.create_index(
        "uq_users_slack_identity",
        "users",
        ["slack_team_id", "slack_user_id"],
        unique=True,
        postgresql_where=sa.text("slack_user_id IS NOT NULL"),
    )
    op.add_column("agent_threads", sa.Column("channel", sa.String(length=16), nullable=True))
    op.add_column("agent_threads", _jsonb("face_metadata"))
    op.create_index(op.f("ix_agent_threads_thread_id"), "agent_threads", ["thread_id"])
    op.create_table(
        "slack_workspaces",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("team_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("default_role", sa.String(length=16), server_default="viewer", nullable=False),
        _created(),
        sa.CheckConstraint(
            "default_role IN ('viewer', 'buyer', 'admin')",
            name=op.f("ck_slack_workspaces_default_role"),
        ),
        _org_fk("slack_workspaces"),
        sa.PrimaryKeyConstraint("org_id", "team_id", name=op.f("pk_slack_workspaces")),
        sa.UniqueConstraint("team_id", name=op.f("uq_slack_workspaces_team_id")),
    )
    for table in ("chat_steps", "chat_elements"):
        key = "step_id" if table == "chat_steps" else "element_id"
        columns: list[sa.Column[object]] = [
            sa.Column("org_id", sa.UUID(), nullable=False),
            sa.Column(key, sa.String(length=64), nullable=False),
            sa.Column("thread_id", sa.String(length=64), nullable=False),
            _created(),
            _jsonb("step" if table == "chat_steps" else "element"),
        ]
        if table == "chat_elements":
            columns.append(sa.Column("content", sa.LargeBinary(), nullable=True))
        op.create_table(
            table,
            *columns,
            _org_fk(table),
            _thread_fk(table),
            sa.PrimaryKeyConstraint("org_id", key, name=op.f(f"pk_{table}")),
        )
    op.create_index(
        op.f("ix_chat_steps_org_id_thread_id_created_at"),
        "chat_steps",
        ["org_id", "thread_id", "created_at"],
    )
    op.create_index(
        op.f("ix_chat_elements_org_id_thread_id"), "chat_elements", ["org_id", "thread_id"]
    )
    for table in NEW_TABLES:
        for statement in tenant_table_sql(table, role):
            op.execute(statement)
    op.execute('ALTER TABLE "agent_threads" NO FORCE ROW LEVEL SECURITY')
    for name, sql in FUNCTIONS.items():
        op.execute(sql)
        op.execute(f"REVOKE ALL ON FUNCTION {name} FROM PUBLIC")
        op.execute(f'GRANT EXECUTE ON FUNCTION {name} TO "{role}"')


def downgrade() -> None:
    role = _role()
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
    op.execute('ALTER TABLE "agent_threads" FORCE ROW LEVEL SECURITY')
    for table in reversed(NEW_TABLES):
        for statement in drop_tenant_table_sql(table, role):
            op.execute(statement)
        op.drop_table(table)
    op.drop_index(op.f("ix_agent_threads_thread_id"), table_name="agent_threads")
    op.drop_column("agent_threads", "face_metadata")
    op.drop_column("agent_threads", "channel")
    op.drop_index("uq_users_slack_identity", table_name="users")
    op.drop_column("users", "slack_user_id")
    op.drop_column("users", "slack_team_id")
