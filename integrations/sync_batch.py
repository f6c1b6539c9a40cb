"""What the sync's writers share: one batch's session and look-ups, counts, refusals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.units import resolve_erp_unit
from store.models import Item, ItemAlias, SupplierAlias
from store.units import UnitCatalog, UnitInfo


class SkipRecord(Exception):  # noqa: N818 - a record refused, not a failure of the run
    """A record the store cannot take, with the reason."""


@dataclass
class Counts:
    """What happened to one entity's records."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return {
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


@dataclass
class ItemIndex:
    """The organisation's items as the item writer needs them, loaded once per entity.

    Matching an ERP item looks at every stored item; holding their codes, names and units
    here (and adding each new one) saves several round trips per ERP item.
    """

    aliases: dict[str, tuple[int, str | None]]  # this system's code -> item id, ERP unit
    codes: dict[str, int]  # every item's code -> id
    facts: dict[int, tuple[str, str, str | None]]  # id -> code, name, unit
    own: set[int] = field(default_factory=set)  # items already holding a code here

    @classmethod
    def load(cls, session: Session, org_id: uuid.UUID, system: str) -> ItemIndex:
        """Read the organisation's items and this system's item aliases."""
        aliases = {
            code: (int(item_id), erp_unit)
            for code, item_id, erp_unit in session.execute(
                select(ItemAlias.external_code, ItemAlias.item_id, ItemAlias.erp_unit).where(
                    ItemAlias.org_id == org_id, ItemAlias.system == system
                )
            )
        }
        facts: dict[int, tuple[str, str, str | None]] = {}
        codes: dict[str, int] = {}
        for item_id, code, name, unit in session.execute(
            select(Item.id, Item.code, Item.name, Item.unit).where(Item.org_id == org_id)
        ):
            facts[int(item_id)] = (code, name, unit)
            codes[code] = int(item_id)
        return cls(aliases, codes, facts, {item_id for item_id, _ in aliases.values()})


@dataclass
class Batch:
    """One transaction's worth of work: the session and what the writers look up."""

    session: Session
    org_id: uuid.UUID
    system: str
    units: UnitCatalog
    currencies: set[str]
    counts: Counts
    run_id: int
    seq: Iterator[int]
    candidates: list[int]
    # Alias maps loaded once per entity (the lines' suppliers and items are all stored by
    # then): look-ups without round trips.
    supplier_ids: dict[str, int] = field(default_factory=dict)
    item_ids: dict[str, int] = field(default_factory=dict)
    items: ItemIndex | None = None  # only while syncing items


# --------------------------------------------------------------------------- look-ups


def unit_of(work: Batch, spelling: str) -> UnitInfo:
    """The catalogue unit an ERP unit code means, or the record is refused."""
    unit = resolve_erp_unit(work.units, work.system, spelling)
    if unit is None:
        raise SkipRecord(f"unknown unit of measure {spelling!r}")
    return unit


def currency_of(work: Batch, code: str) -> str:
    """A known currency code, or the record is refused."""
    code = code.strip().upper()
    if code not in work.currencies:
        raise SkipRecord(f"unknown currency {code!r}")
    return code


def supplier_id_of(work: Batch, code: str) -> int:
    """The store supplier of an ERP vendor code, or the record is refused."""
    found = work.supplier_ids.get(code) or aliased_supplier(work, code)
    if found is None:
        raise SkipRecord(f"unknown supplier {code!r} in {work.system} (sync suppliers first)")
    return found


def item_id_of(work: Batch, code: str | None) -> int:
    """The store item of an ERP item code, or the record is refused."""
    if not code:
        raise SkipRecord("a line without an item code (free text) has no item to price")
    if code in work.item_ids:
        return work.item_ids[code]
    found = work.session.scalar(
        select(ItemAlias.item_id).where(
            ItemAlias.org_id == work.org_id,
            ItemAlias.system == work.system,
            ItemAlias.external_code == code,
        )
    )
    if found is None:
        raise SkipRecord(f"unknown item {code!r} in {work.system} (sync items first)")
    return int(found)


def count(work: Batch, inserted: bool, changed: bool = True) -> None:
    """Count one stored record: new, changed, or the same as before."""
    if inserted:
        work.counts.inserted += 1
    elif changed:
        work.counts.updated += 1
    else:
        work.counts.unchanged += 1


def aliased_supplier(work: Batch, code: str) -> int | None:
    """The store supplier an ERP vendor code is an alias of, if any."""
    found = work.session.scalar(
        select(SupplierAlias.supplier_id).where(
            SupplierAlias.org_id == work.org_id,
            SupplierAlias.system == work.system,
            SupplierAlias.external_code == code,
        )
    )
    return int(found) if found is not None else None
