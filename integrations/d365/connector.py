"""The Dynamics 365 Finance & Operations connector: OData v4 entities as ERP records.

Entity sets read (all company-specific, key starts with ``dataAreaId``):

- suppliers: ``VendorsV2``; items: ``ReleasedProductsV2``;
- purchase-order lines: ``PurchaseOrderHeadersV2`` joined to ``PurchaseOrderLinesV2``;
- contract prices: ``PurchasePriceAgreements`` (posted purchase trade-agreement price lines,
  key ``dataAreaId, TradeAgreementJournalNumber, LineNumber``) for one named vendor;
- standing prices: the released product's default ``PurchasePrice`` from its primary vendor
  (``ReleasedProductsV2``), in that vendor's currency (``VendorsV2``).

Writes: ``PurchaseRequisitionHeaders`` then ``PurchaseRequisitionLines`` (POST), and a PATCH
of the ``PurchasePriceAgreements`` line.

Incremental reads. None of these standard entities exposes a change timestamp (no
``ModifiedDateTime``; change tracking is a per-entity option in the environment and is read
through Synapse Link or the data lake, not OData). So:

- purchase orders are selected by header ``AccountingDate >= since - lookback_days``: an order
  is mostly edited in the weeks after it is placed, and the look-back catches those edits;
  ``changed_at`` of each line is its header's AccountingDate, so the sync's watermark advances
  with the newest order it saw. Older orders edited later are caught by a periodic full read
  (``since=None``).
- suppliers, items and prices are small next to order lines and are read in full each time,
  with ``changed_at=None`` (the sync upserts them); ``since`` is accepted and ignored.
"""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import ConflictError, ExternalServiceError, InvalidInputError, NotFoundError
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
from integrations.d365.auth import D365TokenProvider
from integrations.d365.odata import (
    ODataClient,
    TokenSource,
    and_filters,
    company_filter,
    datetime_literal,
    enum_literal,
    string_literal,
)
from integrations.d365.settings import D365Settings

VENDORS = "VendorsV2"
PRODUCTS = "ReleasedProductsV2"
PO_HEADERS = "PurchaseOrderHeadersV2"
PO_LINES = "PurchaseOrderLinesV2"

VENDOR_FIELDS = (
    "dataAreaId",
    "VendorAccountNumber",
    "VendorOrganizationName",
    "VendorGroupId",
    "CurrencyCode",
    "AddressCountryRegionId",
    "OnHoldStatus",
)
PRODUCT_FIELDS = (
    "dataAreaId",
    "ItemNumber",
    "ProductNumber",
    "SearchName",
    "ProductType",
    "ProductGroupId",
    "PurchaseUnitSymbol",
    "PurchasePrice",
    "PurchasePriceQuantity",
    "UnitCost",
    "PrimaryVendorAccountNumber",
)
HEADER_FIELDS = (
    "dataAreaId",
    "PurchaseOrderNumber",
    "OrderVendorAccountNumber",
    "CurrencyCode",
    "AccountingDate",
    "RequestedDeliveryDate",
    "PurchaseOrderName",
    "PurchaseOrderStatus",
    "DocumentApprovalStatus",
)
LINE_FIELDS = (
    "dataAreaId",
    "PurchaseOrderNumber",
    "LineNumber",
    "ItemNumber",
    "LineDescription",
    "OrderedPurchaseQuantity",
    "PurchaseUnitSymbol",
    "PurchasePrice",
    "PurchasePriceQuantity",
    "LineAmount",
    "LineDiscountAmount",
    "ProcurementProductCategoryName",
)
AGREEMENT_FIELDS = (
    "dataAreaId",
    "TradeAgreementJournalNumber",
    "LineNumber",
    "VendorAccountNumber",
    "ItemNumber",
    "Price",
    "PriceCurrencyCode",
    "PurchasePriceQuantity",
    "QuantityUnitSymbol",
    "FromQuantity",
    "ToQuantity",
    "PriceApplicableFromDate",
    "PriceApplicableToDate",
)

# Vendor on-hold values that still allow purchasing (enum CustVendorBlocked).
_NOT_BLOCKED = frozenset({"", "No", "Never"})
# Orders per line query: keeps the $filter (and the URL) short.
_ORDERS_PER_LINE_QUERY = 25


class _BadRowError(Exception):
    """A row the connector cannot read; the message is the reason."""


