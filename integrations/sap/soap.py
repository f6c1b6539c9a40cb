"""The SAP SOAP purchase-order read (``ManagePurchaseOrderInRead``) with zeep.

The WSDL ships inside the package (``integrations/sap/wsdl/``), so no network is needed to
load it; the endpoint comes from ``SAP_SOAP_URL``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

import zeep
import zeep.exceptions
import zeep.xsd
from zeep.transports import Transport

from core.errors import ConfigurationError
from integrations.base import Entity, PurchaseOrderLineRecord, Read, Rejected
from integrations.sap.odata import SapError
from integrations.sap.settings import SapSettings

NAMESPACE = "http://sap.com/xi/A1S/Global"
BINDING = f"{{{NAMESPACE}}}binding"
WSDL_NAME = "ManagePurchaseOrderIn.wsdl"


def wsdl_path() -> str:
    """Return the file path of the shipped ManagePurchaseOrderIn WSDL."""
    return str(resources.files("integrations.sap") / "wsdl" / WSDL_NAME)


def _value(node: Any) -> Any:
    """The content of a zeep value that may carry XML attributes (``_value_1``)."""
    if node is None:
        return None
    if hasattr(node, "_value_1"):
        return node._value_1
    return node


def _get(node: Any, *path: str) -> Any:
    for name in path:
        if node is None:
            return None
        node = node[name] if isinstance(node, dict) else getattr(node, name, None)
    return node


def _text(node: Any, *path: str) -> str | None:
    value = _value(_get(node, *path))
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(node: Any, *path: str) -> Decimal | None:
    value = _value(_get(node, *path))
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{'.'.join(path)} is not a decimal: {value!r}") from None


class SapSoapPurchaseOrders:
    """Reads purchase orders by id through SAP's ManagePurchaseOrderIn service."""

    def __init__(self, settings: SapSettings, *, wsdl: str | None = None) -> None:
        if settings.soap_url is None:
            raise ConfigurationError("SAP_SOAP_URL is not set; the SOAP order read needs it")
        transport = Transport(  # type: ignore[no-untyped-call]
            timeout=settings.timeout_seconds, operation_timeout=settings.timeout_seconds
        )
        if settings.user is not None and settings.password is not None:
            transport.session.auth = (settings.user, settings.password.get_secret_value())
        self._transport = transport
        self._client = zeep.Client(  # type: ignore[no-untyped-call]
            wsdl or wsdl_path(), transport=transport
        )
        self._service = self._client.create_service(  # type: ignore[no-untyped-call]
            BINDING, settings.soap_url
        )

    def read(self, po_numbers: Iterable[str]) -> Read[PurchaseOrderLineRecord]:
        """Read the named purchase orders and yield their lines (bad lines as ``Rejected``)."""
        ids = [{"_value_1": number} for number in po_numbers]
        if not ids:
            return iter(())
        try:
            # The schema asks for IDs and UUIDs both; SAP reads either, so the UUIDs are left out.
            response = self._service.ManagePurchaseOrderInRead(
                PurchaseOrder={"ID": ids, "UUID": zeep.xsd.SkipValue}
            )
        except zeep.exceptions.Fault as exc:
            raise SapError(f"SAP SOAP ManagePurchaseOrderInRead fault: {exc.message}") from None
        except zeep.exceptions.TransportError as exc:
            raise SapError(
                f"SAP SOAP ManagePurchaseOrderInRead failed with HTTP {exc.status_code}",
                status=exc.status_code,
            ) from None
        except OSError as exc:  # requests' connection errors are OSErrors
            raise SapError(f"SAP SOAP endpoint unreachable: {type(exc).__name__}") from None
        except zeep.exceptions.Error as exc:
            raise SapError(f"SAP SOAP answer could not be read: {exc}") from None
        return map_read_response(response)

    def close(self) -> None:
        """Close the HTTP session."""
        self._transport.session.close()


def map_read_response(response: Any) -> Iterator[PurchaseOrderLineRecord | Rejected]:
    """Turn a ManagePurchaseOrderInRead answer into purchase-order lines."""
    orders = _get(response, "PurchaseOrder") or []
    for order in orders:
        number = _text(order, "ID")
        for item in _get(order, "Item") or []:
            try:
                yield _line(order, number, item)
            except ValueError as exc:
                line = _text(item, "ItemID") or "?"
                yield Rejected(
                    entity=Entity.PURCHASE_ORDERS,
                    key=f"{number}/{line}",
                    reason=str(exc),
                    raw={"po_number": number, "line_number": line},
                )


def _line(order: Any, number: str | None, item: Any) -> PurchaseOrderLineRecord:
    if number is None:
        raise ValueError("ID is missing")
    line = _text(item, "ItemID")
    if line is None:
        raise ValueError("ItemID is missing")
    supplier = _text(order, "SellerParty", "PartyKey", "PartyID")
    if supplier is None:
        raise ValueError("SellerParty.PartyKey.PartyID is missing")
    quantity = _decimal(item, "Quantity")
    unit = _text(_get(item, "Quantity"), "unitCode")
    if quantity is None or unit is None:
        raise ValueError("Quantity or its unitCode is missing")
    amount = _decimal(item, "NetUnitPrice", "Amount")
    if amount is None:
        raise ValueError("NetUnitPrice.Amount is missing")
    per = _decimal(item, "NetUnitPrice", "BaseQuantity")
    if per is not None and per <= 0:
        raise ValueError(f"NetUnitPrice.BaseQuantity is {per}; a price cannot be per zero units")
    currency = _text(item, "NetUnitPrice", "Amount", "currencyCode") or _text(order, "CurrencyCode")
    if currency is None:
        raise ValueError("currency is missing")
    order_date = _get(order, "Date")
    if not isinstance(order_date, dt.date):
        ordered = _get(order, "OrderedDateTime")
        order_date = ordered.date() if isinstance(ordered, dt.datetime) else None
    if order_date is None:
        raise ValueError("Date is missing")
    start = _value(_get(item, "DeliveryPeriod", "StartDateTime"))
    return PurchaseOrderLineRecord(
        po_number=number,
        line_number=line,
        supplier_code=supplier,
        item_code=_text(item, "ItemProduct", "ProductKey", "ProductID"),
        description=_text(item, "Description"),
        quantity=quantity,
        unit=unit,
        unit_price=amount if per is None else amount / per,
        currency=currency,
        order_date=order_date,
        need_by_date=start.date() if isinstance(start, dt.datetime) else None,
        received_quantity=_decimal(item, "TotalDeliveredQuantity"),
        status=_text(order, "Status", "PurchaseOrderLifeCycleStatusCode"),
        attributes={"source": "soap", "change_state_id": _text(order, "ChangeStateID")},
    )
