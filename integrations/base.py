"""What every ERP connector offers: typed records read since a watermark, and two writes.

A connector speaks one ERP's wire format (SAP OData/SOAP, Oracle EBS SQL, Dynamics 365
OData v4) and hands the sync plain records: codes as the ERP spells them, quantities and
prices as ``Decimal``, units and currencies as the ERP's own codes (the sync converts
them). A record the connector cannot read (a missing key, a malformed number) is yielded
as a ``Rejected`` with its reason, and the rest continue.

Reads are incremental: ``since`` is the watermark the sync kept for that entity (the
largest ``changed_at`` it stored), ``None`` for a full read. Writes happen only after a
person approved them (the agent's approval interrupt) and return the ERP's document id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable


class Entity(StrEnum):
    """What a connector reads, each with its own watermark."""

    SUPPLIERS = "suppliers"
    ITEMS = "items"
    PURCHASE_ORDERS = "purchase_orders"
    CONTRACTS = "contracts"
    PRICE_RECORDS = "price_records"


@dataclass(frozen=True, slots=True)
class SupplierRecord:
    """A supplier (vendor, business partner) as the ERP keeps it."""

    code: str
    name: str
    changed_at: dt.datetime | None = None
    blocked: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """A material / released product / inventory item."""

    code: str
    description: str
    unit: str  # the ERP's base or purchase unit code, e.g. "KG", "EA", "TO"
    changed_at: dt.datetime | None = None
    group: str | None = None  # material group / product group / category
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PurchaseOrderLineRecord:
    """One line of a purchase order, with its header's facts repeated.

    ``unit_price`` is per one ``unit``: a price quoted per N units (SAP's
    ``NetPriceQuantity``, Dynamics' ``PurchasePriceQuantity``) is divided out.
    """

    po_number: str
    line_number: str
    supplier_code: str
    item_code: str | None  # None for a free-text line
    description: str | None
    quantity: Decimal
    unit: str
    unit_price: Decimal
    currency: str
    order_date: dt.date
    changed_at: dt.datetime | None = None
    company: str | None = None  # company code / operating unit / dataAreaId
    status: str | None = None
    need_by_date: dt.date | None = None
    received_quantity: Decimal | None = None
    payment_terms: str | None = None
    incoterm: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def external_key(self) -> str:
        """The line's key in its ERP."""
        return f"{self.po_number}/{self.line_number}"


@dataclass(frozen=True, slots=True)
class ContractPriceRecord:
    """A price agreed in a contract (outline agreement, blanket PO, trade agreement)."""

    contract_number: str
    line_number: str
    supplier_code: str
    item_code: str
    unit_price: Decimal  # per one ``unit``
    unit: str
    currency: str
    valid_from: dt.date | None
    valid_to: dt.date | None
    changed_at: dt.datetime | None = None
    min_quantity: Decimal = Decimal(0)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PriceRecord:
    """A standing supplier price outside a contract (SAP info record, vendor price list)."""

    record_key: str
    supplier_code: str
    item_code: str
    unit_price: Decimal  # per one ``unit``
    unit: str
    currency: str
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    changed_at: dt.datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record the connector could not read, and why; the sync records it and goes on."""

    entity: Entity
    key: str | None
    reason: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RequisitionDraft:
    """A purchase requisition a person approved, to be created in the ERP."""

    item_code: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    currency: str
    supplier_code: str | None = None
    need_by_date: dt.date | None = None
    plant: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ContractPriceUpdate:
    """A new price for a contract line, approved by a person."""

    contract_number: str
    line_number: str
    unit_price: Decimal
    currency: str
    unit: str
    valid_from: dt.date | None = None


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What the ERP answered to a write: its document id and any message."""

    system: str
    document_id: str
    message: str | None = None


T = TypeVar("T")
Read: TypeAlias = Iterator[T | Rejected]
"""A connector's read: records, with the unreadable ones as ``Rejected`` in their place."""


@runtime_checkable
class ERPConnector(Protocol):
    """One ERP, read incrementally and written only after approval."""

    system: str  # "sap", "ebs", "d365" (or "fake"): names the source of everything it reads

    def suppliers(self, since: dt.datetime | None = None) -> Read[SupplierRecord]:
        """Suppliers changed since the watermark."""
        ...

    def items(self, since: dt.datetime | None = None) -> Read[ItemRecord]:
        """Items changed since the watermark."""
        ...

    def purchase_order_lines(
        self, since: dt.datetime | None = None
    ) -> Read[PurchaseOrderLineRecord]:
        """Purchase-order lines whose order changed since the watermark."""
        ...

    def contract_prices(self, since: dt.datetime | None = None) -> Read[ContractPriceRecord]:
        """Contract prices changed since the watermark."""
        ...

    def price_records(self, since: dt.datetime | None = None) -> Read[PriceRecord]:
        """Standing supplier prices changed since the watermark."""
        ...

    def create_requisition(self, draft: RequisitionDraft) -> WriteResult:
        """Create an approved purchase requisition; return its number."""
        ...

    def update_contract_price(self, update: ContractPriceUpdate) -> WriteResult:
        """Change an approved contract price; return the contract's id."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