class D365Connector:
    """Reads Dynamics 365 F&O through OData v4 and writes approved requisitions and prices."""

    system = "d365"

    def __init__(
        self,
        settings: D365Settings,
        *,
        tokens: TokenSource | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._own_tokens = tokens is None
        self._tokens: TokenSource = tokens or D365TokenProvider(settings)
        verify: ssl.SSLContext | bool = True
        if settings.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=str(settings.ca_bundle))
        self.odata = ODataClient(
            service_root=settings.service_root,
            tokens=self._tokens,
            page_size=settings.page_size,
            timeout_seconds=settings.timeout_seconds,
            max_retries=settings.max_retries,
            backoff_cap_seconds=settings.backoff_cap_seconds,
            verify=verify,
            # With an explicit CA bundle, SSL_CERT_FILE and proxy variables must not interfere.
            trust_env=settings.ca_bundle is None,
            sleep=sleep,
        )

    # -- reads --------------------------------------------------------------------------------

    def _rows(
        self, entity_set: str, fields: Iterable[str], *, extra: str | None = None
    ) -> Iterator[dict[str, Any]]:
        companies = self.settings.companies
        return self.odata.iterate(
            entity_set,
            filter=and_filters(company_filter(companies), extra),
            select=list(fields),
            # Without cross-company=true the service answers only the app user's default
            # company, even when the filter names another dataAreaId.
            cross_company=True,
        )

    def suppliers(self, since: dt.datetime | None = None) -> Read[SupplierRecord]:
        """Suppliers from VendorsV2 (read in full: the entity has no change timestamp)."""
        for row in self._rows(VENDORS, VENDOR_FIELDS):
            key = _key(row, "VendorAccountNumber")
            try:
                on_hold = _text(row, "OnHoldStatus") or ""
                yield SupplierRecord(
                    code=_required(row, "VendorAccountNumber"),
                    name=_text(row, "VendorOrganizationName")
                    or _required(row, "VendorAccountNumber"),
                    blocked=on_hold not in _NOT_BLOCKED,
                    attributes=_drop_none(
                        {
                            "company": _text(row, "dataAreaId"),
                            "vendor_group": _text(row, "VendorGroupId"),
                            "currency": _text(row, "CurrencyCode"),
                            "country": _text(row, "AddressCountryRegionId"),
                            "on_hold": on_hold or None,
                        }
                    ),
                )
            except _BadRowError as bad:
                yield Rejected(Entity.SUPPLIERS, key, str(bad), row)

    def items(self, since: dt.datetime | None = None) -> Read[ItemRecord]:
        """Released products from ReleasedProductsV2 (read in full: no change timestamp)."""
        for row in self._rows(PRODUCTS, PRODUCT_FIELDS):
            key = _key(row, "ItemNumber")
            try:
                code = _required(row, "ItemNumber")
                yield ItemRecord(
                    code=code,
                    description=_text(row, "SearchName") or _text(row, "ProductNumber") or code,
                    unit=_required(row, "PurchaseUnitSymbol"),
                    group=_text(row, "ProductGroupId"),
                    attributes=_drop_none(
                        {
                            "company": _text(row, "dataAreaId"),
                            "product_number": _text(row, "ProductNumber"),
                            "product_type": _text(row, "ProductType"),
                            "primary_vendor": _text(row, "PrimaryVendorAccountNumber"),
                            "unit_cost": _decimal(row, "UnitCost"),
                        }
                    ),
                )
            except _BadRowError as bad:
                yield Rejected(Entity.ITEMS, key, str(bad), row)

    def purchase_order_lines(
        self, since: dt.datetime | None = None
    ) -> Read[PurchaseOrderLineRecord]:
        """Order lines joined to their headers; since: headers by AccountingDate with look-back."""
        clauses: list[str | None] = []
        if since is not None:
            start = since - dt.timedelta(days=self.settings.lookback_days)
            clauses.append(f"AccountingDate ge {datetime_literal(start)}")
        if self.settings.skip_canceled_orders:
            clauses.append(f"PurchaseOrderStatus ne {enum_literal('PurchStatus', 'Canceled')}")
        batch: list[dict[str, Any]] = []
        for header in self._rows(PO_HEADERS, HEADER_FIELDS, extra=and_filters(*clauses)):
            batch.append(header)
            if len(batch) >= _ORDERS_PER_LINE_QUERY:
                yield from self._lines_for(batch)
                batch = []
        if batch:
            yield from self._lines_for(batch)

    def _lines_for(self, headers: list[dict[str, Any]]) -> Read[PurchaseOrderLineRecord]:
        """Read the lines of a batch of headers, company by company, and join them."""
        by_key: dict[tuple[str, str], dict[str, Any]] = {}
        for header in headers:
            company = (_label(header, "dataAreaId") or "").lower()
            number = _label(header, "PurchaseOrderNumber")
            if not company or not number:
                yield Rejected(
                    Entity.PURCHASE_ORDERS,
                    _key(header, "PurchaseOrderNumber"),
                    "purchase-order header without dataAreaId or PurchaseOrderNumber",
                    header,
                )
                continue
            by_key[(company, number)] = header
        companies = sorted({company for company, _ in by_key})
        for company in companies:
            numbers = [number for (c, number) in by_key if c == company]
            orders = " or ".join(f"PurchaseOrderNumber eq {string_literal(n)}" for n in numbers)
            rows = self.odata.iterate(
                PO_LINES,
                filter=and_filters(f"dataAreaId eq {string_literal(company)}", orders),
                select=list(LINE_FIELDS),
                cross_company=True,
            )
            for line in rows:
                number = _label(line, "PurchaseOrderNumber") or ""
                order = by_key.get((company, number))
                key = f"{company}/{number}/{_label(line, 'LineNumber') or '?'}"
                if order is None:
                    # The service answered a line we did not ask for; do not guess its header.
                    yield Rejected(Entity.PURCHASE_ORDERS, key, "line without its header", line)
                    continue
                try:
                    yield _po_line(order, line)
                except _BadRowError as bad:
                    yield Rejected(Entity.PURCHASE_ORDERS, key, str(bad), line)

    def contract_prices(self, since: dt.datetime | None = None) -> Read[ContractPriceRecord]:
        """Vendor trade-agreement prices from PurchasePriceAgreements (read in full)."""
        for row in self._rows(self.settings.price_agreements_entity, AGREEMENT_FIELDS):
            key = "/".join(
                _label(row, field) or "?"
                for field in ("dataAreaId", "TradeAgreementJournalNumber", "LineNumber")
            )
            vendor = _label(row, "VendorAccountNumber")
            if not vendor:
                # Agreements for a vendor group or all vendors name no supplier: not a contract
                # price of one supplier, so they are left out (not malformed).
                continue
            try:
                price = _required_decimal(row, "Price")
                per = _price_unit(row, "PurchasePriceQuantity")
                yield ContractPriceRecord(
                    contract_number=_required(row, "TradeAgreementJournalNumber"),
                    line_number=_number_text(_required_value(row, "LineNumber")),
                    supplier_code=_required(row, "VendorAccountNumber"),
                    item_code=_required(row, "ItemNumber"),
                    unit_price=price / per,
                    unit=_required(row, "QuantityUnitSymbol"),
                    currency=_required(row, "PriceCurrencyCode"),
                    valid_from=_date(row, "PriceApplicableFromDate"),
                    valid_to=_date(row, "PriceApplicableToDate"),
                    min_quantity=_decimal(row, "FromQuantity") or Decimal(0),
                    attributes=_drop_none(
                        {
                            "company": _text(row, "dataAreaId"),
                            "quoted_price": price,
                            "price_quantity": per,
                            "to_quantity": _decimal(row, "ToQuantity") or None,
                        }
                    ),
                )
            except _BadRowError as bad:
                yield Rejected(Entity.CONTRACTS, key, str(bad), row)

    def price_records(self, since: dt.datetime | None = None) -> Read[PriceRecord]:
        """Each released product's default purchase price from its primary vendor."""
        currencies: dict[tuple[str, str], str] = {}
        for supplier in self._rows(VENDORS, ("dataAreaId", "VendorAccountNumber", "CurrencyCode")):
            company = (_label(supplier, "dataAreaId") or "").lower()
            account = _label(supplier, "VendorAccountNumber")
            currency = _label(supplier, "CurrencyCode")
            if account and currency:
                currencies[(company, account)] = currency
        for row in self._rows(PRODUCTS, PRODUCT_FIELDS):
            vendor = _label(row, "PrimaryVendorAccountNumber")
            if not vendor:
                continue  # no primary vendor: the default price is nobody's price
            company = (_label(row, "dataAreaId") or "").lower()
            key = f"{company}/{_label(row, 'ItemNumber') or '?'}"
            try:
                price = _required_decimal(row, "PurchasePrice")
                if price == 0:
                    continue  # zero is D365's "no default price"
                currency = currencies.get((company, vendor))
                if currency is None:
                    raise _BadRowError(f"primary vendor {vendor} not in {company} (no currency)")
                per = _price_unit(row, "PurchasePriceQuantity")
                item = _required(row, "ItemNumber")
                yield PriceRecord(
                    record_key=key,
                    supplier_code=_required(row, "PrimaryVendorAccountNumber"),
                    item_code=item,
                    unit_price=price / per,
                    unit=_required(row, "PurchaseUnitSymbol"),
                    currency=currency,
                    attributes={"company": company, "quoted_price": price, "price_quantity": per},
                )
            except _BadRowError as bad:
                yield Rejected(Entity.PRICE_RECORDS, key, str(bad), row)

    # -- writes -------------------------------------------------------------------------------

    def create_requisition(self, draft: RequisitionDraft) -> WriteResult:
        """POST a PurchaseRequisitionHeaders row, then its one PurchaseRequisitionLines row."""
        if draft.quantity <= 0:
            raise InvalidInputError("a requisition needs a positive quantity")
        name = (draft.note or f"Pricing assistant: {draft.item_code}")[:60]
        header = self.odata.post(
            self.settings.requisition_headers_entity, {"RequisitionName": name}
        )
        number = header.get("RequisitionNumber")
        if not number:
            raise ExternalServiceError(
                "Dynamics 365 created a requisition header but returned no RequisitionNumber"
            )
        line: dict[str, Any] = {
            "RequisitionNumber": number,
            "LineNumber": 1,
            "ItemNumber": draft.item_code,
            "RequestedPurchaseQuantity": draft.quantity,
            "PurchaseUnitSymbol": draft.unit,
            "PurchasePrice": draft.unit_price,
            "PurchasePriceQuantity": 1,
            "CurrencyCode": draft.currency,
        }
        if len(self.settings.companies) == 1:
            line["BuyingLegalEntityId"] = self.settings.companies[0]
        if draft.supplier_code:
            line["VendorAccountNumber"] = draft.supplier_code
        if draft.need_by_date:
            line["RequestedDate"] = draft.need_by_date
        if draft.plant:
            line["ReceivingSiteId"] = draft.plant
        if draft.note:
            line["LineDescription"] = draft.note[:1000]
        try:
            self.odata.post(self.settings.requisition_lines_entity, line)
        except ExternalServiceError as exc:
            raise ExternalServiceError(
                f"Dynamics 365 requisition {number} was created but its line was refused: "
                f"{exc.message}"
            ) from None
        return WriteResult(system=self.system, document_id=str(number), message="draft requisition")

    def update_contract_price(self, update: ContractPriceUpdate) -> WriteResult:
        """PATCH the price of one PurchasePriceAgreements line (found by journal and line)."""
        if update.unit_price < 0:
            raise InvalidInputError("a contract price cannot be negative")
        try:
            line_number = Decimal(update.line_number)
        except InvalidOperation:
            raise InvalidInputError(
                f"trade-agreement line number {update.line_number!r} is not a number"
            ) from None
        matches = list(
            self._rows(
                self.settings.price_agreements_entity,
                ("dataAreaId", "TradeAgreementJournalNumber", "LineNumber"),
                extra=f"TradeAgreementJournalNumber eq {string_literal(update.contract_number)}"
                f" and LineNumber eq {_number_text(line_number)}",
            )
        )
        where = f"trade agreement {update.contract_number} line {update.line_number}"
        if not matches:
            raise NotFoundError(f"Dynamics 365 has no {where}")
        if len(matches) > 1:
            companies = sorted({str(m.get("dataAreaId")) for m in matches})
            raise ConflictError(f"{where} exists in several companies ({', '.join(companies)})")
        company = str(matches[0]["dataAreaId"])
        payload: dict[str, Any] = {
            "Price": update.unit_price,
            "PriceCurrencyCode": update.currency,
            "QuantityUnitSymbol": update.unit,
            "PurchasePriceQuantity": 1,
        }
        if update.valid_from is not None:
            payload["PriceApplicableFromDate"] = update.valid_from
        self.odata.patch(
            self.settings.price_agreements_entity,
            {
                "dataAreaId": company,
                "TradeAgreementJournalNumber": update.contract_number,
                "LineNumber": line_number,
            },
            payload,
        )
        return WriteResult(
            system=self.system,
            document_id=update.contract_number,
            message=f"line {update.line_number} in {company} updated",
        )

    def close(self) -> None:
        """Close the OData connections and, if it made it, the sign-in session."""
        self.odata.close()
        if self._own_tokens and isinstance(self._tokens, D365TokenProvider):
            self._tokens.close()


