"""The loopback SAP, its generated data, and settings pointing at it."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from integrations.sap.settings import SapSettings, load_sap_settings
from tests.integrations.sap.sap_server import (
    SOAP_PATH,
    TOKEN_PATH,
    SapServer,
    SapState,
    Service,
    load_service,
)

SERVICES = (
    "API_BUSINESS_PARTNER",
    "API_PRODUCT_SRV",
    "API_PURCHASEORDER_PROCESS_SRV",
    "API_PURCHASECONTRACT_PROCESS_SRV_0002",
    "API_INFORECORD_PROCESS_SRV",
)
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
UNITS = ("KG", "EA", "M", "TO", "L")
PER = (Decimal(1), Decimal(10), Decimal(100), Decimal(1000))


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 1000, high * 1000)) / Decimal(1000)


def _changed(rng: random.Random) -> dt.datetime:
    return START + dt.timedelta(seconds=rng.randint(0, 700 * 86400))


def generate(seed: int = 7) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Generate suppliers, products, 300 purchase orders, contracts and info records."""
    rng = random.Random(seed)
    suppliers = [
        {
            "Supplier": f"{1000000 + i}",
            "SupplierName": f"Supplier {i} GmbH",
            "SupplierFullName": f"Supplier {i} Gesellschaft mbH",
            "SupplierAccountGroup": "KRED",
            "PurchasingIsBlocked": i % 9 == 0,
            "DeletionIndicator": False,
            "CreationDate": (START - dt.timedelta(days=i)).date(),
        }
        for i in range(1, 31)
    ]
    products = []
    for i in range(1, 61):
        descriptions = [
            {"Product": f"MAT-{i:04d}", "Language": "DE", "ProductDescription": f"Teil {i}"}
        ]
        if i % 4:
            descriptions.append(
                {"Product": f"MAT-{i:04d}", "Language": "EN", "ProductDescription": f"Part {i}"}
            )
        products.append(
            {
                "Product": f"MAT-{i:04d}",
                "ProductType": "ROH",
                "ProductGroup": f"L{i % 5:03d}",
                "BaseUnit": UNITS[i % len(UNITS)],
                "LastChangeDateTime": _changed(rng),
                "to_Description": descriptions,
            }
        )
    orders = []
    for i in range(1, 301):
        number = f"{4500000000 + i}"
        currency = rng.choice(("EUR", "EUR", "USD", "CHF"))
        items = []
        for n in range(1, rng.randint(1, 4) + 1):
            unit = rng.choice(UNITS)
            items.append(
                {
                    "PurchaseOrder": number,
                    "PurchaseOrderItem": f"{n * 10:05d}",
                    "Material": f"MAT-{rng.randint(1, 60):04d}",
                    "MaterialGroup": "L001",
                    "Plant": "1010",
                    "PurchaseOrderItemText": f"Line {n} of {number}",
                    "OrderQuantity": Decimal(rng.randint(1, 5000)) / Decimal(10),
                    "PurchaseOrderQuantityUnit": unit,
                    "OrderPriceUnit": unit,
                    "NetPriceAmount": _money(rng, 1, 9000),
                    "NetPriceQuantity": rng.choice(PER),
                    "DocumentCurrency": currency,
                }
            )
        changed = _changed(rng)
        orders.append(
            {
                "PurchaseOrder": number,
                "CompanyCode": rng.choice(("1010", "1710")),
                "PurchaseOrderType": "NB",
                "Supplier": rng.choice(suppliers)["Supplier"],
                "PurchasingOrganization": "1010",
                "DocumentCurrency": currency,
                "PurchaseOrderDate": (changed - dt.timedelta(days=rng.randint(0, 30))).date(),
                "CreationDate": (changed - dt.timedelta(days=31)).date(),
                "LastChangeDateTime": changed,
                "PaymentTerms": "0001",
                "IncotermsClassification": rng.choice(("EXW", "FCA", "DAP")),
                "to_PurchaseOrderItem": items,
            }
        )
    contracts = []
    for i in range(1, 21):
        number = f"{4600000000 + i}"
        start = (START + dt.timedelta(days=rng.randint(0, 300))).date()
        contracts.append(
            {
                "PurchaseContract": number,
                "PurchaseContractType": "MK",
                "CompanyCode": "1010",
                "Supplier": rng.choice(suppliers)["Supplier"],
                "DocumentCurrency": "EUR",
                "ValidityStartDate": start,
                "ValidityEndDate": start + dt.timedelta(days=365),
                "LastChangeDateTime": _changed(rng),
                "to_PurchaseContractItem": [
                    {
                        "PurchaseContract": number,
                        "PurchaseContractItem": f"{n * 10:05d}",
                        "Material": f"MAT-{rng.randint(1, 60):04d}",
                        "OrderPriceUnit": "KG",
                        "OrderQuantityUnit": "KG",
                        "ContractNetPriceAmount": _money(rng, 1, 900),
                        "NetPriceQuantity": rng.choice(PER),
                        "TargetQuantity": Decimal(rng.randint(100, 9000)),
                        "DocumentCurrency": "EUR",
                        "Plant": "1010",
                    }
                    for n in range(1, rng.randint(1, 3) + 1)
                ],
            }
        )
    info_records = []
    for i in range(1, 41):
        number = f"{5300000000 + i}"
        supplier = rng.choice(suppliers)["Supplier"]
        material = f"MAT-{rng.randint(1, 60):04d}"
        info_records.append(
            {
                "PurchasingInfoRecord": number,
                "Supplier": supplier,
                "Material": material,
                "PurgDocOrderQuantityUnit": "EA",
                "LastChangeDateTime": _changed(rng),
                "to_PurgInfoRecdOrgPlantData": [
                    {
                        "PurchasingInfoRecord": number,
                        "PurchasingInfoRecordCategory": "0",
                        "PurchasingOrganization": "1010",
                        "Plant": plant,
                        "Supplier": supplier,
                        "Material": material,
                        "Currency": "EUR",
                        "NetPriceAmount": _money(rng, 1, 500),
                        "MaterialPriceUnitQty": rng.choice(PER),
                        "PurchaseOrderPriceUnit": "EA",
                        "PriceValidityEndDate": dt.date(9999, 12, 31),
                    }
                    for plant in ("1010", "1710")[: rng.randint(1, 2)]
                ],
            }
        )
    return {
        "API_BUSINESS_PARTNER": {"A_Supplier": suppliers},
        "API_PRODUCT_SRV": {"A_Product": products},
        "API_PURCHASEORDER_PROCESS_SRV": {"A_PurchaseOrder": orders},
        "API_PURCHASECONTRACT_PROCESS_SRV_0002": {"A_PurchaseContract": contracts},
        "API_INFORECORD_PROCESS_SRV": {"A_PurchasingInfoRecord": info_records},
    }


