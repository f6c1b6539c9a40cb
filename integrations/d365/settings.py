"""Settings of the Dynamics 365 Finance & Operations connector, read from ``D365_*``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.settings import is_placeholder, load_section


class D365Settings(BaseSettings):
    """Where the Dynamics 365 environment is and how to sign in. The secret has no default."""

    model_config = SettingsConfigDict(
        env_prefix="D365_", env_file=".env", extra="ignore", populate_by_name=True
    )

    resource_url: Annotated[
        str,
        Field(
            min_length=1,
            description="The environment, e.g. https://contoso.operations.dynamics.com; "
            "the OData service is <resource_url>/data and the token scope <resource_url>/.default.",
        ),
    ]
    tenant_id: Annotated[str, Field(min_length=1, description="Entra ID tenant (GUID or domain).")]
    client_id: Annotated[str, Field(min_length=1, description="The app registration's id.")]
    client_secret: Annotated[
        SecretStr | None,
        Field(default=None, description="The app registration's secret; required to connect."),
    ]
    authority_host: Annotated[
        str,
        Field(
            default="https://login.microsoftonline.com",
            description="Entra ID host; the authority is <authority_host>/<tenant_id>.",
        ),
    ]
    companies: Annotated[
        list[str],
        NoDecode,
        Field(
            default_factory=list,
            description="dataAreaIds to read; empty reads every company (cross-company=true).",
        ),
    ]
    page_size: Annotated[
        int, Field(default=1000, gt=0, le=10_000, description="Prefer: odata.maxpagesize.")
    ]
    timeout_seconds: Annotated[float, Field(default=60.0, gt=0)]
    max_retries: Annotated[
        int, Field(default=4, ge=0, le=10, description="Retries on 429, 5xx and transport errors.")
    ]
    backoff_cap_seconds: Annotated[
        float,
        Field(default=30.0, ge=0, description="Longest wait between retries (Retry-After too)."),
    ]
    lookback_days: Annotated[
        int,
        Field(
            default=30,
            ge=0,
            description="Purchase orders are re-read from (watermark - lookback) by "
            "AccountingDate, because the entities carry no change timestamp.",
        ),
    ]
    skip_canceled_orders: Annotated[bool, Field(default=True)]
    # Entities outside the standard four whose public collection names differ between
    # versions and customisations: check them in the environment's $metadata.
    price_agreements_entity: Annotated[
        str, Field(default="PurchasePriceAgreements", min_length=1, pattern=r"^\w+$")
    ]
    requisition_headers_entity: Annotated[
        str, Field(default="PurchaseRequisitionHeaders", min_length=1, pattern=r"^\w+$")
    ]
    requisition_lines_entity: Annotated[
        str, Field(default="PurchaseRequisitionLines", min_length=1, pattern=r"^\w+$")
    ]
    ca_bundle: Annotated[
        Path | None,
        Field(
            default=None,
            description="PEM file of CAs to trust for both the authority and the OData service "
            "(a private CA, or a loopback test server); unset: the system store.",
        ),
    ]

    @field_validator("resource_url", "authority_host")
    @classmethod
    def _https_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        if not url.lower().startswith("https://"):
            raise ValueError("must be an https:// URL")
        return url

    @field_validator("companies", mode="before")
    @classmethod
    def _split_companies(cls, value: object) -> object:
        # Accept "usmf, demf" from the environment as well as a JSON list.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("companies")
    @classmethod
    def _lower_companies(cls, value: list[str]) -> list[str]:
        # dataAreaIds are case-insensitive in D365 and returned in lower case.
        return [company.lower() for company in value]

    @field_validator("client_secret")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and is_placeholder(value.get_secret_value()):
            raise ValueError("is a placeholder, not a real secret")
        return value

    @property
    def authority(self) -> str:
        """The Entra ID authority URL for the tenant."""
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def scope(self) -> str:
        """The client-credentials scope of the environment."""
        return f"{self.resource_url}/.default"

    @property
    def service_root(self) -> str:
        """The OData v4 service root."""
        return f"{self.resource_url}/data"


def load_d365_settings(**overrides: object) -> D365Settings:
    """Read the D365 settings, turning validation failures into one ConfigurationError."""
    return load_section(D365Settings, prefix="D365_", what="Dynamics 365", **overrides)
