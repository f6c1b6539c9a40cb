"""The SAP connector against a loopback SAP Gateway serving the real EDMX metadata."""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import pytest

from core.errors import ConfigurationError, ExternalServiceError
from integrations.base import (
    ContractPriceRecord,
    ContractPriceUpdate,
    Entity,
    ERPConnector,
    ItemRecord,
    PriceRecord,
    PurchaseOrderLineRecord,
    Rejected,
    RequisitionDraft,
    SupplierRecord,
)
from integrations.sap import SapConnector, SapSettings
from integrations.sap.connector import sap_price
from integrations.sap.odata import (
    datetime_literal,
    datetimeoffset_literal,
    entity_set_fields,
    parse_date,
    parse_datetime,
    parse_decimal,
)
from tests.integrations.sap.sap_server import (
    REQUISITION_EDMX,
    Fault,
    Raw,
    SapServer,
    SapState,
    service_from_edmx,
)

Data = dict[str, dict[str, list[dict[str, Any]]]]
MakeSettings = Callable[..., SapSettings]


def expected_lines(orders: Iterable[dict[str, Any]]) -> list[PurchaseOrderLineRecord]:
    """The lines the served orders hold, computed from the generator's Python values."""
    return [
        PurchaseOrderLineRecord(
            po_number=o["PurchaseOrder"],
            line_number=i["PurchaseOrderItem"],
            supplier_code=o["Supplier"],
            item_code=i["Material"],
            description=i["PurchaseOrderItemText"],
            quantity=i["OrderQuantity"],
            unit=i["PurchaseOrderQuantityUnit"],
            unit_price=i["NetPriceAmount"] / i["NetPriceQuantity"],
            currency=i["DocumentCurrency"],
            order_date=o["PurchaseOrderDate"],
            changed_at=o["LastChangeDateTime"],
            company=o["CompanyCode"],
            payment_terms=o["PaymentTerms"],
            incoterm=o["IncotermsClassification"],
        )
        for o in sorted(orders, key=lambda o: o["PurchaseOrder"])
        for i in o["to_PurchaseOrderItem"]
    ]


def core_fields(line: PurchaseOrderLineRecord) -> tuple[Any, ...]:
    return (
        line.po_number,
        line.line_number,
        line.supplier_code,
        line.item_code,
        line.description,
        line.quantity,
        line.unit,
        line.unit_price,
        line.currency,
        line.order_date,
        line.changed_at,
        line.company,
        line.payment_terms,
        line.incoterm,
    )


def read_lines(connector: SapConnector, since: dt.datetime | None = None) -> list[Any]:
    return list(connector.purchase_order_lines(since))


def test_connector_satisfies_the_protocol(make_settings: MakeSettings) -> None:
    connector = SapConnector(make_settings())
    assert isinstance(connector, ERPConnector)
    assert connector.system == "sap"
    connector.close()


def test_full_read_equals_the_served_orders(
    make_settings: MakeSettings, sap_data: Data, sap_state: SapState
) -> None:
    connector = SapConnector(make_settings())
    lines = read_lines(connector)
    connector.close()
    orders = sap_data["API_PURCHASEORDER_PROCESS_SRV"]["A_PurchaseOrder"]
    assert not [r for r in lines if isinstance(r, Rejected)]
    assert [core_fields(r) for r in lines] == [core_fields(r) for r in expected_lines(orders)]
    first = lines[0]
    assert isinstance(first.unit_price, Decimal)
    assert isinstance(first.quantity, Decimal)
    assert isinstance(first.order_date, dt.date)
    assert not isinstance(first.order_date, dt.datetime)
    assert first.changed_at is not None
    assert first.changed_at.tzinfo is not None
    # Every request named the SAP client and asked for the inline count.
    gets = [p for m, p in sap_state.requests if m == "GET"]
    assert all("sap-client=100" in p and "inlinecount=allpages" in p for p in gets)


