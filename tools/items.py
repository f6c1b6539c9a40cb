"""Finding the item a buyer means: by code, by another system's code, or by its words."""

from __future__ import annotations

from sqlalchemy import func, select

from core.errors import NotFoundError
from store.models import Item, ItemAlias
from tools.base import ToolContext


def resolve_item(ctx: ToolContext, text: str) -> Item:
    """Return the item ``text`` names: exact code, an ERP alias, or the best full-text match."""
    wanted = text.strip()
    if not wanted:
        raise NotFoundError("which item? give a code or a description")
    session = ctx.session
    item = session.scalar(
        select(Item).where(Item.org_id == ctx.org_id, func.upper(Item.code) == wanted.upper())
    )
    if item is not None:
        return item
    item = session.scalar(
        select(Item)
        .join(ItemAlias, (ItemAlias.org_id == Item.org_id) & (ItemAlias.item_id == Item.id))
        .where(Item.org_id == ctx.org_id, func.upper(ItemAlias.external_code) == wanted.upper())
        .limit(1)
    )
    if item is not None:
        return item
    query = func.websearch_to_tsquery("english", wanted)
    item = session.scalar(
        select(Item)
        .where(Item.org_id == ctx.org_id, Item.search_tsv.op("@@")(query))
        .order_by(func.ts_rank(Item.search_tsv, query).desc(), Item.code)
        .limit(1)
    )
    if item is None:
        raise NotFoundError(f"no item matches {wanted!r}")
    return item
