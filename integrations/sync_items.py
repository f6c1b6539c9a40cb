"""Items from an ERP: linked to the store item they are, or stored as new and listed.

An ERP item becomes one store item with others when its code is mapped (an alias, or the
same code) or when the match is confident: every word of its description in exactly one
store item of the same unit dimension. A weaker match creates the item as its own and
lists the near ones for a person to confirm; nothing is merged silently.

Two codes of one ERP are two items of that ERP: a store item that already holds a code
of this system is never matched again, nor offered as a candidate.
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from integrations.base import ItemRecord
from integrations.sync_batch import Batch, ItemIndex, SkipRecord, count, unit_of
from store import search
from store.models import Item, ItemAlias, ItemMatchCandidate
from store.units import UnitInfo

log = logging.getLogger(__name__)

# ts_rank of a description sharing some of its words with an item (the loose OR query);
# below this the shared words are incidental ("type", "grade").
MIN_CANDIDATE_SCORE = 0.01
# Near matches looked at per ERP item.
CANDIDATES = 5


def write_item(work: Batch, record: ItemRecord) -> None:
    """Link or store one ERP item (every refusal is raised before any write)."""
    if not record.code.strip() or not record.description.strip():
        raise SkipRecord("an item needs a code and a description")
    unit = unit_of(work, record.unit)
    index = work.items
    assert index is not None  # loaded by the sync for the items entity
    known = index.aliases.get(record.code)
    if known is not None:
        linked, erp_unit = known
        changed = erp_unit != record.unit
        if changed:
            work.session.execute(
                update(ItemAlias)
                .where(
                    ItemAlias.org_id == work.org_id,
                    ItemAlias.system == work.system,
                    ItemAlias.external_code == record.code,
                )
                .values(erp_unit=record.unit)
            )
            index.aliases[record.code] = (linked, record.unit)
        count(work, inserted=False, changed=changed)
        return
    same_code = index.codes.get(record.code)
    near = _near(work, index, record, unit) if same_code is None else {}
    item_id: int | None = same_code if same_code is not None else _confident(near)
    inserted = item_id is None
    if item_id is None:
        item_id = _new_item(work, index, record, unit)
        _list_candidates(work, index, record, near)
    work.session.add(
        ItemAlias(
            org_id=work.org_id,
            system=work.system,
            external_code=record.code,
            item_id=item_id,
            erp_unit=record.unit,
        )
    )
    index.aliases[record.code] = (item_id, record.unit)
    index.own.add(item_id)
    count(work, inserted=inserted)


def _near(work: Batch, index: ItemIndex, record: ItemRecord, unit: UnitInfo) -> dict[int, float]:
    """Stored items sharing words with the description, in the same unit dimension, that
    hold no code of this system yet: their full-text scores (above 1: every word)."""
    # Pending aliases and candidates do not change what the search finds (new items are
    # flushed as they are made): they wait and go in together, not one round trip each.
    with work.session.no_autoflush:
        found = search.fulltext_candidates(
            session=work.session,
            org_id=work.org_id,
            query=record.description,
            limit=CANDIDATES,
        )
    near = {}
    for candidate in found:
        facts = index.facts.get(candidate.item_id)
        if facts is None or candidate.item_id in index.own:
            continue
        other = work.units.resolve(facts[2]) if facts[2] else None
        if other is not None and other.dimension == unit.dimension:
            near[candidate.item_id] = candidate.score
    return near


def _confident(near: dict[int, float]) -> int | None:
    """The one item holding every word of the description, if exactly one does."""
    full = [item_id for item_id, score in near.items() if score > 1]
    return full[0] if len(full) == 1 else None


def _new_item(work: Batch, index: ItemIndex, record: ItemRecord, unit: UnitInfo) -> int:
    # A store item may already use the code (from another system): prefix this one.
    code = record.code if record.code not in index.codes else f"{work.system}:{record.code}"
    item = Item(
        org_id=work.org_id,
        code=code,
        name=record.description.strip()[:200],
        description=record.description.strip(),
        category=None,
        unit=unit.code,
        attributes={"source_system": work.system, "group": record.group},
    )
    work.session.add(item)
    work.session.flush()
    index.codes[code] = item.id
    index.facts[item.id] = (code, item.name, item.unit)
    return item.id


def _list_candidates(
    work: Batch, index: ItemIndex, record: ItemRecord, near: dict[int, float]
) -> None:
    """Near matches of a newly stored ERP item, for a person to confirm or reject."""
    log.debug("match candidates for %s %r: %s", record.code, record.description, near)
    for item_id, score in near.items():
        if score < MIN_CANDIDATE_SCORE:
            continue
        code, name, _ = index.facts[item_id]
        work.session.add(
            ItemMatchCandidate(
                org_id=work.org_id,
                system=work.system,
                external_code=record.code,
                item_id=item_id,
                score=score,
                reason=f"{record.description!r} resembles {code} {name!r}",
            )
        )
        work.candidates.append(item_id)
