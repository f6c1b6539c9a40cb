"""Settings: defaults, URL handling, and refusal of placeholder secrets."""

from __future__ import annotations

import pytest

from core.errors import ConfigurationError
from core.settings import is_placeholder, load_settings


def test_defaults_mean_embedded_store_and_offline_llm(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "PRICING_AGENT_ORG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    settings = load_settings()
    assert settings.embedded
    assert not settings.llm_configured
    assert settings.default_org == "demo"
    assert settings.db_app_role == "pricing_app"


def test_env_file_is_read(monkeypatch, tmp_path):
    monkeypatch.delenv("PRICING_AGENT_ORG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("PRICING_AGENT_ORG=acme\nPRICING_AGENT_DATA_DIR=/tmp/x\n")
    settings = load_settings()
    assert settings.default_org == "acme"
    assert str(settings.data_dir) == "/tmp/x"


@pytest.mark.parametrize(
    "value", ["changeme", "your-api-key-here", "sk-...", "<your key>", "xxxx", "TODO", "  "]
)
def test_placeholder_secrets_are_refused(value):
    if value.strip():
        with pytest.raises(ConfigurationError, match=r"openai_api_key.*placeholder"):
            load_settings(openai_api_key=value)
    assert is_placeholder(value)


def test_real_looking_key_is_accepted_and_hidden():
    settings = load_settings(openai_api_key="sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c")
    assert settings.llm_configured
    assert "4f9a8b7c" not in repr(settings)


def test_database_url_is_normalised_validated_and_secret():
    settings = load_settings(database_url="postgresql://owner:s3cret@db.internal:5432/pricing")
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value().startswith("postgresql+psycopg://")
    assert not settings.embedded
    assert "s3cret" not in repr(settings)
    with pytest.raises(ConfigurationError, match="database_url"):
        load_settings(database_url="mysql://x@y/z")
    with pytest.raises(ConfigurationError, match="not a valid database URL") as info:
        load_settings(database_url="postgresql://u:pw1234@host:notaport/db")
    assert "pw1234" not in str(info.value)


def test_role_name_must_be_an_identifier():
    with pytest.raises(ConfigurationError, match="db_app_role"):
        load_settings(db_app_role='app"; DROP TABLE x; --')
