"""Doubtful matches of an ERP item to a store item, decided by a person.

The sync lists them (``item_match_candidates``) instead of merging. Confirming one points
the ERP code's alias at the chosen item and moves what the sync stored under the
provisional item (purchase-order lines, contract prices) with it; rejecting one leaves
the two items apart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import ConflictError, NotFoundError
from store import audit
from store.models import (
    ContractPrice,
    Item,
    ItemAlias,
    ItemMatchCandidate,
    PurchaseOrderLine,
)


@dataclass(frozen=True, slots=True)
class MatchCandidate:
    """A pending match: the ERP code, the item it was stored as, and the suggested item."""

    system: str
    external_code: str
    stored_as: str
    suggested: str
    suggested_name: str
    score: float
    reason: str


def pending(*, session: Session, org_id: uuid.UUID) -> list[MatchCandidate]:
    """The matches waiting for a person, best first."""
    stored = Item.__table__.alias("stored")
    rows = session.execute(
        select(
            ItemMatchCandidate.system,
            ItemMatchCandidate.external_code,
            stored.c.code,
            Item.code,
            Item.name,
            ItemMatchCandidate.score,
            ItemMatchCandidate.reason,
        )
        .join(
            Item,
            (Item.org_id == ItemMatchCandidate.org_id) & (Item.id == ItemMatchCandidate.item_id),
        )
        .join(
            ItemAlias,
            (ItemAlias.org_id == ItemMatchCandidate.org_id)
            & (ItemAlias.system == ItemMatchCandidate.system)
            & (ItemAlias.external_code == ItemMatchCandidate.external_code),
        )
        .join(stored, (stored.c.org_id == ItemAlias.org_id) & (stored.c.id == ItemAlias.item_id))
        .where(ItemMatchCandidate.org_id == org_id, ItemMatchCandidate.status == "pending")
        .order_by(ItemMatchCandidate.score.desc(), ItemMatchCandidate.external_code)
    ).all()
    return [MatchCandidate(*row) for row in rows]


def decide(
    *,
    session: Session,
    org_id: uuid.UUID,
    system: str,
    external_code: str,
    item_code: str,
    confirm: bool,
    actor: str,
) -> None:
    """Confirm (merge into ``item_code``) or reject one pending match (audited)."""
    target = session.scalar(select(Item).where(Item.org_id == org_id, Item.code == item_code))
    candidate = (
        session.get(ItemMatchCandidate, (org_id, system, external_code, target.id))
        if target is not None
        else None
    )
    if target is None or candidate is None:
        raise NotFoundError(f"no match of {system} {external_code} to {item_code} is listed")
    if candidate.status != "pending":
        raise ConflictError(f"that match was already {candidate.status}")
    candidate.status = "confirmed" if confirm else "rejected"
    candidate.decided_by = actor
    if confirm:
        _merge(session, org_id, system, external_code, target.id)
        # The other suggestions for the same code are answered by this choice.
        session.execute(
            update(ItemMatchCandidate)
            .where(
                ItemMatchCandidate.org_id == org_id,
                ItemMatchCandidate.system == system,
                ItemMatchCandidate.external_code == external_code,
                ItemMatchCandidate.status == "pending",
            )
            .values(status="rejected", decided_by=actor)
        )
    audit.record(
        session=session,
        org_id=org_id,
        actor=actor,
        action="item_match.confirm" if confirm else "item_match.reject",
        entity="item",
        entity_ids=[target.id],
        details={"system": system, "external_code": external_code},
    )


def _merge(
    session: Session, org_id: uuid.UUID, system: str, external_code: str, target: int
) -> None:
    alias = session.get(ItemAlias, (org_id, system, external_code))
    if alias is None:
        raise NotFoundError(f"{system} item {external_code} is not in the store")
    provisional = alias.item_id
    alias.item_id = target
    session.flush()
    others = session.scalar(
        select(func.count())
        .select_from(ItemAlias)
        .where(ItemAlias.org_id == org_id, ItemAlias.item_id == provisional)
    )
    if others:
        return  # another code still names the provisional item: it stays
    for table in (PurchaseOrderLine, ContractPrice):
        session.execute(
            update(table)
            .where(table.org_id == org_id, table.item_id == provisional)
            .values(item_id=target)
        )
    try:
        with session.begin_nested():
            session.execute(delete(Item).where(Item.org_id == org_id, Item.id == provisional))
    except IntegrityError:
        pass  # something else (a quote) refers to it: keep it rather than lose that
