"""SAP S/4HANA behind ``ERPConnector``: OData v2 reads and writes, the SOAP order read aside."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

from integrations.base import (
    ContractPriceRecord,
    ContractPriceUpdate,
    Entity,
    ERPConnector,
    ItemRecord,
    PriceRecord,
    PurchaseOrderLineRecord,
    Read,
    Rejected,
    RequisitionDraft,
    SupplierRecord,
    WriteResult,
)
from integrations.sap.odata import (
    ODataClient,
    SapError,
    datetimeoffset_literal,
    entity_set_fields,
    parse_date,
    parse_datetime,
    parse_decimal,
    string_literal,
)
from integrations.sap.settings import SapSettings
from integrations.sap.soap import SapSoapPurchaseOrders

BUSINESS_PARTNER = "API_BUSINESS_PARTNER"
PRODUCT = "API_PRODUCT_SRV"
PURCHASE_ORDER = "API_PURCHASEORDER_PROCESS_SRV"
PURCHASE_CONTRACT = "API_PURCHASECONTRACT_PROCESS_SRV_0002"
INFO_RECORD = "API_INFORECORD_PROCESS_SRV"
PURCHASE_REQUISITION = "API_PURCHASEREQ_PROCESS_SRV"

_SUPPLIER_FIELDS = [
    "Supplier",
    "SupplierName",
    "SupplierFullName",
    "SupplierAccountGroup",
    "PurchasingIsBlocked",
    "PostingIsBlocked",
    "DeletionIndicator",
    "CreationDate",
]

R = TypeVar("R")


class BadRecordError(ValueError):
    """A record that cannot be read; its message is the reason kept in ``Rejected``."""


def _text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _required(raw: dict[str, Any], name: str) -> str:
    value = _text(raw, name)
    if value is None:
        raise BadRecordError(f"{name} is missing")
    return value


def _decimal(raw: dict[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    try:
        value = parse_decimal(raw.get(name))
    except ValueError as exc:
        raise BadRecordError(f"{name}: {exc}") from None
    if value is None and required:
        raise BadRecordError(f"{name} is missing")
    return value


def _need_decimal(raw: dict[str, Any], name: str) -> Decimal:
    value = _decimal(raw, name)
    assert value is not None
    return value


def _datetime(raw: dict[str, Any], name: str) -> dt.datetime | None:
    try:
        return parse_datetime(raw.get(name))
    except ValueError as exc:
        raise BadRecordError(f"{name}: {exc}") from None


def _date(raw: dict[str, Any], name: str, *, required: bool = False) -> dt.date | None:
    try:
        value = parse_date(raw.get(name))
    except ValueError as exc:
        raise BadRecordError(f"{name}: {exc}") from None
    if value is None and required:
        raise BadRecordError(f"{name} is missing")
    return value


def _per_unit(amount: Decimal, per: Decimal | None, name: str) -> Decimal:
    # SAP quotes prices per N units (NetPriceQuantity); a missing N means per one.
    if per is None:
        return amount
    if per <= 0:
        raise BadRecordError(f"{name} is {per}; a price cannot be per zero units")
    return amount / per


def _expanded(raw: dict[str, Any], nav: str) -> list[dict[str, Any]]:
    value = raw.get(nav)
    if isinstance(value, dict) and isinstance(value.get("results"), list):
        return [v for v in value["results"] if isinstance(v, dict)]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    raise BadRecordError(f"{nav} was not expanded")


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    """The record without OData bookkeeping and navigation, for ``Rejected.raw``."""
    return {
        k: v
        for k, v in raw.items()
        if not k.startswith("__")
        and not (isinstance(v, dict) and ("results" in v or "__deferred" in v))
    }


def _since_filter(field: str, since: dt.datetime | None) -> str | None:
    return None if since is None else f"{field} ge {datetimeoffset_literal(since)}"


class SapConnector:
    """Reads suppliers, products, orders, contracts and info records from SAP S/4HANA."""

    system = "sap"

    def __init__(
        self,
        settings: SapSettings,
        *,
        odata: ODataClient | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.odata = odata or (
            ODataClient(settings) if sleep is None else ODataClient(settings, sleep=sleep)
        )
        self._soap: SapSoapPurchaseOrders | None = None
        self._requisition_metadata: tuple[set[str], set[str]] | None = None

    # -- reads --

    def _read(
        self,
        entity: Entity,
        rows: Iterator[dict[str, Any]],
        key: Callable[[dict[str, Any]], str | None],
        convert: Callable[[dict[str, Any]], list[R]],
    ) -> Iterator[R | Rejected]:
        for raw in rows:
            try:
                yield from convert(raw)
            except BadRecordError as exc:
                yield Rejected(entity=entity, key=key(raw), reason=str(exc), raw=_plain(raw))

    def suppliers(self, since: dt.datetime | None = None) -> Read[SupplierRecord]:
        """Suppliers (A_Supplier); SAP keeps no change time on them, so every read is full."""
        rows = self.odata.get_collection(
            BUSINESS_PARTNER, "A_Supplier", select=_SUPPLIER_FIELDS, orderby="Supplier"
        )
        return self._read(Entity.SUPPLIERS, rows, lambda r: _text(r, "Supplier"), _supplier)

    def items(self, since: dt.datetime | None = None) -> Read[ItemRecord]:
        """Products (A_Product) changed since the watermark, with their English description."""
        rows = self.odata.get_collection(
            PRODUCT,
            "A_Product",
            filter=_since_filter("LastChangeDateTime", since),
            expand=["to_Description"],
            orderby="Product",
        )
        return self._read(Entity.ITEMS, rows, lambda r: _text(r, "Product"), _item)

    def purchase_order_lines(
        self, since: dt.datetime | None = None
    ) -> Read[PurchaseOrderLineRecord]:
        """Lines of purchase orders (A_PurchaseOrder) changed since the watermark."""
        rows = self.odata.get_collection(
            PURCHASE_ORDER,
            "A_PurchaseOrder",
            filter=_since_filter("LastChangeDateTime", since),
            expand=["to_PurchaseOrderItem"],
            orderby="PurchaseOrder",
        )
        return self._read_lines(
            Entity.PURCHASE_ORDERS, rows, "PurchaseOrder", "to_PurchaseOrderItem", _po_lines
        )

    def contract_prices(self, since: dt.datetime | None = None) -> Read[ContractPriceRecord]:
        """Item prices of purchase contracts changed since the watermark."""
        rows = self.odata.get_collection(
            PURCHASE_CONTRACT,
            "A_PurchaseContract",
            filter=_since_filter("LastChangeDateTime", since),
            expand=["to_PurchaseContractItem"],
            orderby="PurchaseContract",
        )
        return self._read_lines(
            Entity.CONTRACTS, rows, "PurchaseContract", "to_PurchaseContractItem", _contract_lines
        )

    def price_records(self, since: dt.datetime | None = None) -> Read[PriceRecord]:
        """Info-record prices per purchasing organisation and plant, changed since the watermark."""
        rows = self.odata.get_collection(
            INFO_RECORD,
            "A_PurchasingInfoRecord",
            filter=_since_filter("LastChangeDateTime", since),
            expand=["to_PurgInfoRecdOrgPlantData"],
            orderby="PurchasingInfoRecord",
        )
        return self._read_lines(
            Entity.PRICE_RECORDS,
            rows,
            "PurchasingInfoRecord",
            "to_PurgInfoRecdOrgPlantData",
            _info_record_prices,
        )

    def _read_lines(
        self,
        entity: Entity,
        rows: Iterator[dict[str, Any]],
        header_key: str,
        nav: str,
        convert: Callable[[dict[str, Any], dict[str, Any]], R],
    ) -> Iterator[R | Rejected]:
        # A bad header rejects the document; a bad line rejects only that line.
        for raw in rows:
            number = _text(raw, header_key)
            try:
                if number is None:
                    raise BadRecordError(f"{header_key} is missing")
                lines = _expanded(raw, nav)
                _check_header(entity, raw)
            except BadRecordError as exc:
                yield Rejected(entity=entity, key=number, reason=str(exc), raw=_plain(raw))
                continue
            for line in lines:
                try:
                    yield convert(raw, line)
                except BadRecordError as exc:
                    key = _line_key(entity, number, line)
                    yield Rejected(entity=entity, key=key, reason=str(exc), raw=_plain(line))

    def soap_purchase_order_lines(self, po_numbers: Iterable[str]) -> Read[PurchaseOrderLineRecord]:
        """Lines of the named purchase orders, read through SOAP (ManagePurchaseOrderInRead)."""
        if self._soap is None:
            self._soap = SapSoapPurchaseOrders(self.settings)
        return self._soap.read(po_numbers)

    # -- writes --

    def create_requisition(self, draft: RequisitionDraft) -> WriteResult:
        """Create a purchase requisition through API_PURCHASEREQ_PROCESS_SRV (deep insert).

        The service's ``$metadata`` is read first: fields it does not offer are left out,
        and a system without the service gets a clear error instead of a failed POST.
        """
        header_fields, item_fields = self._requisition_fields()
        amount, per = sap_price(
            draft.unit_price,
            priced_per=MAX_PRICE_UNIT if "PurReqnPriceQuantity" in item_fields else 1,
        )
        missing = {"Material", "RequestedQuantity"} - item_fields
        if missing or "to_PurchaseReqnItem" not in header_fields:
            raise SapError(
                f"SAP's {PURCHASE_REQUISITION} metadata lacks "
                f"{', '.join(sorted(missing)) or 'to_PurchaseReqnItem'}; "
                "the requisition cannot be created through OData"
            )
        item: dict[str, Any] = {
            "PurchaseRequisitionItem": "10",
            "Material": draft.item_code,
            "RequestedQuantity": format(draft.quantity, "f"),
            "BaseUnit": draft.unit,
            "PurchaseRequisitionPrice": format(amount, "f"),
            "PurReqnPriceQuantity": str(per) if "PurReqnPriceQuantity" in item_fields else None,
            "PurReqnItemCurrency": draft.currency,
            "Plant": draft.plant,
            "FixedSupplier": draft.supplier_code,
            "DeliveryDate": None if draft.need_by_date is None else _wire_date(draft.need_by_date),
            "PurchaseRequisitionItemText": None if draft.note is None else draft.note[:40],
        }
        item = {k: v for k, v in item.items() if v is not None and k in item_fields}
        body: dict[str, Any] = {"to_PurchaseReqnItem": {"results": [item]}}
        if "PurchaseRequisitionType" in header_fields:
            body["PurchaseRequisitionType"] = "NB"
        answer = self.odata.write("POST", PURCHASE_REQUISITION, "A_PurchaseRequisitionHeader", body)
        number = _text(answer or {}, "PurchaseRequisition")
        if number is None:
            raise SapError("SAP answered the requisition POST without a PurchaseRequisition number")
        return WriteResult(
            system=self.system,
            document_id=number,
            message=_rounding_note(draft.unit_price, amount, per),
        )

    def _requisition_fields(self) -> tuple[set[str], set[str]]:
        if self._requisition_metadata is None:
            try:
                edmx = self.odata.metadata(PURCHASE_REQUISITION)
            except SapError as exc:
                if exc.status != 404:
                    raise
                raise SapError(
                    f"SAP offers no purchase-requisition service ({PURCHASE_REQUISITION} "
                    "answered 404) and no SOAP requisition service is known; activate the "
                    "OData service or create the requisition in SAP by hand",
                    status=404,
                ) from None
            fields = entity_set_fields(edmx)
            self._requisition_metadata = (
                fields.get("A_PurchaseRequisitionHeader", set()),
                fields.get("A_PurchaseRequisitionItem", set()),
            )
        return self._requisition_metadata

    def update_contract_price(self, update: ContractPriceUpdate) -> WriteResult:
        """Set a contract item's net price with an OData MERGE, per 1, 10, … units as needed.

        SAP keeps net prices to three decimals: a finer price goes as a price per 10, 100 …
        units (``NetPriceQuantity``) so that the amount stays exact.
        """
        path = (
            "A_PurchaseContractItem("
            f"PurchaseContract={string_literal(update.contract_number)},"
            f"PurchaseContractItem={string_literal(update.line_number)})"
        )
        amount, per = sap_price(update.unit_price)
        body = {
            "ContractNetPriceAmount": format(amount, "f"),
            "NetPriceQuantity": str(per),
            "OrderPriceUnit": update.unit,
            "DocumentCurrency": update.currency,
        }
        self.odata.write("MERGE", PURCHASE_CONTRACT, path, body)
        return WriteResult(
            system=self.system,
            document_id=update.contract_number,
            message=_rounding_note(update.unit_price, amount, per),
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self.odata.close()
        if self._soap is not None:
            self._soap.close()


# SAP's net price fields (Edm.Decimal, Scale 3) and its price unit (up to 5 digits).
PRICE_PLACES = Decimal("0.001")
MAX_PRICE_UNIT = 10_000


def sap_price(unit_price: Decimal, *, priced_per: int = MAX_PRICE_UNIT) -> tuple[Decimal, int]:
    """A price per one unit as SAP holds it: an amount of three decimals per N units.

    N is the smallest power of ten (up to ``priced_per``) that keeps the amount exact;
    a price finer than that is rounded half-even at the largest N allowed.
    """
    per = 1
    while True:
        amount = unit_price * per
        exact = amount.quantize(PRICE_PLACES)
        if exact == amount or per * 10 > priced_per:
            return exact.quantize(PRICE_PLACES, rounding=ROUND_HALF_EVEN), per
        per *= 10


def _rounding_note(unit_price: Decimal, amount: Decimal, per: int) -> str | None:
    if amount == unit_price * per:
        return None
    return f"SAP keeps three decimals: sent as {amount} per {per}, not {unit_price} per 1"


def _wire_date(day: dt.date) -> str:
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return f"/Date({int(midnight.timestamp() * 1000)})/"


_LINE_KEY = {Entity.PURCHASE_ORDERS: "PurchaseOrderItem", Entity.CONTRACTS: "PurchaseContractItem"}


def _line_key(entity: Entity, number: str, line: dict[str, Any]) -> str:
    name = _LINE_KEY.get(entity)
    if name is not None:
        item = _text(line, name)
        # Without its own key a line is known only by its document.
        return number if item is None else f"{number}/{item}"
    parts = [
        _text(line, n) or "?"
        for n in ("PurchasingInfoRecordCategory", "PurchasingOrganization", "Plant")
    ]
    return "/".join([number, *parts])


def _check_header(entity: Entity, raw: dict[str, Any]) -> None:
    _required(raw, "Supplier")
    _datetime(raw, "LastChangeDateTime")
    if entity is Entity.PURCHASE_ORDERS:
        _required(raw, "DocumentCurrency")
        _date(raw, "PurchaseOrderDate", required=True)
    if entity is Entity.CONTRACTS:
        _date(raw, "ValidityStartDate")
        _date(raw, "ValidityEndDate")


def _supplier(raw: dict[str, Any]) -> list[SupplierRecord]:
    code = _required(raw, "Supplier")
    name = _text(raw, "SupplierName") or _text(raw, "SupplierFullName")
    if name is None:
        raise BadRecordError("SupplierName is missing")
    return [
        SupplierRecord(
            code=code,
            name=name,
            changed_at=None,
            blocked=bool(raw.get("PurchasingIsBlocked")) or bool(raw.get("DeletionIndicator")),
            attributes={
                k: raw[k]
                for k in ("SupplierFullName", "SupplierAccountGroup", "PostingIsBlocked")
                if raw.get(k) not in (None, "")
            },
        )
    ]


def _item(raw: dict[str, Any]) -> list[ItemRecord]:
    code = _required(raw, "Product")
    unit = _required(raw, "BaseUnit")
    descriptions = _expanded(raw, "to_Description")
    english = [d for d in descriptions if d.get("Language") == "EN"]
    chosen = (english or descriptions or [{}])[0]
    description = _text(chosen, "ProductDescription") or code
    return [
        ItemRecord(
            code=code,
            description=description,
            unit=unit,
            changed_at=_datetime(raw, "LastChangeDateTime"),
            group=_text(raw, "ProductGroup"),
            attributes={
                k: raw[k] for k in ("ProductType", "IsMarkedForDeletion") if raw.get(k) is not None
            },
        )
    ]


def _po_lines(header: dict[str, Any], line: dict[str, Any]) -> PurchaseOrderLineRecord:
    number = _required(header, "PurchaseOrder")
    item = _required(line, "PurchaseOrderItem")
    amount = _need_decimal(line, "NetPriceAmount")
    per = _decimal(line, "NetPriceQuantity", required=False)
    quantity = _need_decimal(line, "OrderQuantity")
    order_date = _date(header, "PurchaseOrderDate", required=True)
    assert order_date is not None
    unit = _text(line, "PurchaseOrderQuantityUnit") or _text(line, "OrderPriceUnit")
    if unit is None:
        raise BadRecordError("PurchaseOrderQuantityUnit is missing")
    return PurchaseOrderLineRecord(
        po_number=number,
        line_number=item,
        supplier_code=_required(header, "Supplier"),
        item_code=_text(line, "Material"),
        description=_text(line, "PurchaseOrderItemText"),
        quantity=quantity,
        unit=unit,
        unit_price=_per_unit(amount, per, "NetPriceQuantity"),
        currency=_text(line, "DocumentCurrency") or _required(header, "DocumentCurrency"),
        order_date=order_date,
        changed_at=_datetime(header, "LastChangeDateTime"),
        company=_text(header, "CompanyCode"),
        status=_text(header, "PurchasingProcessingStatus"),
        payment_terms=_text(header, "PaymentTerms"),
        incoterm=_text(line, "IncotermsClassification") or _text(header, "IncotermsClassification"),
        attributes={
            k: v
            for k, v in {
                "material_group": _text(line, "MaterialGroup"),
                "plant": _text(line, "Plant"),
                "order_price_unit": _text(line, "OrderPriceUnit"),
                "purchase_contract": _text(line, "PurchaseContract"),
                "purchasing_organization": _text(header, "PurchasingOrganization"),
                "deleted": _text(line, "PurchasingDocumentDeletionCode"),
            }.items()
            if v is not None
        },
    )


def _contract_lines(header: dict[str, Any], line: dict[str, Any]) -> ContractPriceRecord:
    number = _required(header, "PurchaseContract")
    item = _required(line, "PurchaseContractItem")
    material = _required(line, "Material")
    amount = _need_decimal(line, "ContractNetPriceAmount")
    per = _decimal(line, "NetPriceQuantity", required=False)
    unit = _text(line, "OrderPriceUnit") or _text(line, "OrderQuantityUnit")
    if unit is None:
        raise BadRecordError("OrderPriceUnit is missing")
    currency = _text(line, "DocumentCurrency") or _text(header, "DocumentCurrency")
    if currency is None:
        raise BadRecordError("DocumentCurrency is missing")
    return ContractPriceRecord(
        contract_number=number,
        line_number=item,
        supplier_code=_required(header, "Supplier"),
        item_code=material,
        unit_price=_per_unit(amount, per, "NetPriceQuantity"),
        unit=unit,
        currency=currency,
        valid_from=_date(header, "ValidityStartDate"),
        valid_to=_date(header, "ValidityEndDate"),
        changed_at=_datetime(header, "LastChangeDateTime"),
        attributes={
            k: v
            for k, v in {
                "target_quantity": _decimal(line, "TargetQuantity", required=False),
                "company": _text(line, "CompanyCode") or _text(header, "CompanyCode"),
                "plant": _text(line, "Plant"),
            }.items()
            if v is not None
        },
    )


def _info_record_prices(header: dict[str, Any], line: dict[str, Any]) -> PriceRecord:
    number = _required(header, "PurchasingInfoRecord")
    material = _text(line, "Material") or _required(header, "Material")
    amount = _need_decimal(line, "NetPriceAmount")
    per = _decimal(line, "MaterialPriceUnitQty", required=False)
    unit = (
        _text(line, "PurchaseOrderPriceUnit")
        or _text(line, "NetPriceQuantityUnit")
        or _text(header, "PurgDocOrderQuantityUnit")
    )
    if unit is None:
        raise BadRecordError("PurchaseOrderPriceUnit is missing")
    return PriceRecord(
        record_key=_line_key(Entity.PRICE_RECORDS, number, line),
        supplier_code=_text(line, "Supplier") or _required(header, "Supplier"),
        item_code=material,
        unit_price=_per_unit(amount, per, "MaterialPriceUnitQty"),
        unit=unit,
        currency=_required(line, "Currency"),
        valid_to=_date(line, "PriceValidityEndDate"),
        changed_at=_datetime(header, "LastChangeDateTime"),
        attributes={
            k: v
            for k, v in {
                "purchasing_organization": _text(line, "PurchasingOrganization"),
                "plant": _text(line, "Plant"),
                "minimum_quantity": _decimal(line, "MinimumPurchaseOrderQuantity", required=False),
            }.items()
            if v is not None
        },
    )


def _conforms(connector: SapConnector) -> ERPConnector:
    # mypy checks here that SapConnector satisfies the Protocol, method by method.
    return connector
