"""Settings of the market-data feed, read from ``FEED_*`` environment variables."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import is_placeholder, load_section

FeedFormat = Literal["json", "csv"]


class FeedSettings(BaseSettings):
    """Where the provider's price endpoint is and how to present the API key.

    The key has no working default; a template placeholder is refused.
    """

    model_config = SettingsConfigDict(env_prefix="FEED_", env_file=".env", extra="ignore")

    url: Annotated[str, Field(min_length=1, description="The price endpoint, http(s)://…")]
    api_key: Annotated[
        SecretStr | None,
        Field(default=None, description="Sent in ``api_key_header``; never logged."),
    ]
    api_key_header: Annotated[
        str, Field(default="X-API-Key", pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    ]
    format: Annotated[FeedFormat, Field(default="json")]
    series: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            description="Series code for a body that does not name its series.",
        ),
    ]
    source: Annotated[
        str | None,
        Field(default=None, description="Source recorded on the series; default: the URL host."),
    ]
    timeout_seconds: Annotated[float, Field(default=30.0, gt=0)]
    max_body_bytes: Annotated[int, Field(default=200_000_000, gt=0)]
    max_retries: Annotated[int, Field(default=4, ge=0, le=10)]
    backoff_seconds: Annotated[float, Field(default=0.5, ge=0)]
    max_backoff_seconds: Annotated[float, Field(default=8.0, ge=0)]
    max_retry_after_seconds: Annotated[
        float,
        Field(
            default=30.0,
            ge=0,
            description="A Retry-After longer than this fails at once instead of waiting.",
        ),
    ]

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = value.strip()
        if not url.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return url

    @field_validator("api_key")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and is_placeholder(value.get_secret_value()):
            raise ValueError("is a placeholder, not a real key")
        return value


def load_feed_settings(**overrides: object) -> FeedSettings:
    """Read feed settings, turning validation failures into one clear ConfigurationError."""
    return load_section(FeedSettings, prefix="FEED_", what="feed", **overrides)