@pytest.fixture(scope="session")
def services() -> dict[str, Service]:
    """The five OData services, read from the real EDMX files once."""
    return {name: load_service(name) for name in SERVICES}


@pytest.fixture(scope="session")
def sap_data() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The generated data the loopback SAP serves."""
    return generate()


@pytest.fixture
def sap_state(
    services: dict[str, Service], sap_data: dict[str, dict[str, list[dict[str, Any]]]]
) -> SapState:
    """A fresh server state over the shared data."""
    return SapState(data=sap_data, services=services)


@pytest.fixture
def sap_server(sap_state: SapState) -> Iterator[SapServer]:
    """The loopback SAP, started for one test."""
    server = SapServer(sap_state).start()
    yield server
    server.stop()


@pytest.fixture
def make_settings(sap_server: SapServer) -> Callable[..., SapSettings]:
    """Settings for the loopback SAP (basic auth unless overridden)."""

    def make(**overrides: Any) -> SapSettings:
        values: dict[str, Any] = {
            "base_url": sap_server.url,
            "user": sap_server.state.user,
            "password": sap_server.state.password,
            "sap_client": "100",
            "timeout_seconds": 5,
            "backoff_seconds": 0.01,
            "max_backoff_seconds": 0.05,
            "max_retry_after_seconds": 5,
            "soap_url": sap_server.origin + SOAP_PATH,
            "_env_file": None,
        }
        values.update(overrides)
        if values.get("token_url") == "loopback":
            values["token_url"] = sap_server.origin + TOKEN_PATH
        return load_sap_settings(**values)

    return make
