"""Oracle E-Business Suite (R12) read over SQL, written through its open interface.

The connector runs the statements of ``integrations.ebs.queries`` through a SQLAlchemy
engine: ``oracle+oracledb://`` in production, PostgreSQL with an EBS-shaped schema in the
tests (no Oracle server can run here, and oracledb's thin mode needs a real one, so the
production URL itself is untested; the SQL is kept to what both databases accept).
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import Engine, TextClause, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core.errors import (
    ConfigurationError,
    ConflictError,
    ExternalServiceError,
    InvalidInputError,
    NotFoundError,
)
from integrations.base import (
    ContractPriceRecord,
    ContractPriceUpdate,
    Entity,
    ItemRecord,
    PriceRecord,
    PurchaseOrderLineRecord,
    Read,
    Rejected,
    RequisitionDraft,
    SupplierRecord,
    WriteResult,
)
from integrations.ebs.queries import EbsStatements, build_statements
from integrations.ebs.settings import EbsSettings

SYSTEM = "ebs"
INTERFACE_SOURCE = "PRICING_AGENT"  # interface_source_code of the requisitions we queue

# A full read binds this as :since; :full_read = 1 makes the comparison irrelevant, but a
# typed value keeps both drivers from guessing the parameter's type from a NULL.
_EPOCH = dt.datetime(1900, 1, 1)  # noqa: DTZ001 - EBS DATE columns carry no zone

R = TypeVar("R")


def create_ebs_engine(settings: EbsSettings) -> Engine:
    """Create the engine for ``settings.url`` with the connect and call timeouts applied."""
    if settings.url is None:
        raise ConfigurationError("EBS_URL is not set: there is no EBS database to read")
    url = make_url(settings.url.get_secret_value())
    timeout = settings.timeout_seconds
    connect_args: dict[str, Any] = {}
    dialect_args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "oracle":
        connect_args["tcp_connect_timeout"] = timeout
        # Plain-text SQL returns NUMBER as Decimal, never float; one round trip per page.
        dialect_args["coerce_to_decimal"] = True
        dialect_args["arraysize"] = settings.fetch_size
    elif backend == "postgresql":
        connect_args["connect_timeout"] = max(1, math.ceil(timeout))
        connect_args["options"] = f"-c statement_timeout={int(timeout * 1000)}"
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **dialect_args)
    if backend == "oracle":
        # python-oracledb's per-connection round-trip limit, in milliseconds.
        @event.listens_for(engine, "connect")
        def _call_timeout(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.call_timeout = int(timeout * 1000)

    return engine


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    # Rejected.raw is stored by the sync; keep it to JSON-friendly values.
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, dt.date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def _number_text(value: Any) -> str:
    # line_num is a NUMBER: 1 -> "1", 1.5 -> "1.5".
    number = Decimal(value)
    return str(int(number)) if number == number.to_integral_value() else str(number)


def _as_decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, dt.datetime) else value


class EbsConnector:
    """Oracle EBS R12 behind the ``ERPConnector`` Protocol."""

    system = SYSTEM

    def __init__(self, settings: EbsSettings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self._owns_engine = engine is None
        self._engine = engine if engine is not None else create_ebs_engine(settings)
        self._zone = zoneinfo.ZoneInfo(settings.time_zone)
        self.statements: EbsStatements = build_statements(
            owner=settings.schema_owner,
            filter_operating_units=bool(settings.operating_units),
            item_master=settings.item_master_org_id is not None,
        )

    # ------------------------------------------------------------------ helpers

    def _db_time(self, moment: dt.datetime) -> dt.datetime:
        """Turn a watermark into the naive database-clock time EBS DATE columns hold."""
        if moment.tzinfo is None:
            return moment
        return moment.astimezone(self._zone).replace(tzinfo=None)

    def _aware(self, moment: dt.datetime | None) -> dt.datetime | None:
        if moment is None:
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=self._zone)

    def _latest(self, *moments: dt.datetime | None) -> dt.datetime | None:
        # Compared in Python: GREATEST() differs between Oracle and PostgreSQL on NULLs.
        present = [m for m in moments if m is not None]
        return self._aware(max(present)) if present else None

    def _filters(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.settings.operating_units:
            params["org_ids"] = list(self.settings.operating_units)
        if self.settings.item_master_org_id is not None:
            params["master_org_id"] = self.settings.item_master_org_id
        return params

    def _pages(
        self,
        statement: TextClause,
        key: str,
        since: dt.datetime | None,
        extra: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stream a keyset-paged read, one short connection per page."""
        params: dict[str, Any] = {
            "full_read": 1 if since is None else 0,
            "since": _EPOCH
            if since is None
            else self._db_time(since) - dt.timedelta(seconds=self.settings.lookback_seconds),
            "page_size": self.settings.fetch_size,
            "after": 0,
            **self._filters(),
            **(extra or {}),
        }
        while True:
            try:
                with self._engine.connect() as conn:
                    rows = [dict(r) for r in conn.execute(statement, params).mappings()]
            except SQLAlchemyError as exc:
                raise ExternalServiceError(
                    f"EBS read failed ({type(exc).__name__}): {str(exc).splitlines()[0]}"
                ) from exc
            yield from rows
            if len(rows) < self.settings.fetch_size:
                return
            params["after"] = rows[-1][key]

    def _read(
        self,
        entity: Entity,
        statement: TextClause,
        key: str,
        since: dt.datetime | None,
        convert: Callable[[dict[str, Any]], R | str],
        record_key: Callable[[dict[str, Any]], str | None],
        extra: Mapping[str, Any] | None = None,
    ) -> Iterator[R | Rejected]:
        for row in self._pages(statement, key, since, extra):
            try:
                result = convert(row)
            except (InvalidOperation, TypeError, ValueError) as exc:
                result = f"unreadable value: {exc}"
            if isinstance(result, str):
                try:
                    key_text = record_key(row)
                except (InvalidOperation, TypeError, ValueError):
                    key_text = None
                yield Rejected(entity, key_text, result, _jsonable(row))
            else:
                yield result

    # ------------------------------------------------------------------ reads

    def suppliers(self, since: dt.datetime | None = None) -> Read[SupplierRecord]:
        """Suppliers (ap_suppliers) changed since the watermark."""
        return self._read(
            Entity.SUPPLIERS,
            self.statements.suppliers,
            "vendor_id",
            since,
            self._supplier,
            lambda row: row.get("segment1") or str(row["vendor_id"]),
        )

    def _supplier(self, row: dict[str, Any]) -> SupplierRecord | str:
        if not row["segment1"]:
            return "supplier has no number (segment1)"
        if not row["vendor_name"]:
            return "supplier has no name"
        return SupplierRecord(
            code=str(row["segment1"]),
            name=str(row["vendor_name"]),
            changed_at=self._aware(row["last_update_date"]),
            blocked=row["enabled_flag"] != "Y",
            attributes={"vendor_id": int(row["vendor_id"])},
        )

    def items(self, since: dt.datetime | None = None) -> Read[ItemRecord]:
        """Items of the item master (mtl_system_items_b) changed since the watermark."""
        return self._read(
            Entity.ITEMS,
            self.statements.items,
            "inventory_item_id",
            since,
            self._item,
            lambda row: row.get("segment1") or str(row["inventory_item_id"]),
        )

    def _item(self, row: dict[str, Any]) -> ItemRecord | str:
        if not row["segment1"]:
            return "item has no number (segment1)"
        if not row["primary_uom_code"]:
            return "item has no primary unit of measure"
        return ItemRecord(
            code=str(row["segment1"]),
            description=str(row["description"] or ""),
            unit=str(row["primary_uom_code"]),
            changed_at=self._aware(row["last_update_date"]),
            attributes={
                "inventory_item_id": int(row["inventory_item_id"]),
                "organization_id": int(row["organization_id"]),
            },
        )

    def purchase_order_lines(
        self, since: dt.datetime | None = None
    ) -> Read[PurchaseOrderLineRecord]:
        """Lines of approved standard POs whose header, line or shipment changed."""
        return self._read(
            Entity.PURCHASE_ORDERS,
            self.statements.po_lines,
            "po_line_id",
            since,
            self._po_line,
            lambda row: (
                f"{row['po_number']}/{_number_text(row['line_num'])}"
                if row.get("po_number") and row.get("line_num") is not None
                else str(row["po_line_id"])
            ),
        )

    def _po_line(self, row: dict[str, Any]) -> PurchaseOrderLineRecord | str:
        problem = self._line_problem(row) or self._po_amount_problem(row)
        if problem:
            return problem
        quantity = Decimal(row["quantity"])
        unit_price = Decimal(row["unit_price"])
        attributes: dict[str, Any] = {
            "po_header_id": int(row["po_header_id"]),
            "po_line_id": int(row["po_line_id"]),
            "line_unit_price": _as_decimal(row["line_unit_price"]),
        }
        if row["price_override"] is not None and row["price_override"] != row["price_override_min"]:
            # Shipments of one line priced differently: the highest is taken, both are kept.
            attributes["price_override_min"] = _as_decimal(row["price_override_min"])
        return PurchaseOrderLineRecord(
            po_number=str(row["po_number"]),
            line_number=_number_text(row["line_num"]),
            supplier_code=str(row["supplier_code"]),
            item_code=None if row["item_id"] is None else str(row["item_code"]),
            description=row["item_description"],
            quantity=quantity,
            unit=str(row["unit_meas_lookup_code"]),
            unit_price=unit_price,
            currency=str(row["currency_code"]),
            order_date=row["creation_date"].date(),
            changed_at=self._latest(
                row["header_updated"], row["line_updated"], row["shipment_updated"]
            ),
            company=str(row["org_id"]),
            status=row["authorization_status"],
            need_by_date=_as_date(row["need_by_date"]),
            received_quantity=_as_decimal(row["quantity_received"]),
            attributes=attributes,
        )

    @staticmethod
    def _po_amount_problem(row: dict[str, Any]) -> str | None:
        quantity = _as_decimal(row["quantity"])
        unit_price = _as_decimal(row["unit_price"])
        if quantity is None:
            return "quantity is missing"
        if quantity < 0:
            return f"quantity is negative ({quantity})"
        if unit_price is None:
            return "no price: unit_price and every shipment's price_override are NULL"
        if unit_price < 0:
            return f"unit price is negative ({unit_price})"
        if row["creation_date"] is None:
            return "order has no creation date"
        return None

    @staticmethod
    def _line_problem(row: dict[str, Any]) -> str | None:
        """What makes a PO or agreement line unusable, shared by every line read."""
        if row["supplier_code"] is None:
            return f"unknown supplier (vendor_id {row['vendor_id']})"
        if row["item_id"] is not None and row["item_code"] is None:
            return f"unknown item (item_id {row['item_id']})"
        if not row["unit_meas_lookup_code"]:
            return "line has no unit of measure"
        if not row["currency_code"]:
            return "document has no currency"
        if row["line_num"] is None:
            return "line has no number"
        return None

    def contract_prices(self, since: dt.datetime | None = None) -> Read[ContractPriceRecord]:
        """Prices of approved blanket agreement lines changed since the watermark."""
        return self._read(
            Entity.CONTRACTS,
            self.statements.contract_lines,
            "po_line_id",
            since,
            self._contract_price,
            self._agreement_key,
            {"document_type": "BLANKET"},
        )

    @staticmethod
    def _agreement_key(row: dict[str, Any]) -> str:
        if row.get("document_number") and row.get("line_num") is not None:
            return f"{row['document_number']}/{_number_text(row['line_num'])}"
        return str(row["po_line_id"])

    def _agreement_problem(self, row: dict[str, Any]) -> str | None:
        problem = self._line_problem(row)
        if problem:
            return problem
        if row["item_id"] is None:
            return "line names no item (free-text lines carry no item price)"
        price = _as_decimal(row["unit_price"])
        if price is None:
            return "line has no unit price"
        if price < 0:
            return f"unit price is negative ({price})"
        return None

    def _contract_price(self, row: dict[str, Any]) -> ContractPriceRecord | str:
        problem = self._agreement_problem(row)
        if problem:
            return problem
        return ContractPriceRecord(
            contract_number=str(row["document_number"]),
            line_number=_number_text(row["line_num"]),
            supplier_code=str(row["supplier_code"]),
            item_code=str(row["item_code"]),
            unit_price=Decimal(row["unit_price"]),
            unit=str(row["unit_meas_lookup_code"]),
            currency=str(row["currency_code"]),
            valid_from=_as_date(row["start_date"]),
            valid_to=_as_date(row["end_date"]),
            changed_at=self._latest(row["header_updated"], row["line_updated"]),
            attributes={
                "po_header_id": int(row["po_header_id"]),
                "po_line_id": int(row["po_line_id"]),
                "org_id": int(row["org_id"]),
            },
        )

    def price_records(self, since: dt.datetime | None = None) -> Read[PriceRecord]:
        """Quotation lines (type QUOTATION) changed since the watermark."""
        # Quotation price breaks and their approval list (po_quotation_approvals) are not
        # read: the line price and the header's validity are the standing price.
        return self._read(
            Entity.PRICE_RECORDS,
            self.statements.quotation_lines,
            "po_line_id",
            since,
            self._quotation_price,
            self._agreement_key,
            {"document_type": "QUOTATION"},
        )

    def _quotation_price(self, row: dict[str, Any]) -> PriceRecord | str:
        problem = self._agreement_problem(row)
        if problem:
            return problem
        return PriceRecord(
            record_key=f"{row['document_number']}/{_number_text(row['line_num'])}",
            supplier_code=str(row["supplier_code"]),
            item_code=str(row["item_code"]),
            unit_price=Decimal(row["unit_price"]),
            unit=str(row["unit_meas_lookup_code"]),
            currency=str(row["currency_code"]),
            valid_from=_as_date(row["start_date"]),
            valid_to=_as_date(row["end_date"]),
            changed_at=self._latest(row["header_updated"], row["line_updated"]),
            attributes={"po_header_id": int(row["po_header_id"]), "org_id": int(row["org_id"])},
        )

    # ------------------------------------------------------------------ writes

    def _requisition_org(self) -> int:
        if self.settings.requisition_org_id is not None:
            return self.settings.requisition_org_id
        if len(self.settings.operating_units) == 1:
            return self.settings.operating_units[0]
        raise ConfigurationError(
            "set EBS_REQUISITION_ORG_ID (or exactly one EBS_OPERATING_UNITS) to create requisitions"
        )

    def create_requisition(self, draft: RequisitionDraft) -> WriteResult:
        """Queue an approved requisition in po_requisitions_interface_all; return its batch."""
        if draft.quantity <= 0:
            raise InvalidInputError("a requisition needs a positive quantity")
        if draft.unit_price < 0:
            raise InvalidInputError("a requisition price cannot be negative")
        org_id = self._requisition_org()
        # Requisition Import is run per batch; a random 15-digit id avoids a sequence,
        # whose syntax differs between Oracle and PostgreSQL.
        batch_id = secrets.randbelow(9 * 10**14) + 10**14
        now = self._db_time(dt.datetime.now(tz=self._zone))
        try:
            with self._engine.begin() as conn:
                vendor_id: int | None = None
                vendor_name: str | None = None
                if draft.supplier_code is not None:
                    vendor = (
                        conn.execute(
                            self.statements.supplier_by_code,
                            {"supplier_code": draft.supplier_code},
                        )
                        .mappings()
                        .first()
                    )
                    if vendor is None:
                        raise NotFoundError(f"EBS has no supplier {draft.supplier_code!r}")
                    if vendor["enabled_flag"] != "Y":
                        raise ConflictError(f"EBS supplier {draft.supplier_code!r} is disabled")
                    vendor_id = int(vendor["vendor_id"])
                    vendor_name = str(vendor["vendor_name"])
                conn.execute(
                    self.statements.insert_requisition,
                    {
                        "batch_id": batch_id,
                        "interface_source_code": INTERFACE_SOURCE,
                        "org_id": org_id,
                        "preparer_id": self.settings.preparer_id,
                        "item_segment1": draft.item_code,
                        "quantity": draft.quantity,
                        "unit_price": draft.unit_price,
                        "unit_of_measure": draft.unit,
                        "currency_code": draft.currency,
                        "suggested_vendor_id": vendor_id,
                        "suggested_vendor_name": vendor_name,
                        "need_by_date": draft.need_by_date,
                        "destination_organization_code": draft.plant,
                        "note_to_buyer": draft.note,
                        "now": now,
                    },
                )
        except SQLAlchemyError as exc:
            raise ExternalServiceError(
                f"EBS requisition insert failed ({type(exc).__name__})"
            ) from exc
        return WriteResult(
            system=SYSTEM,
            document_id=str(batch_id),
            message=f"queued in po_requisitions_interface_all as batch {batch_id}; "
            "Requisition Import numbers the requisition",
        )

    def update_contract_price(self, update: ContractPriceUpdate) -> WriteResult:
        """Set a blanket agreement line's unit price; return the agreement number."""
        # Production should not update po_lines_all directly: EBS expects a price change on
        # an approved blanket to go through the Purchasing Documents Open Interface
        # (po_headers_interface / po_lines_interface, action UPDATE) or the PO change API,
        # which raise the revision, archive it and route it for re-approval. This direct,
        # bound update is what can be tested here; swap it for the interface before go-live.
        if update.unit_price < 0:
            raise InvalidInputError("a contract price cannot be negative")
        try:
            line_num = Decimal(update.line_number)
        except InvalidOperation:
            raise InvalidInputError(
                f"EBS line numbers are numbers, not {update.line_number!r}"
            ) from None
        params: dict[str, Any] = {
            "contract_number": update.contract_number,
            "line_num": line_num,
            **self._filters(),
        }
        try:
            with self._engine.begin() as conn:
                lines = conn.execute(self.statements.blanket_line, params).mappings().all()
                if not lines:
                    raise NotFoundError(
                        f"EBS has no blanket agreement line {update.contract_number}/"
                        f"{update.line_number}"
                    )
                if len(lines) > 1:
                    raise ConflictError(
                        f"blanket agreement {update.contract_number} exists in several "
                        "operating units; configure EBS_OPERATING_UNITS to pick one"
                    )
                line = lines[0]
                if line["currency_code"] != update.currency:
                    raise InvalidInputError(
                        f"the agreement is in {line['currency_code']}, not {update.currency}"
                    )
                if line["unit_meas_lookup_code"] != update.unit:
                    raise InvalidInputError(
                        f"the line is priced per {line['unit_meas_lookup_code']}, "
                        f"not per {update.unit}"
                    )
                changed = conn.execute(
                    self.statements.update_blanket_price,
                    {
                        "unit_price": update.unit_price,
                        "old_unit_price": line["unit_price"],
                        "po_line_id": line["po_line_id"],
                        "now": self._db_time(dt.datetime.now(tz=self._zone)),
                    },
                ).rowcount
                if changed != 1:
                    raise ConflictError("the line's price changed while it was being updated")
        except SQLAlchemyError as exc:
            raise ExternalServiceError(
                f"EBS contract price update failed ({type(exc).__name__})"
            ) from exc
        message = None
        if update.valid_from is not None:
            message = "valid_from is not applied: a blanket line carries one price"
        return WriteResult(system=SYSTEM, document_id=update.contract_number, message=message)

    def close(self) -> None:
        """Dispose the engine if the connector created it."""
        if self._owns_engine:
            self._engine.dispose()
