"""Item search: an item's embedding is forgotten when the text it was made from changes.

A trigger clears ``items.embedding`` and ``items.embedding_model`` whenever an update
changes the name, description, category or unit, so search re-embeds the item instead of
matching it by its old words. Writing only the embedding does not fire it.

No approximate (HNSW) index on ``items.embedding``: the store filters by ``org_id`` and
an index shared by all tenants is scanned before that filter (pgvector 0.6 has no
iterative scan), which can return fewer neighbours than asked for; the exact scan of one
organisation's items is both right and fast at item-master sizes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = "pricing_items_embedding_stale"
TRIGGER = "items_embedding_stale"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION {FUNCTION}() RETURNS trigger
        LANGUAGE plpgsql SET search_path = pg_catalog AS $$
        BEGIN
            IF (NEW.name, NEW.description, NEW.category, NEW.unit)
               IS DISTINCT FROM (OLD.name, OLD.description, OLD.category, OLD.unit) THEN
                NEW.embedding := NULL;
                NEW.embedding_model := NULL;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OF name, description, category, unit "
        f"ON items FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"
    )


def downgrade() -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON items")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
