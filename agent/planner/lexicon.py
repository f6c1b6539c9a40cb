"""The organisation's names the offline planner reads questions with.

Suppliers, RFQ codes, index series, categories and unit spellings come from the store,
so the planner recognises this organisation's names, not a list written for a demo.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import IndexSeries, Item, QuoteLine, Rfq, Supplier, Unit, UnitAlias

# Words that say what a company is, not which one.
_LEGAL = {
    "INC", "LLC", "CO", "COMPANY", "CORP", "CORPORATION", "LTD", "LP", "LLP", "THE", "OF",
    "AND", "GROUP", "HOLDINGS", "ENTERPRISES", "SERVICES", "INDUSTRIES", "USA", "AMERICA",
}  # fmt: skip


def words(text: str) -> list[str]:
    """Split into upper-case alphanumeric words."""
    return re.findall(r"[A-Z0-9]+", text.upper())


@dataclass(frozen=True)
class SupplierName:
    """A supplier and the words that tell it apart."""

    id: int
    name: str
    distinctive: tuple[str, ...]
    quotes: int = 0  # how often it quotes: the tie-breaker between look-alike names


@dataclass
class Lexicon:
    """Names known to one organisation."""

    suppliers: list[SupplierName] = field(default_factory=list)
    rfq_codes: list[str] = field(default_factory=list)
    series: dict[str, str] = field(default_factory=dict)  # code -> name
    categories: set[str] = field(default_factory=set)
    units: dict[str, str] = field(default_factory=dict)  # spelling (upper) -> unit code
    item_codes: set[str] = field(default_factory=set)
    item_words: set[str] = field(default_factory=set)


def load_lexicon(session: Session, org_id: uuid.UUID) -> Lexicon:
    """Read the organisation's names from the store."""
    items = session.execute(
        select(Item.code, Item.name, Item.category).where(Item.org_id == org_id)
    ).all()
    item_words = {w for _, name, _ in items for w in words(name or "") if len(w) > 1}
    counts = session.execute(
        select(QuoteLine.supplier_id, func.count())
        .where(QuoteLine.org_id == org_id)
        .group_by(QuoteLine.supplier_id)
    ).all()
    volume: dict[int, int] = {row[0]: row[1] for row in counts}
    suppliers = []
    for sid, name in session.execute(
        select(Supplier.id, Supplier.name).where(Supplier.org_id == org_id)
    ):
        distinctive = tuple(w for w in words(name) if w not in _LEGAL)
        suppliers.append(
            SupplierName(
                id=sid,
                name=name,
                distinctive=distinctive or tuple(words(name)),
                quotes=int(volume.get(sid, 0)),
            )
        )
    units: dict[str, str] = {}
    for code, name in session.execute(select(Unit.code, Unit.name)):
        units[code.upper()] = code
        units[name.upper()] = code
    for alias, code in session.execute(select(UnitAlias.alias, UnitAlias.unit_code)):
        units[alias.upper()] = code
    return Lexicon(
        suppliers=suppliers,
        rfq_codes=list(session.scalars(select(Rfq.code).where(Rfq.org_id == org_id))),
        series={
            code: name or code
            for code, name in session.execute(
                select(IndexSeries.code, IndexSeries.name).where(IndexSeries.org_id == org_id)
            )
        },
        categories={c for _, _, c in items if c},
        units=units,
        item_codes={code.upper() for code, _, _ in items},
        item_words=item_words,
    )
