"""Finding the supplier a buyer means: by code, by a spelling of its name."""

from __future__ import annotations

from sqlalchemy import func, select

from core.errors import NotFoundError
from store.models import Supplier
from store.suppliers import supplier_key
from tools.base import ToolContext


def resolve_supplier(ctx: ToolContext, text: str) -> Supplier:
    """Return the supplier ``text`` names (its code or name, any punctuation or legal form)."""
    key = supplier_key(text)
    supplier = ctx.session.scalar(
        select(Supplier).where(Supplier.org_id == ctx.org_id, Supplier.code_key == key)
    )
    if supplier is None:
        supplier = ctx.session.scalar(
            select(Supplier)
            .where(Supplier.org_id == ctx.org_id, func.upper(Supplier.name).contains(key))
            .order_by(func.length(Supplier.name))
            .limit(1)
        )
    if supplier is None:
        raise NotFoundError(f"no supplier matches {text!r}")
    return supplier
