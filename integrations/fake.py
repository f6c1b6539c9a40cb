"""An in-memory ERP for tests of the sync and the agent: the records you give it, and a log."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from integrations.base import (
    ContractPriceRecord,
    ContractPriceUpdate,
    ItemRecord,
    PriceRecord,
    PurchaseOrderLineRecord,
    Read,
    Rejected,
    RequisitionDraft,
    SupplierRecord,
    WriteResult,
)

R = TypeVar(
    "R", SupplierRecord, ItemRecord, PurchaseOrderLineRecord, ContractPriceRecord, PriceRecord
)


def _since(records: Sequence[R | Rejected], since: dt.datetime | None) -> Iterator[R | Rejected]:
    for record in records:
        if (
            isinstance(record, Rejected)
            or since is None
            or record.changed_at is None
            or record.changed_at > since
        ):
            yield record


@dataclass
class FakeConnector:
    """An ERP whose records are lists; writes are recorded in ``written``."""

    system: str = "fake"
    supplier_records: list[SupplierRecord | Rejected] = field(default_factory=list)
    item_records: list[ItemRecord | Rejected] = field(default_factory=list)
    po_line_records: list[PurchaseOrderLineRecord | Rejected] = field(default_factory=list)
    contract_price_records: list[ContractPriceRecord | Rejected] = field(default_factory=list)
    price_record_list: list[PriceRecord | Rejected] = field(default_factory=list)
    written: list[RequisitionDraft | ContractPriceUpdate] = field(default_factory=list)
    closed: bool = False
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(10_000_001))

    def suppliers(self, since: dt.datetime | None = None) -> Read[SupplierRecord]:
        """Suppliers changed after ``since``."""
        return _since(self.supplier_records, since)

    def items(self, since: dt.datetime | None = None) -> Read[ItemRecord]:
        """Items changed after ``since``."""
        return _since(self.item_records, since)

    def purchase_order_lines(
        self, since: dt.datetime | None = None
    ) -> Read[PurchaseOrderLineRecord]:
        """Purchase-order lines changed after ``since``."""
        return _since(self.po_line_records, since)

    def contract_prices(self, since: dt.datetime | None = None) -> Read[ContractPriceRecord]:
        """Contract prices changed after ``since``."""
        return _since(self.contract_price_records, since)

    def price_records(self, since: dt.datetime | None = None) -> Read[PriceRecord]:
        """Standing prices changed after ``since``."""
        return _since(self.price_record_list, since)

    def create_requisition(self, draft: RequisitionDraft) -> WriteResult:
        """Record the requisition; return a new number."""
        self.written.append(draft)
        return WriteResult(system=self.system, document_id=str(next(self._numbers)))

    def update_contract_price(self, update: ContractPriceUpdate) -> WriteResult:
        """Record the price change."""
        self.written.append(update)
        return WriteResult(system=self.system, document_id=update.contract_number)

    def close(self) -> None:
        """Mark the connector closed."""
        self.closed = True
