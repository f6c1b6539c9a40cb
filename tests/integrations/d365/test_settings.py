"""D365 settings: environment names, https only, no working secret default."""

from __future__ import annotations

import pytest

from core.errors import ConfigurationError
from integrations.d365 import D365Settings, load_d365_settings


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D365_RESOURCE_URL", "https://contoso.operations.dynamics.com/")
    monkeypatch.setenv("D365_TENANT_ID", "t-1")
    monkeypatch.setenv("D365_CLIENT_ID", "c-1")
    monkeypatch.setenv("D365_CLIENT_SECRET", "a-real-looking-secret")
    monkeypatch.setenv("D365_COMPANIES", "USMF, demf")
    settings = D365Settings()
    assert settings.resource_url == "https://contoso.operations.dynamics.com"
    assert settings.scope == "https://contoso.operations.dynamics.com/.default"
    assert settings.service_root == "https://contoso.operations.dynamics.com/data"
    assert settings.authority == "https://login.microsoftonline.com/t-1"
    assert settings.companies == ["usmf", "demf"]
    assert settings.client_secret is not None
    assert "a-real-looking-secret" not in repr(settings)


def test_secret_has_no_default_and_placeholders_are_refused() -> None:
    base = {"resource_url": "https://x.operations.dynamics.com", "tenant_id": "t", "client_id": "c"}
    assert load_d365_settings(**base).client_secret is None
    with pytest.raises(ConfigurationError, match="D365_CLIENT_SECRET"):
        load_d365_settings(**base, client_secret="changeme")


def test_plain_http_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"D365_RESOURCE_URL: .*https"):
        load_d365_settings(resource_url="http://x", tenant_id="t", client_id="c")
