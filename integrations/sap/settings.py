"""Settings of the SAP connector, read from ``SAP_*`` environment variables."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import is_placeholder, load_section


class SapSettings(BaseSettings):
    """Where SAP lives and how to log in: OAuth client credentials or basic auth.

    Secrets have no working defaults; a template placeholder is refused.
    """

    model_config = SettingsConfigDict(env_prefix="SAP_", env_file=".env", extra="ignore")

    base_url: Annotated[
        str,
        Field(
            min_length=1,
            description="OData root, e.g. https://host/sap/opu/odata/sap (services below it).",
        ),
    ]
    token_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    user: str | None = None
    password: SecretStr | None = None
    sap_client: Annotated[str | None, Field(default=None, pattern=r"^\d{3}$")]
    page_size: Annotated[int, Field(default=1000, gt=0, le=5000)]
    timeout_seconds: Annotated[float, Field(default=30.0, gt=0)]
    max_retries: Annotated[int, Field(default=4, ge=0, le=10)]
    max_retry_after_seconds: Annotated[
        float,
        Field(
            default=30.0,
            ge=0,
            description="A Retry-After longer than this fails at once instead of waiting.",
        ),
    ]
    backoff_seconds: Annotated[float, Field(default=0.5, ge=0)]
    max_backoff_seconds: Annotated[float, Field(default=8.0, ge=0)]
    soap_url: str | None = None

    @field_validator("base_url", "token_url", "soap_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = value.strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return url

    @field_validator("client_secret", "password")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and is_placeholder(value.get_secret_value()):
            raise ValueError("is a placeholder, not a real secret")
        return value

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> Self:
        oauth = (self.token_url, self.client_id, self.client_secret)
        basic = (self.user, self.password)
        if all(v is not None for v in oauth):
            return self
        if any(v is not None for v in oauth):
            raise ValueError(
                "OAuth needs SAP_TOKEN_URL, SAP_CLIENT_ID and SAP_CLIENT_SECRET together"
            )
        if all(v is not None for v in basic):
            return self
        raise ValueError(
            "no credentials: set SAP_TOKEN_URL/SAP_CLIENT_ID/SAP_CLIENT_SECRET "
            "or SAP_USER/SAP_PASSWORD"
        )

    @property
    def uses_oauth(self) -> bool:
        """True when the OAuth client-credentials flow is configured."""
        return self.token_url is not None


def load_sap_settings(**overrides: object) -> SapSettings:
    """Read SAP settings, turning validation failures into one clear ConfigurationError."""
    return load_section(SapSettings, prefix="SAP_", what="SAP", **overrides)
