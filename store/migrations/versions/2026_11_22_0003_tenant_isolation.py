"""Isolate tenants: the application role, its grants, and row-level security everywhere.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import context, op

from store.tenancy import CREATE_CURRENT_ORG_FUNCTION, drop_tenant_table_sql, tenant_table_sql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = [
    "api_keys",
    "audit_log",
    "fx_rates",
    "import_runs",
    "index_series",
    "items",
    "rfqs",
    "suppliers",
    "users",
    "contracts",
    "import_rejections",
    "index_observations",
    "item_aliases",
    "purchase_orders",
    "quotes",
    "rfq_lines",
    "contract_prices",
    "purchase_order_lines",
    "quote_lines",
]
REFERENCE_TABLES = ["units", "unit_aliases", "currencies"]


def _role() -> str:
    return str(context.config.attributes.get("app_role", "pricing_app"))


def upgrade() -> None:
    role = _role()
    # The service acts as this role: it owns nothing and cannot bypass row security.
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE "{role}" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
          END IF;
          IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', '{role}', current_user);
          END IF;
        END $$
    """)
    op.execute(
        f"DO $$ BEGIN EXECUTE format('GRANT USAGE ON SCHEMA %I TO \"{role}\"', current_schema()); END $$"
    )
    op.execute(CREATE_CURRENT_ORG_FUNCTION)
    for table in REFERENCE_TABLES:
        op.execute(f'GRANT SELECT ON "{table}" TO "{role}"')

    # An organisation sees its own row and nothing else; creating one is an operator's job.
    op.execute("ALTER TABLE organizations ENABLE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY org_self ON organizations FOR SELECT USING (id = pricing_current_org())"
    )
    op.execute(f'GRANT SELECT ON organizations TO "{role}"')

    for table in TENANT_TABLES:
        for statement in tenant_table_sql(table, role):
            op.execute(statement)
    op.execute(f"""
        DO $$ BEGIN
          EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO "{role}"', current_schema());
        END $$
    """)

    # Authenticating an API key must find its organisation before any tenant is known.
    # The function answers only for an exact hash of an unrevoked key. Its tables are
    # schema-qualified and pg_temp comes last in its search path, so a caller's temporary
    # tables can never stand in for api_keys or organizations.
    op.execute("""
        DO $$ BEGIN EXECUTE format($fn$
            CREATE FUNCTION %1$I.pricing_authenticate_api_key(p_key_hash text)
            RETURNS TABLE (org_id uuid, org_name text, key_id bigint, key_name text, role text)
            LANGUAGE sql STABLE SECURITY DEFINER
            SET search_path = %1$I, pg_temp
            AS $body$
              SELECT k.org_id, o.name, k.id, k.name, k.role
              FROM %1$I.api_keys k JOIN %1$I.organizations o ON o.id = k.org_id
              WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
            $body$
        $fn$, current_schema()); END $$
    """)
    op.execute("REVOKE ALL ON FUNCTION pricing_authenticate_api_key(text) FROM PUBLIC")
    op.execute(f'GRANT EXECUTE ON FUNCTION pricing_authenticate_api_key(text) TO "{role}"')


def downgrade() -> None:
    role = _role()
    op.execute("DROP FUNCTION IF EXISTS pricing_authenticate_api_key(text)")
    for table in reversed(TENANT_TABLES):
        for statement in drop_tenant_table_sql(table, role):
            op.execute(statement)
    op.execute("DROP POLICY IF EXISTS org_self ON organizations")
    op.execute("ALTER TABLE organizations DISABLE ROW LEVEL SECURITY")
    op.execute(f'REVOKE ALL ON organizations FROM "{role}"')
    for table in REFERENCE_TABLES:
        op.execute(f'REVOKE ALL ON "{table}" FROM "{role}"')
    op.execute(f"""
        DO $$ BEGIN
          EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM "{role}"', current_schema());
        END $$
    """)
    op.execute("DROP FUNCTION IF EXISTS pricing_current_org()")
    # The role itself stays: other databases on the server may use it.
