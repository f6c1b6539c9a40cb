"""Fixtures: a loopback Entra ID token endpoint and a loopback D365 OData service over HTTPS."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from integrations.d365 import D365Connector, D365Settings, load_d365_settings
from tests.integrations.d365.peers import ODataServer, TokenServer, make_certificate

TENANT = "contoso-tenant"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t-loopback-value"  # a test value for a loopback server, never a real one

D = Decimal


def _vendor(company: str, account: str, name: str, currency: str, hold: str) -> dict[str, Any]:
    return {
        "dataAreaId": company,
        "VendorAccountNumber": account,
        "VendorOrganizationName": name,
        "VendorGroupId": "RAW",
        "CurrencyCode": currency,
        "AddressCountryRegionId": "USA" if currency == "USD" else "DEU",
        "OnHoldStatus": hold,
    }


def _product(
    company: str,
    item: str,
    unit: str | None,
    price: Decimal | str,
    per: Decimal,
    vendor: str,
) -> dict[str, Any]:
    return {
        "dataAreaId": company,
        "ItemNumber": item,
        "ProductNumber": item,
        "SearchName": f"Product {item}",
        "ProductType": "Item",
        "ProductGroupId": "BUILD",
        "PurchaseUnitSymbol": unit,
        "PurchasePrice": price,
        "PurchasePriceQuantity": per,
        "UnitCost": D("1.5"),
        "PrimaryVendorAccountNumber": vendor,
    }


def _header(
    company: str, po: str, vendor: str, currency: str, date: str, status: str
) -> dict[str, Any]:
    return {
        "dataAreaId": company,
        "PurchaseOrderNumber": po,
        "OrderVendorAccountNumber": vendor,
        "CurrencyCode": currency,
        "AccountingDate": date,
        "RequestedDeliveryDate": "2024-04-30T12:00:00Z",
        "PurchaseOrderName": f"Order {po}",
        "PurchaseOrderStatus": status,
        "DocumentApprovalStatus": "Approved",
    }


def _line(
    company: str,
    po: str,
    line: int,
    item: str | None,
    qty: Decimal,
    unit: str,
    price: Decimal | str,
    per: Decimal,
) -> dict[str, Any]:
    return {
        "dataAreaId": company,
        "PurchaseOrderNumber": po,
        "LineNumber": line,
        "ItemNumber": item,
        "LineDescription": f"{po} line {line}",
        "OrderedPurchaseQuantity": qty,
        "PurchaseUnitSymbol": unit,
        "PurchasePrice": price,
        "PurchasePriceQuantity": per,
        "LineAmount": D("0"),
        "LineDiscountAmount": D("0"),
        "ProcurementProductCategoryName": "Steel",
    }


def _agreement(
    company: str,
    journal: str,
    line: int,
    vendor: str,
    item: str,
    price: Decimal | str,
    per: Decimal,
    from_qty: Decimal,
) -> dict[str, Any]:
    return {
        "dataAreaId": company,
        "TradeAgreementJournalNumber": journal,
        "LineNumber": D(line),
        "VendorAccountNumber": vendor,
        "ItemNumber": item,
        "Price": price,
        "PriceCurrencyCode": "USD" if company == "usmf" else "EUR",
        "PurchasePriceQuantity": per,
        "QuantityUnitSymbol": "t",
        "FromQuantity": from_qty,
        "ToQuantity": D(0),
        "PriceApplicableFromDate": "2024-01-01T12:00:00Z",
        "PriceApplicableToDate": "1900-01-01T12:00:00Z",
    }


# A price with more digits than a float holds: a float parse would change it.
FINE_PRICE = D("812.345678901234567891")

DATA: dict[str, list[dict[str, Any]]] = {
    "VendorsV2": [
        _vendor("usmf", "V-001", "Acme Steel", "USD", "No"),
        _vendor("usmf", "V-002", "Beta Cement", "USD", "All"),
        _vendor("demf", "V-100", "Delta GmbH", "EUR", "Never"),
        _vendor("usmf", "", "Nameless", "USD", "No"),
    ],
    "ReleasedProductsV2": [
        _product("usmf", "I-100", "t", FINE_PRICE, D(1), "V-001"),
        _product("usmf", "I-200", "bag", D("1250.00"), D(100), "V-002"),
        _product("demf", "I-300", "pcs", D(0), D(1), "V-100"),
        _product("usmf", "I-400", None, D(3), D(1), ""),
        _product("usmf", "I-500", "ea", D(5), D(1), "V-999"),
    ],
    "PurchaseOrderHeadersV2": [
        _header("usmf", "PO-1", "V-001", "USD", "2024-01-15T00:00:00Z", "Backorder"),
        _header("usmf", "PO-2", "V-002", "USD", "2024-03-10T08:30:00Z", "Received"),
        _header("usmf", "PO-3", "V-001", "USD", "2024-03-20T00:00:00Z", "Canceled"),
        _header("demf", "PO-1", "V-100", "EUR", "2024-02-01T00:00:00Z", "Invoiced"),
        _header("usmf", "PO-4", "V-001", "USD", "1900-01-01T00:00:00Z", "Backorder"),
    ],
    "PurchaseOrderLinesV2": [
        _line("usmf", "PO-1", 1, "I-100", D("20.5"), "t", FINE_PRICE, D(1)),
        _line("usmf", "PO-1", 2, "I-200", D(400), "bag", D("1250.00"), D(100)),
        _line("usmf", "PO-2", 1, "I-200", D(100), "bag", "abc", D(1)),
        _line("usmf", "PO-2", 2, None, D(1), "ea", D("300"), D(1)),
        _line("usmf", "PO-3", 1, "I-100", D(1), "t", D(900), D(1)),
        _line("demf", "PO-1", 1, "I-300", D(10), "pcs", D("7.25"), D(1)),
        _line("demf", "PO-1", 2, "I-300", D(10), "pcs", D("7.25"), D(0)),
        _line("usmf", "PO-4", 1, "I-100", D(1), "t", D(1), D(1)),
    ],
    "PurchasePriceAgreements": [
        _agreement("usmf", "TAJ-1", 1, "V-001", "I-100", D("800.10"), D(1), D(0)),
        _agreement("usmf", "TAJ-1", 2, "V-001", "I-100", D("78000"), D(100), D(50)),
        _agreement("usmf", "TAJ-2", 1, "", "I-100", D("790"), D(1), D(0)),
        _agreement("demf", "TAJ-9", 1, "V-100", "I-300", "n/a", D(1), D(0)),
    ],
    "PurchaseRequisitionHeaders": [],
    "PurchaseRequisitionLines": [],
}


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for localhost and 127.0.0.1."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def token_server(certificate: tuple[Path, Path]) -> Iterator[TokenServer]:
    """A loopback Entra ID for TENANT that knows CLIENT_ID and SECRET."""
    # The scope names the OData server, which is not started yet; set below.
    server = TokenServer(TENANT, CLIENT_ID, SECRET, resource="").start(*certificate)
    yield server
    server.stop()


@pytest.fixture
def odata_server(
    certificate: tuple[Path, Path], token_server: TokenServer
) -> Iterator[ODataServer]:
    """A loopback D365 /data service holding DATA and trusting token_server's tokens."""
    server = ODataServer(token_server, entities=copy.deepcopy(DATA)).start(*certificate)
    token_server.resource = server.base_url
    yield server
    server.stop()


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the connector asked for (recorded, not slept, to keep the tests fast)."""
    return []


def make_settings(
    token_server: TokenServer, odata_server: ODataServer, cert: Path, **overrides: Any
) -> D365Settings:
    """Settings pointing at the two loopback peers."""
    values: dict[str, Any] = {
        "resource_url": odata_server.base_url,
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "authority_host": token_server.base_url,
        "ca_bundle": cert,
        "page_size": 2,
        "max_retries": 3,
        "timeout_seconds": 10,
    }
    values.update(overrides)
    return load_d365_settings(**values)


@pytest.fixture
def d365_settings(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> D365Settings:
    """Settings for every company, small pages."""
    return make_settings(token_server, odata_server, certificate[0])


@pytest.fixture
def connector(d365_settings: D365Settings, sleeps: list[float]) -> Iterator[D365Connector]:
    """The connector under test, its waits recorded."""
    # Not named ``settings``: that is the store's settings fixture of the root conftest.
    conn = D365Connector(d365_settings, sleep=sleeps.append)
    yield conn
    conn.close()