# -- row reading ---------------------------------------------------------------------------------


def _po_line(header: dict[str, Any], line: dict[str, Any]) -> PurchaseOrderLineRecord:
    accounting = _datetime(header, "AccountingDate")
    if accounting is None:
        raise _BadRowError("header has no AccountingDate")
    quantity = _required_decimal(line, "OrderedPurchaseQuantity")
    price = _required_decimal(line, "PurchasePrice")
    per = _price_unit(line, "PurchasePriceQuantity")
    need_by = _date(header, "RequestedDeliveryDate")
    return PurchaseOrderLineRecord(
        po_number=_required(line, "PurchaseOrderNumber"),
        line_number=_number_text(_required_value(line, "LineNumber")),
        supplier_code=_required(header, "OrderVendorAccountNumber"),
        item_code=_text(line, "ItemNumber"),
        description=_text(line, "LineDescription"),
        quantity=quantity,
        unit=_required(line, "PurchaseUnitSymbol"),
        unit_price=price / per,
        currency=_required(header, "CurrencyCode"),
        order_date=accounting.date(),
        changed_at=accounting,
        company=_text(header, "dataAreaId"),
        status=_text(header, "PurchaseOrderStatus"),
        need_by_date=need_by,
        attributes=_drop_none(
            {
                "quoted_price": price,
                "price_quantity": per,
                "line_amount": _decimal(line, "LineAmount"),
                "line_discount_amount": _decimal(line, "LineDiscountAmount"),
                "category": _text(line, "ProcurementProductCategoryName"),
                "order_name": _text(header, "PurchaseOrderName"),
                "approval_status": _text(header, "DocumentApprovalStatus"),
            }
        ),
    )


