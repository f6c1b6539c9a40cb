"""The SOAP order read against a loopback endpoint answering with zeep-serialised responses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import zeep
from lxml import etree

from core.errors import ConfigurationError, ExternalServiceError
from integrations.base import PurchaseOrderLineRecord, Rejected
from integrations.sap import SapConnector, SapSettings
from integrations.sap.soap import BINDING, SapSoapPurchaseOrders
from tests.integrations.sap.sap_server import FIXTURES, SapState

MakeSettings = Callable[..., SapSettings]

# The peer loads the fixture copy of the WSDL; the connector its own packaged copy.
_PEER = zeep.Client(str(FIXTURES / "ManagePurchaseOrderIn.wsdl"))
_READ = _PEER.wsdl.bindings[BINDING]._operations["ManagePurchaseOrderInRead"]

ORDERS: dict[str, dict[str, Any]] = {
    "4500000101": {
        "supplier": "1000007",
        "date": dt.date(2025, 4, 2),
        "currency": "EUR",
        "items": [
            ("10", "MAT-0001", "Steel sheet 2mm", "250.000", "KGM", "1234.500", "1000", None),
            ("20", "MAT-0002", "Bolts M8", "1200", "EA", "15.90", "100", dt.date(2025, 5, 1)),
        ],
    },
    "4500000102": {
        "supplier": "1000008",
        "date": dt.date(2025, 4, 3),
        "currency": "USD",
        "items": [("10", "MAT-0003", "Cable", "40", "MTR", "7.25", "1", None)],
    },
}


def _item(row: tuple[Any, ...], currency: str) -> dict[str, Any]:
    line, material, text, qty, unit, price, per, need_by = row
    net: dict[str, Any] = {"Amount": {"_value_1": Decimal(price), "currencyCode": currency}}
    if per is not None:
        net["BaseQuantity"] = {"_value_1": Decimal(per), "unitCode": unit}
    item: dict[str, Any] = {
        "ItemID": line,
        "Description": {"_value_1": text, "languageCode": "EN"},
        "Quantity": {"_value_1": Decimal(qty), "unitCode": unit},
        "NetUnitPrice": net,
        "ItemProduct": {
            "CashDiscountDeductibleIndicator": False,
            "ProductKey": {
                "ProductTypeCode": "1",
                "ProductIdentifierTypeCode": "1",
                "ProductID": {"_value_1": material},
            },
        },
    }
    if need_by is not None:
        item["DeliveryPeriod"] = {
            "StartDateTime": {
                "_value_1": dt.datetime(need_by.year, need_by.month, need_by.day, tzinfo=dt.UTC),
                "timeZoneCode": "UTC",
            }
        }
    return item


def respond(ids: list[str]) -> bytes:
    """Build a schema-valid ManagePurchaseOrderInRead answer with zeep's own serializer."""
    orders = [
        {
            "ID": {"_value_1": number},
            "Date": ORDERS[number]["date"],
            "CurrencyCode": ORDERS[number]["currency"],
            "ChangeStateID": f"20250402120000.0000000{i}",
            "Item": [_item(r, ORDERS[number]["currency"]) for r in ORDERS[number]["items"]],
            "SellerParty": {"PartyKey": {"PartyID": {"_value_1": ORDERS[number]["supplier"]}}},
        }
        for i, number in enumerate(ids)
        if number in ORDERS
    ]
    message = _READ.output.serialize(PurchaseOrder=orders, Log={"MaximumLogItemSeverityCode": "1"})
    return bytes(etree.tostring(message.content, xml_declaration=True, encoding="utf-8"))


def test_soap_read_maps_the_response_into_lines(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    sap_state.soap_responder = respond
    connector = SapConnector(make_settings())
    lines = list(connector.soap_purchase_order_lines(["4500000101", "4500000102"]))
    connector.close()
    assert sap_state.soap_requests == [["4500000101", "4500000102"]]
    assert all(isinstance(r, PurchaseOrderLineRecord) for r in lines)
    by_key = {r.external_key: r for r in lines if isinstance(r, PurchaseOrderLineRecord)}
    assert set(by_key) == {"4500000101/10", "4500000101/20", "4500000102/10"}
    steel = by_key["4500000101/10"]
    assert steel.supplier_code == "1000007"
    assert steel.item_code == "MAT-0001"
    assert steel.description == "Steel sheet 2mm"
    assert steel.quantity == Decimal("250.000")
    assert steel.unit == "KGM"
    assert steel.unit_price == Decimal("1.2345")  # 1234.500 per 1000
    assert steel.currency == "EUR"
    assert steel.order_date == dt.date(2025, 4, 2)
    bolts = by_key["4500000101/20"]
    assert bolts.unit_price == Decimal("0.159")
    assert bolts.need_by_date == dt.date(2025, 5, 1)
    cable = by_key["4500000102/10"]
    assert (cable.unit_price, cable.currency, cable.supplier_code) == (
        Decimal("7.25"),
        "USD",
        "1000008",
    )


def test_soap_zero_base_quantity_is_rejected(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    ORDERS["4500000199"] = {
        "supplier": "1000009",
        "date": dt.date(2025, 4, 4),
        "currency": "EUR",
        "items": [
            ("10", "MAT-0004", "Paint", "5", "LTR", "9.00", "0", None),
            ("20", "MAT-0005", "Primer", "5", "LTR", "8.00", "1", None),
        ],
    }
    try:
        sap_state.soap_responder = respond
        connector = SapConnector(make_settings())
        out = list(connector.soap_purchase_order_lines(["4500000199"]))
        connector.close()
    finally:
        del ORDERS["4500000199"]
    rejected = [r for r in out if isinstance(r, Rejected)]
    assert [r.key for r in rejected] == ["4500000199/10"]
    assert "per zero units" in rejected[0].reason
    assert [r.external_key for r in out if isinstance(r, PurchaseOrderLineRecord)] == [
        "4500000199/20"
    ]


def test_soap_http_error_is_an_external_service_error(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    def broken(ids: list[str]) -> bytes:
        return b"<html>gateway down</html>"

    sap_state.soap_responder = broken
    soap = SapSoapPurchaseOrders(make_settings())
    with pytest.raises(ExternalServiceError, match="SAP SOAP"):
        list(soap.read(["4500000101"]))
    soap.close()


def test_soap_needs_a_url(make_settings: MakeSettings) -> None:
    with pytest.raises(ConfigurationError, match="SAP_SOAP_URL"):
        SapSoapPurchaseOrders(make_settings(soap_url=None))