def test_incremental_read_returns_only_later_changed_orders(
    make_settings: MakeSettings, sap_data: Data, sap_state: SapState
) -> None:
    orders = sap_data["API_PURCHASEORDER_PROCESS_SRV"]["A_PurchaseOrder"]
    since = dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC)
    later = [o for o in orders if o["LastChangeDateTime"] >= since]
    assert 0 < len(later) < len(orders)
    connector = SapConnector(make_settings())
    lines = read_lines(connector, since)
    connector.close()
    assert [core_fields(r) for r in lines] == [core_fields(r) for r in expected_lines(later)]
    assert all(r.changed_at >= since for r in lines)
    assert any(
        "LastChangeDateTime+ge+datetimeoffset%272025-03-01T12%3A30%3A00Z%27" in p
        for _, p in sap_state.requests
    )


def test_paging_by_skip_reads_every_page(
    make_settings: MakeSettings, sap_data: Data, sap_state: SapState
) -> None:
    connector = SapConnector(make_settings(page_size=40))
    lines = read_lines(connector)
    connector.close()
    orders = sap_data["API_PURCHASEORDER_PROCESS_SRV"]["A_PurchaseOrder"]
    assert [core_fields(r) for r in lines] == [core_fields(r) for r in expected_lines(orders)]
    skips = [p for m, p in sap_state.requests if "A_PurchaseOrder?" in p]
    assert len(skips) == 8  # 300 orders, 40 a page
    assert any("%24skip=280" in p or "$skip=280" in p for p in skips)


def test_paging_follows_next_links_with_skiptoken(
    make_settings: MakeSettings, sap_data: Data, sap_state: SapState
) -> None:
    sap_state.paging = "skiptoken"
    sap_state.server_page = 37
    connector = SapConnector(make_settings())
    lines = read_lines(connector)
    connector.close()
    orders = sap_data["API_PURCHASEORDER_PROCESS_SRV"]["A_PurchaseOrder"]
    assert [core_fields(r) for r in lines] == [core_fields(r) for r in expected_lines(orders)]
    pages = [p for m, p in sap_state.requests if "A_PurchaseOrder?" in p]
    assert len(pages) == 9  # ceil(300 / 37)
    assert sum("skiptoken" in p for p in pages) == 8


def test_price_per_n_units_is_divided_out(
    make_settings: MakeSettings, sap_state: SapState, sap_data: Data
) -> None:
    order = copy.deepcopy(sap_data["API_PURCHASEORDER_PROCESS_SRV"]["A_PurchaseOrder"][0])
    order["to_PurchaseOrderItem"] = [
        {
            **order["to_PurchaseOrderItem"][0],
            "PurchaseOrderItem": "00010",
            "NetPriceAmount": Raw("1234.500"),
            "NetPriceQuantity": Raw("1000"),
        },
        {
            **order["to_PurchaseOrderItem"][0],
            "PurchaseOrderItem": "00020",
            "NetPriceAmount": Raw("99.990"),
            "NetPriceQuantity": Raw("1"),
        },
    ]
    sap_state.data = {"API_PURCHASEORDER_PROCESS_SRV": {"A_PurchaseOrder": [order]}}
    connector = SapConnector(make_settings())
    lines = read_lines(connector)
    connector.close()
    assert [r.unit_price for r in lines] == [Decimal("1.2345"), Decimal("99.99")]
    assert str(lines[0].unit_price) == "1.2345"


