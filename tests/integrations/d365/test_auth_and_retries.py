"""Sign-in through msal against the loopback authority, token reuse and refresh, retries."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import AuthenticationError, ConfigurationError, ExternalServiceError
from integrations.d365 import D365Connector, D365TokenProvider
from tests.integrations.d365.conftest import CLIENT_ID, SECRET, TENANT, make_settings
from tests.integrations.d365.peers import Fault, ODataServer, TokenServer


def test_token_fetched_once_and_reused_across_calls(
    connector: D365Connector, token_server: TokenServer, odata_server: ODataServer
) -> None:
    list(connector.suppliers())
    list(connector.items())
    list(connector.purchase_order_lines())
    assert token_server.token_requests == 1
    assert len(odata_server.requests) > 10  # many pages, one token
    assert all(r["authorized"] for r in odata_server.requests)


def test_token_refreshed_after_expiry(connector: D365Connector, token_server: TokenServer) -> None:
    # msal treats a token with under five minutes left as expired: 304 s leaves 4 s in
    # which the cache must answer (a slow, shared machine needs the margin).
    token_server.expires_in = 304
    list(connector.suppliers())
    assert token_server.token_requests == 1
    list(connector.suppliers())
    assert token_server.token_requests == 1  # still 300+ seconds left: from the cache
    time.sleep(4.2)
    list(connector.suppliers())
    assert token_server.token_requests == 2


def test_wrong_secret_is_a_clear_authentication_error(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> None:
    settings = make_settings(
        token_server, odata_server, certificate[0], client_secret="not-the-right-one"
    )
    conn = D365Connector(settings, sleep=lambda _: None)
    try:
        with pytest.raises(AuthenticationError) as caught:
            list(conn.suppliers())
    finally:
        conn.close()
    message = caught.value.message
    assert TENANT in message
    assert CLIENT_ID in message
    assert "invalid_client" in message
    assert "not-the-right-one" not in message
    assert SECRET not in message
    assert token_server.refused == 1
    assert odata_server.requests == []  # nothing sent without a token


def test_missing_secret_is_a_configuration_error(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> None:
    settings = make_settings(token_server, odata_server, certificate[0], client_secret=None)
    with pytest.raises(ConfigurationError, match="D365_CLIENT_SECRET"):
        D365TokenProvider(settings)


def test_429_and_503_are_retried_honouring_retry_after(
    connector: D365Connector, odata_server: ODataServer, sleeps: list[float]
) -> None:
    odata_server.faults = [Fault(429, retry_after="2"), Fault(503)]
    suppliers = [s for s in connector.suppliers() if not hasattr(s, "reason")]
    assert len(suppliers) == 3
    assert sleeps[0] == 2.0  # Retry-After honoured
    assert 0 < sleeps[1] <= 1.0  # backoff without Retry-After: base 0.5 s, second attempt
    assert len(sleeps) == 2


def test_retry_after_is_capped(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> None:
    settings = make_settings(token_server, odata_server, certificate[0], backoff_cap_seconds=5)
    waits: list[float] = []
    conn = D365Connector(settings, sleep=waits.append)
    odata_server.faults = [Fault(429, retry_after="3600")]
    try:
        list(conn.suppliers())
    finally:
        conn.close()
    assert waits == [5.0]


def test_retries_run_out_into_a_clear_error(
    connector: D365Connector, odata_server: ODataServer, sleeps: list[float]
) -> None:
    odata_server.faults = [Fault(503) for _ in range(4)]
    with pytest.raises(
        ExternalServiceError, match=r"VendorsV2 still failing after 4 attempts \(503"
    ):
        list(connector.suppliers())
    assert len(sleeps) == 3


def test_401_mid_run_refreshes_the_token_once_and_goes_on(
    connector: D365Connector, token_server: TokenServer, odata_server: ODataServer
) -> None:
    # After the second page, every token issued so far stops working.
    odata_server.on_page = lambda number: token_server.revoke_all() if number == 2 else None
    records = list(connector.purchase_order_lines())
    assert len([r for r in records if not hasattr(r, "reason")]) == 4
    assert token_server.token_requests == 2
    refused = [r for r in odata_server.requests if not r["authorized"]]
    assert len(refused) == 1


def test_401_twice_is_an_authentication_error(
    connector: D365Connector, token_server: TokenServer, odata_server: ODataServer
) -> None:
    odata_server.faults = [Fault(401), Fault(401)]  # the service keeps refusing
    with pytest.raises(AuthenticationError, match="refused the token even after a refresh"):
        list(connector.suppliers())
    assert token_server.token_requests == 2  # one refresh, not a loop


def test_odata_error_body_becomes_a_clear_error(
    connector: D365Connector, odata_server: ODataServer
) -> None:
    odata_server.faults = [
        Fault(
            400,
            body={
                "error": {
                    "code": "",
                    "message": "An error has occurred.",
                    "innererror": {"message": "Property 'Nope' does not exist."},
                }
            },
        )
    ]
    with pytest.raises(ExternalServiceError) as caught:
        list(connector.items())
    assert "400" in caught.value.message
    assert "Property 'Nope' does not exist." in caught.value.message
    assert "/data/ReleasedProductsV2" in caught.value.message


def test_invalid_filter_reported_by_the_service(connector: D365Connector) -> None:
    with pytest.raises(ExternalServiceError, match="The query in the URI is not valid"):
        list(connector.odata.iterate("VendorsV2", filter="VendorAccountNumber eq"))


def test_numbers_are_parsed_as_decimal(connector: D365Connector) -> None:
    rows = list(
        connector.odata.iterate(
            "ReleasedProductsV2", filter="ItemNumber eq 'I-100'", cross_company=True
        )
    )
    assert rows[0]["PurchasePrice"] == Decimal("812.345678901234567891")
    assert isinstance(rows[0]["UnitCost"], Decimal)


def test_untrusted_certificate_is_refused_by_the_sign_in(
    token_server: TokenServer, odata_server: ODataServer, certificate: tuple[Path, Path]
) -> None:
    # Without the test's CA bundle the loopback certificate is not trusted: no silent bypass.
    settings = make_settings(token_server, odata_server, certificate[0], ca_bundle=None)
    conn = D365Connector(settings, sleep=lambda _: None)
    try:
        with pytest.raises(ExternalServiceError, match="unreachable"):
            list(conn.suppliers())
    finally:
        conn.close()
    assert token_server.token_requests == 0


def test_untrusted_certificate_is_refused_by_the_odata_client(
    connector: D365Connector, certificate: tuple[Path, Path], sleeps: list[float]
) -> None:
    from integrations.d365.odata import ODataClient

    strict = ODataClient(
        service_root=connector.settings.service_root,
        tokens=connector.odata._tokens,
        verify=True,
        trust_env=False,
        max_retries=1,
        sleep=sleeps.append,
    )
    try:
        with pytest.raises(ExternalServiceError, match="CERTIFICATE_VERIFY_FAILED"):
            list(strict.iterate("VendorsV2"))
    finally:
        strict.close()
    assert len(sleeps) == 1  # a refused handshake never reached the service: retried once


def test_a_post_is_not_repeated_after_a_server_error(
    connector: D365Connector, odata_server: ODataServer, sleeps: list[float]
) -> None:
    from integrations.base import RequisitionDraft

    odata_server.faults = [Fault(503)]
    draft = RequisitionDraft(
        item_code="I-100", quantity=Decimal(1), unit="t", unit_price=Decimal(1), currency="USD"
    )
    with pytest.raises(ExternalServiceError, match="503"):
        connector.create_requisition(draft)
    posts = [r for r in odata_server.requests if r["method"] == "POST"]
    assert len(posts) == 1  # a 503 may hide a created header: not sent twice
    assert sleeps == []


def test_next_link_to_another_host_is_not_followed(
    connector: D365Connector, odata_server: ODataServer
) -> None:
    odata_server.faults = [
        Fault(200, body={"value": [], "@odata.nextLink": "https://elsewhere.example/data/X"})
    ]
    with pytest.raises(ExternalServiceError, match="nextLink points to another host"):
        list(connector.suppliers())
