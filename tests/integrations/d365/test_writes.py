"""Writes: a requisition (header then line) and a trade-agreement price PATCH."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import ExternalServiceError, NotFoundError
from integrations.base import ContractPriceUpdate, RequisitionDraft, WriteResult
from integrations.d365 import D365Connector
from tests.integrations.d365.conftest import make_settings
from tests.integrations.d365.peers import ODataServer, TokenServer


def test_create_requisition_posts_header_then_line(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> None:
    settings = make_settings(token_server, odata_server, certificate[0], companies=["usmf"])
    conn = D365Connector(settings, sleep=lambda _: None)
    draft = RequisitionDraft(
        item_code="I-100",
        quantity=Decimal("12.500"),
        unit="t",
        unit_price=Decimal("801.123456789012345"),
        currency="USD",
        supplier_code="V-001",
        need_by_date=dt.date(2024, 6, 30),
        plant="SITE1",
        note="Approved by buyer A",
    )
    try:
        result = conn.create_requisition(draft)
    finally:
        conn.close()
    assert result == WriteResult(
        system="d365", document_id="PR-000001", message="draft requisition"
    )
    posts = [r for r in odata_server.requests if r["method"] == "POST"]
    assert [r["path"] for r in posts] == [
        "/data/PurchaseRequisitionHeaders",
        "/data/PurchaseRequisitionLines",
    ]
    assert posts[0]["body"] == {"RequisitionName": "Approved by buyer A"}
    assert posts[1]["body"] == {
        "RequisitionNumber": "PR-000001",
        "LineNumber": 1,
        "ItemNumber": "I-100",
        "RequestedPurchaseQuantity": Decimal("12.500"),
        "PurchaseUnitSymbol": "t",
        "PurchasePrice": Decimal("801.123456789012345"),  # exact on the wire
        "PurchasePriceQuantity": 1,
        "CurrencyCode": "USD",
        "BuyingLegalEntityId": "usmf",
        "VendorAccountNumber": "V-001",
        "RequestedDate": "2024-06-30T00:00:00Z",
        "ReceivingSiteId": "SITE1",
        "LineDescription": "Approved by buyer A",
    }
    assert odata_server.entities["PurchaseRequisitionLines"][0]["ItemNumber"] == "I-100"


def test_requisition_line_refused_names_the_created_header(
    connector: D365Connector, odata_server: ODataServer
) -> None:
    draft = RequisitionDraft(
        item_code="I-100", quantity=Decimal(1), unit="t", unit_price=Decimal(1), currency="USD"
    )
    connector.create_requisition(draft)  # PR-000001
    odata_server.faults = []

    original = odata_server._create

    def refuse_lines(entity_set: str, body: object) -> tuple[int, object, dict[str, str]]:
        if entity_set == "PurchaseRequisitionLines":
            return 400, {"error": {"code": "", "message": "Item I-100 is stopped."}}, {}
        return original(entity_set, body)

    odata_server._create = refuse_lines  # type: ignore[method-assign]
    with pytest.raises(ExternalServiceError, match=r"requisition PR-000002 was created.*stopped"):
        connector.create_requisition(draft)


def test_update_contract_price_patches_the_agreement_line(
    connector: D365Connector, odata_server: ODataServer
) -> None:
    update = ContractPriceUpdate(
        contract_number="TAJ-1",
        line_number="2",
        unit_price=Decimal("777.77"),
        currency="USD",
        unit="t",
        valid_from=dt.date(2024, 7, 1),
    )
    result = connector.update_contract_price(update)
    assert result == WriteResult(
        system="d365", document_id="TAJ-1", message="line 2 in usmf updated"
    )
    patch = next(r for r in odata_server.requests if r["method"] == "PATCH")
    assert patch["path"] == (
        "/data/PurchasePriceAgreements(dataAreaId='usmf',"
        "TradeAgreementJournalNumber='TAJ-1',LineNumber=2)"
    )
    assert patch["body"] == {
        "Price": Decimal("777.77"),
        "PriceCurrencyCode": "USD",
        "QuantityUnitSymbol": "t",
        "PurchasePriceQuantity": 1,
        "PriceApplicableFromDate": "2024-07-01T00:00:00Z",
    }
    # The read-back shows the new price per one unit.
    prices = [r for r in connector.contract_prices() if not hasattr(r, "reason")]
    line_two = next(p for p in prices if p.line_number == "2")
    assert line_two.unit_price == Decimal("777.77")


def test_update_of_an_unknown_agreement_line_is_not_found(connector: D365Connector) -> None:
    update = ContractPriceUpdate(
        contract_number="TAJ-404", line_number="1", unit_price=Decimal(1), currency="USD", unit="t"
    )
    with pytest.raises(NotFoundError, match="TAJ-404 line 1"):
        connector.update_contract_price(update)


def test_an_environment_with_other_entity_names_is_configured_not_patched(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> None:
    # This environment publishes the V2 requisition entities (the peer knows only V1):
    # the POST goes to the configured name, and its 404 comes back as a clear error.
    settings = make_settings(
        token_server,
        odata_server,
        certificate[0],
        requisition_headers_entity="PurchaseRequisitionHeadersV2",
    )
    conn = D365Connector(settings, sleep=lambda _: None)
    draft = RequisitionDraft(
        item_code="I-100", quantity=Decimal(1), unit="ea", unit_price=Decimal(1), currency="USD"
    )
    try:
        with pytest.raises(NotFoundError, match="PurchaseRequisitionHeadersV2: not found"):
            conn.create_requisition(draft)
    finally:
        conn.close()
    posts = [r["path"] for r in odata_server.requests if r["method"] == "POST"]
    assert posts == ["/data/PurchaseRequisitionHeadersV2"]