def test_malformed_records_are_rejected_and_the_rest_read(
    make_settings: MakeSettings, sap_state: SapState, sap_data: Data
) -> None:
    orders = copy.deepcopy(sap_data["API_PURCHASEORDER_PROCESS_SRV"]["A_PurchaseOrder"][:20])
    orders[1]["to_PurchaseOrderItem"][0]["NetPriceAmount"] = Raw("12,50")
    orders[2]["to_PurchaseOrderItem"][0]["NetPriceQuantity"] = Raw("0")
    orders[3]["PurchaseOrderDate"] = Raw("/Date(yesterday)/")
    orders[4]["Supplier"] = None
    del orders[5]["to_PurchaseOrderItem"][0]["PurchaseOrderItem"]
    orders[6]["to_PurchaseOrderItem"][0]["OrderQuantity"] = Raw("1.2.3")
    sap_state.data = {"API_PURCHASEORDER_PROCESS_SRV": {"A_PurchaseOrder": orders}}
    connector = SapConnector(make_settings())
    out = read_lines(connector)
    connector.close()
    rejected = [r for r in out if isinstance(r, Rejected)]
    reasons = {r.key: r.reason for r in rejected}
    assert all(r.entity is Entity.PURCHASE_ORDERS for r in rejected)
    n1, n2, n3, n4, n5, n6 = (o["PurchaseOrder"] for o in orders[1:7])
    assert "NetPriceAmount" in reasons[f"{n1}/00010"]
    assert "12,50" in reasons[f"{n1}/00010"]
    assert "per zero units" in reasons[f"{n2}/00010"]
    assert "PurchaseOrderDate" in reasons[n3]
    assert "Supplier is missing" in reasons[n4]
    assert "PurchaseOrderItem is missing" in reasons[n5]
    assert "OrderQuantity" in reasons[f"{n6}/00010"]
    assert len(rejected) == 6
    bad = next(r for r in rejected if r.key == f"{n1}/00010")
    assert bad.raw["NetPriceAmount"] == "12,50"
    good = [r for r in out if isinstance(r, PurchaseOrderLineRecord)]
    total_lines = sum(len(o["to_PurchaseOrderItem"]) for o in orders)
    assert len(good) == total_lines - 4 - len(orders[3]["to_PurchaseOrderItem"]) - len(
        orders[4]["to_PurchaseOrderItem"]
    )
    untouched = [orders[0], *orders[7:]]
    assert {core_fields(r) for r in expected_lines(untouched)} <= {core_fields(r) for r in good}


def test_suppliers_items_contracts_and_info_records(
    make_settings: MakeSettings, sap_data: Data
) -> None:
    connector = SapConnector(make_settings(page_size=25))
    suppliers = list(connector.suppliers())
    items = list(connector.items())
    contracts = list(connector.contract_prices())
    prices = list(connector.price_records())
    since = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    later_items = list(connector.items(since))
    connector.close()

    served = sap_data["API_BUSINESS_PARTNER"]["A_Supplier"]
    assert [s.code for s in suppliers if isinstance(s, SupplierRecord)] == [
        s["Supplier"] for s in served
    ]
    assert {s.code for s in suppliers if isinstance(s, SupplierRecord) and s.blocked} == {
        s["Supplier"] for s in served if s["PurchasingIsBlocked"]
    }

    products = sap_data["API_PRODUCT_SRV"]["A_Product"]
    by_code = {i.code: i for i in items if isinstance(i, ItemRecord)}
    assert len(by_code) == len(products)
    assert by_code["MAT-0001"].description == "Part 1"  # English chosen
    assert by_code["MAT-0004"].description == "Teil 4"  # only German: the first
    assert by_code["MAT-0001"].unit == products[0]["BaseUnit"]
    assert by_code["MAT-0001"].changed_at == products[0]["LastChangeDateTime"]
    assert {i.code for i in later_items if isinstance(i, ItemRecord)} == {
        p["Product"] for p in products if p["LastChangeDateTime"] >= since
    }

    expected_contracts = {
        (c["PurchaseContract"], i["PurchaseContractItem"]): (
            c["Supplier"],
            i["Material"],
            i["ContractNetPriceAmount"] / i["NetPriceQuantity"],
            c["ValidityStartDate"],
            c["ValidityEndDate"],
        )
        for c in sap_data["API_PURCHASECONTRACT_PROCESS_SRV_0002"]["A_PurchaseContract"]
        for i in c["to_PurchaseContractItem"]
    }
    assert {
        (c.contract_number, c.line_number): (
            c.supplier_code,
            c.item_code,
            c.unit_price,
            c.valid_from,
            c.valid_to,
        )
        for c in contracts
        if isinstance(c, ContractPriceRecord)
    } == expected_contracts

    expected_prices = {
        f"{r['PurchasingInfoRecord']}/0/1010/{p['Plant']}": (
            r["Supplier"],
            r["Material"],
            p["NetPriceAmount"] / p["MaterialPriceUnitQty"],
            p["Currency"],
            p["PriceValidityEndDate"],
        )
        for r in sap_data["API_INFORECORD_PROCESS_SRV"]["A_PurchasingInfoRecord"]
        for p in r["to_PurgInfoRecdOrgPlantData"]
    }
    assert {
        p.record_key: (p.supplier_code, p.item_code, p.unit_price, p.currency, p.valid_to)
        for p in prices
        if isinstance(p, PriceRecord)
    } == expected_prices