def _label(row: dict[str, Any], field: str) -> str | None:
    """A field as text for keys and joins; never raises (a malformed value is shown as is)."""
    value = row.get(field)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _key(row: dict[str, Any], field: str) -> str | None:
    value = _label(row, field)
    company = _label(row, "dataAreaId")
    if value is None:
        return None
    return f"{company}/{value}" if company else value


def _text(row: dict[str, Any], field: str) -> str | None:
    value = row.get(field)
    if value is None:
        return None
    if isinstance(value, bool | dict | list):
        raise _BadRowError(f"{field} is not a scalar: {value!r}")
    text = str(value).strip()
    return text or None


def _required_value(row: dict[str, Any], field: str) -> Any:
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadRowError(f"{field} is missing")
    return value


def _required(row: dict[str, Any], field: str) -> str:
    value = _text(row, field)
    if value is None:
        raise _BadRowError(f"{field} is missing")
    return value


def _decimal(row: dict[str, Any], field: str) -> Decimal | None:
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise _BadRowError(f"{field} is not a number: {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise _BadRowError(f"{field} is not a number: {value!r}") from None
    if not number.is_finite():
        raise _BadRowError(f"{field} is not a finite number: {value!r}")
    return number


def _required_decimal(row: dict[str, Any], field: str) -> Decimal:
    number = _decimal(row, field)
    if number is None:
        raise _BadRowError(f"{field} is missing")
    return number


def _price_unit(row: dict[str, Any], field: str) -> Decimal:
    """The quantity a price is quoted for; absent means 1, zero or less is malformed."""
    per = _decimal(row, field)
    if per is None:
        return Decimal(1)
    if per <= 0:
        raise _BadRowError(f"{field} must be positive, got {per}")
    return per


def _number_text(value: Any) -> str:
    """A line number as text: 1, 1.0 and Decimal('1.00') all become '1'."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _BadRowError(f"line number {value!r} is not a number") from None
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _datetime(row: dict[str, Any], field: str) -> dt.datetime | None:
    value = _text(row, field)
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _BadRowError(f"{field} is not a date-time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    # D365 writes 1900-01-01 for an empty date.
    if parsed.year <= 1900:
        return None
    return parsed.astimezone(dt.UTC)


def _date(row: dict[str, Any], field: str) -> dt.date | None:
    parsed = _datetime(row, field)
    return parsed.date() if parsed is not None else None


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
