"""Finding the item a buyer means: by code, by another system's code, or by its words."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import defer

from core.errors import NotFoundError, PricingAgentError
from ml.embeddings import Embedder
from store.models import Item, ItemAlias
from tools.base import ToolContext
from tools.search_items import best_item_match

# The embedding (384 floats to parse) and the text-search vector load only if asked for.
_LIGHT = (defer(Item.embedding), defer(Item.search_tsv))


def resolve_item(ctx: ToolContext, text: str, *, embedder: Embedder | None = None) -> Item:
    """Return the item ``text`` names: exact code, an ERP alias, or the best search match."""
    wanted = text.strip()
    if not wanted:
        raise NotFoundError("which item? give a code or a description")
    session = ctx.session
    item = session.scalar(
        select(Item)
        .options(*_LIGHT)
        .where(Item.org_id == ctx.org_id, func.upper(Item.code) == wanted.upper())
    )
    if item is not None:
        return item
    item = session.scalar(
        select(Item)
        .options(*_LIGHT)
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


def resolve_items(
    ctx: ToolContext, texts: list[str], *, embedder: Embedder | None = None
) -> dict[str, Item | PricingAgentError]:
    """``resolve_item`` for many texts at once: each distinct text's item, or why none.

    Codes and aliases are looked up in one query each; only texts that are neither fall
    back to the search, one by one.
    """
    wanted = {text: text.strip() for text in dict.fromkeys(texts)}
    keys = sorted({w.upper() for w in wanted.values() if w})
    by_code: dict[str, Item] = {}
    by_alias: dict[str, Item] = {}
    if keys:
        for item in ctx.session.scalars(
            select(Item)
            .options(*_LIGHT)
            .where(Item.org_id == ctx.org_id, func.upper(Item.code).in_(keys))
            .order_by(Item.id)
        ):
            by_code.setdefault(item.code.upper(), item)
        rest = [k for k in keys if k not in by_code]
        if rest:
            rows = ctx.session.execute(
                select(func.upper(ItemAlias.external_code), Item)
                .options(*_LIGHT)
                .join(Item, (ItemAlias.org_id == Item.org_id) & (ItemAlias.item_id == Item.id))
                .where(Item.org_id == ctx.org_id, func.upper(ItemAlias.external_code).in_(rest))
                .order_by(Item.id)
            ).all()
            for alias, item in rows:
                by_alias.setdefault(alias, item)
    found: dict[str, Item | PricingAgentError] = {}
    for text, clean in wanted.items():
        known = by_code.get(clean.upper()) or by_alias.get(clean.upper())
        if known is not None:
            found[text] = known
            continue
        try:
            found[text] = resolve_item(ctx, text, embedder=embedder)
        except PricingAgentError as exc:
            found[text] = exc
    return found