def test_429_with_retry_after_is_retried(make_settings: MakeSettings, sap_state: SapState) -> None:
    sap_state.faults.append(
        Fault("A_Supplier", 429, times=1, headers={"Retry-After": "1"}, message="Too many")
    )
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    connector = SapConnector(make_settings(), sleep=sleep)
    started = time.monotonic()
    suppliers = list(connector.suppliers())
    connector.close()
    assert len(suppliers) == 30
    assert slept == [1.0]
    assert time.monotonic() - started >= 1.0


def test_long_retry_after_fails_fast_with_a_clear_error(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    sap_state.faults.append(Fault("A_Supplier", 429, times=1, headers={"Retry-After": "3600"}))
    connector = SapConnector(make_settings())
    started = time.monotonic()
    with pytest.raises(ExternalServiceError, match=r"retry after 3600 s, longer than the 5 s"):
        list(connector.suppliers())
    connector.close()
    assert time.monotonic() - started < 2


def test_500_is_retried_then_succeeds(make_settings: MakeSettings, sap_state: SapState) -> None:
    sap_state.faults.append(Fault("A_Product", 500, times=2))
    connector = SapConnector(make_settings())
    items = list(connector.items())
    connector.close()
    assert len(items) == 60
    assert sum("A_Product?" in p for _, p in sap_state.requests) == 3


def test_persistent_503_gives_up_with_sap_message(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    sap_state.faults.append(Fault("A_Product", 503, times=10, message="Service unavailable"))
    connector = SapConnector(make_settings(max_retries=2))
    with pytest.raises(
        ExternalServiceError, match=r"HTTP 503 after 3 attempts.*Service unavailable"
    ):
        list(connector.items())
    connector.close()


def test_401_says_the_credentials_were_refused(make_settings: MakeSettings) -> None:
    connector = SapConnector(make_settings(password="wrong-password"))
    with pytest.raises(ExternalServiceError, match="SAP refused the credentials") as info:
        list(connector.suppliers())
    connector.close()
    assert "wrong-password" not in str(info.value)


def test_unknown_field_is_a_clear_sap_error(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    connector = SapConnector(make_settings())
    with pytest.raises(ExternalServiceError, match=r"HTTP 400 \[/IWBEP/CM_MGW_RT/021\]: Property"):
        list(connector.odata.get_collection("API_BUSINESS_PARTNER", "A_Supplier", select=["Nope"]))
    connector.close()


def test_csrf_write_flow_fetches_sends_and_refetches(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    connector = SapConnector(make_settings())
    update = ContractPriceUpdate(
        contract_number="4600000001",
        line_number="00010",
        unit_price=Decimal("12.345"),
        currency="EUR",
        unit="KG",
    )
    result = connector.update_contract_price(update)
    assert result.system == "sap"
    assert result.document_id == "4600000001"
    assert sap_state.csrf_fetches == 1
    method, path, body = sap_state.writes[-1]
    assert method == "MERGE"
    assert path == (
        "API_PURCHASECONTRACT_PROCESS_SRV_0002/"
        "A_PurchaseContractItem(PurchaseContract='4600000001',PurchaseContractItem='00010')"
    )
    assert body["ContractNetPriceAmount"] == "12.345"
    assert body["NetPriceQuantity"] == "1"

    # The same token is reused; once the session expires SAP refuses it and the
    # connector fetches a new one, once.
    connector.update_contract_price(update)
    assert sap_state.csrf_fetches == 1
    sap_state.rotate_csrf()
    connector.update_contract_price(update)
    assert sap_state.csrf_rejections == 1
    assert sap_state.csrf_fetches == 2
    assert len(sap_state.writes) == 3
    connector.close()


def test_create_requisition_posts_with_csrf(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    sap_state.services = {
        **sap_state.services,
        "API_PURCHASEREQ_PROCESS_SRV": service_from_edmx(
            "API_PURCHASEREQ_PROCESS_SRV", REQUISITION_EDMX
        ),
    }
    connector = SapConnector(make_settings())
    result = connector.create_requisition(
        RequisitionDraft(
            item_code="MAT-0001",
            quantity=Decimal("250"),
            unit="KG",
            unit_price=Decimal("3.10"),
            currency="EUR",
            supplier_code="1000001",
            need_by_date=dt.date(2026, 7, 1),
            plant="1010",
        )
    )
    connector.close()
    assert result.document_id == "10000042"
    method, path, body = sap_state.writes[-1]
    assert (method, path) == ("POST", "API_PURCHASEREQ_PROCESS_SRV/A_PurchaseRequisitionHeader")
    assert sap_state.csrf_fetches == 1
    item = body["to_PurchaseReqnItem"]["results"][0]
    assert item["RequestedQuantity"] == "250"
    assert item["FixedSupplier"] == "1000001"
    assert item["DeliveryDate"] == "/Date(1782864000000)/"


def test_oauth_token_is_fetched_once_and_reused(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    settings = make_settings(
        token_url="loopback",
        client_id=sap_state.client_id,
        client_secret=sap_state.client_secret,
        user=None,
        password=None,
        page_size=50,
    )
    connector = SapConnector(settings)
    assert len(read_lines(connector)) > 300
    assert len(list(connector.suppliers())) == 30
    connector.update_contract_price(
        ContractPriceUpdate("4600000002", "00010", Decimal("1.5"), "EUR", "KG")
    )
    connector.close()
    assert sap_state.token_calls == 1
    assert len(sap_state.requests) == 10  # token, 6 pages, suppliers, CSRF, MERGE


def test_oauth_bad_client_secret_is_a_clear_error(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    settings = make_settings(
        token_url="loopback",
        client_id=sap_state.client_id,
        client_secret="not-the-secret",
        user=None,
        password=None,
    )
    connector = SapConnector(settings)
    with pytest.raises(ExternalServiceError, match="refused the client credentials"):
        list(connector.suppliers())
    connector.close()


def test_connection_refused_is_retried_then_reported(sap_server: SapServer) -> None:
    port = sap_server.origin.rsplit(":", 1)[1]
    sap_server.stop()
    settings = SapSettings(
        base_url=f"http://127.0.0.1:{port}/sap/opu/odata/sap",
        user="u",
        password=Secret("p-123456"),
        max_retries=2,
        backoff_seconds=0.01,
        _env_file=None,
    )
    connector = SapConnector(settings)
    with pytest.raises(ExternalServiceError, match=r"cannot connect.*after 3 attempts"):
        list(connector.suppliers())
    connector.close()


def Secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def test_settings_refuse_placeholders_and_missing_credentials() -> None:
    with pytest.raises(ConfigurationError, match="placeholder"):
        SapSettingsFactory(password="changeme")
    with pytest.raises(ConfigurationError, match="no credentials"):
        SapSettingsFactory(user=None, password=None)
    with pytest.raises(ConfigurationError, match="together"):
        SapSettingsFactory(token_url="https://login.example/token", client_id="x")
    settings = SapSettingsFactory()
    assert settings.page_size == 1000
    assert settings.max_retries == 4
    assert "s3cret" not in repr(settings)


def SapSettingsFactory(**overrides: Any) -> SapSettings:
    from integrations.sap.settings import load_sap_settings

    values: dict[str, Any] = {
        "base_url": "https://sap.example/sap/opu/odata/sap",
        "user": "buyer",
        "password": "s3cret-pass",
        "_env_file": None,
    }
    values.update(overrides)
    return load_sap_settings(**values)


def test_wire_values_parse_exactly() -> None:
    assert parse_datetime("/Date(1704067200000)/") == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert parse_datetime("/Date(1704067200000+0000)/") == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert parse_datetime("/Date(1704067200000+0060)/") == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert parse_date("/Date(1704067200000)/") == dt.date(2024, 1, 1)
    assert parse_decimal("12.500") == Decimal("12.500")
    assert str(parse_decimal("0.10")) == "0.10"
    with pytest.raises(ValueError, match="not a decimal"):
        parse_decimal(0.1)
    with pytest.raises(ValueError, match="not a decimal"):
        parse_decimal("NaN-ish")
    assert datetime_literal(dt.date(2024, 1, 1)) == "datetime'2024-01-01T00:00:00'"
    assert (
        datetimeoffset_literal(
            dt.datetime(2024, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        )
        == "datetimeoffset'2024-01-01T00:00:00Z'"
    )


def test_create_requisition_without_the_service_is_a_clear_error(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    connector = SapConnector(make_settings())
    draft = RequisitionDraft(
        item_code="MAT-0001", quantity=Decimal(1), unit="KG", unit_price=Decimal(1), currency="EUR"
    )
    with pytest.raises(ExternalServiceError, match="offers no purchase-requisition service"):
        connector.create_requisition(draft)
    connector.close()
    assert sap_state.writes == []


def test_oauth_token_revoked_early_is_fetched_again_once(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    settings = make_settings(
        token_url="loopback",
        client_id=sap_state.client_id,
        client_secret=sap_state.client_secret,
        user=None,
        password=None,
    )
    connector = SapConnector(settings)
    assert len(list(connector.suppliers())) == 30
    sap_state.tokens.clear()  # SAP forgot the token before it expired
    assert len(list(connector.suppliers())) == 30
    connector.close()
    assert sap_state.token_calls == 2


def test_metadata_is_the_real_edmx(make_settings: MakeSettings) -> None:
    connector = SapConnector(make_settings())
    fields = entity_set_fields(connector.odata.metadata("API_PURCHASEORDER_PROCESS_SRV"))
    connector.close()
    assert {"LastChangeDateTime", "PurchaseOrderDate", "to_PurchaseOrderItem"} <= fields[
        "A_PurchaseOrder"
    ]
    assert {"NetPriceAmount", "NetPriceQuantity"} <= fields["A_PurchaseOrderItem"]


def test_a_price_finer_than_three_decimals_goes_per_ten_hundred_or_thousand_units(
    make_settings: MakeSettings, sap_state: SapState
) -> None:
    connector = SapConnector(make_settings())
    update = ContractPriceUpdate(
        contract_number="4600000001",
        line_number="00010",
        unit_price=Decimal("4.409245"),
        currency="EUR",
        unit="KG",
    )
    result = connector.update_contract_price(update)
    connector.close()
    body = sap_state.writes[-1][2]
    assert (body["ContractNetPriceAmount"], body["NetPriceQuantity"]) == ("4409.245", "1000")
    assert result.message is None  # exact: nothing was rounded
    assert sap_price(Decimal("1.23456789")) == (Decimal("12345.679"), 10_000)
    assert sap_price(Decimal("1.23456789"), priced_per=1) == (Decimal("1.235"), 1)
