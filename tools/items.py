"""Finding the item a buyer means: by code, by another system's code, or by its words."""

from __future__ import annotations

from sqlalchemy import func, select

from core.errors import NotFoundError
from ml.embeddings import Embedder
from store.models import Item, ItemAlias
from tools.base import ToolContext
from tools.search_items import best_item_match


def resolve_item(ctx: ToolContext, text: str, *, embedder: Embedder | None = None) -> Item:
    """Return the item ``text`` names: exact code, an ERP alias, or the best search match."""
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
    # Last, the buyer's words: the hybrid search's best item, if it is close enough.
    item = best_item_match(session=session, org_id=ctx.org_id, text=wanted, embedder=embedder)
    if item is None:
        raise NotFoundError(
            f"no item matches {wanted!r}; search_items lists the nearest candidates"
        )
    return item
