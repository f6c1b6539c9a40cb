"""Row-level security: the SQL that isolates tenants, shared by the migrations.

Policies compare ``org_id`` with ``app.org_id``, a setting each tenant transaction
sets locally (see ``store.db``). With the setting unset, a session sees no tenant row.
"""

from __future__ import annotations

CURRENT_ORG_FUNCTION = "pricing_current_org"

CREATE_CURRENT_ORG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {CURRENT_ORG_FUNCTION}() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('app.org_id', true), '')::uuid $$
"""

# Tables that a SECURITY DEFINER function must read across tenants before a tenant is
# known (API-key, login, Slack and chat-thread look-ups). FORCE would subject their owner,
# and with it those functions, to the policy; the service role is still bound by it.
UNFORCED_TABLES = frozenset({"api_keys", "users", "slack_workspaces", "agent_threads"})


def tenant_table_sql(table: str, app_role: str) -> list[str]:
    """Return the statements that put ``table`` under tenant isolation for ``app_role``."""
    statements = [
        f'ALTER TABLE "{table}" ENABLE ROW LEVEL SECURITY',
        f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"',
        f'CREATE POLICY tenant_isolation ON "{table}" '
        f"USING (org_id = {CURRENT_ORG_FUNCTION}()) "
        f"WITH CHECK (org_id = {CURRENT_ORG_FUNCTION}())",
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO "{app_role}"',
    ]
    if table not in UNFORCED_TABLES:
        statements.insert(1, f'ALTER TABLE "{table}" FORCE ROW LEVEL SECURITY')
    return statements


def drop_tenant_table_sql(table: str, app_role: str) -> list[str]:
    """Return the statements that undo ``tenant_table_sql``."""
    return [
        f'DROP POLICY IF EXISTS tenant_isolation ON "{table}"',
        f'ALTER TABLE "{table}" NO FORCE ROW LEVEL SECURITY',
        f'ALTER TABLE "{table}" DISABLE ROW LEVEL SECURITY',
        f'REVOKE ALL ON "{table}" FROM "{app_role}"',
    ]
