"""The HTTP service's own settings (``PRICING_AGENT_API_`` environment variables)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Limits that protect the service from its callers (and callers from each other)."""

    model_config = SettingsConfigDict(
        env_prefix="PRICING_AGENT_API_", env_file=".env", extra="ignore"
    )

    rate_limit_per_minute: int = Field(
        default=1200, ge=1, description="Sustained requests per minute allowed to one API key."
    )
    rate_limit_burst: int = Field(
        default=120, ge=1, description="Requests one key may send at once above the rate."
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest JSON request body."
    )
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="Largest import file upload."
    )
    page_max: int = Field(default=500, ge=1, description="Largest page of a list endpoint.")
    key_touch_seconds: int = Field(
        default=60, ge=1, description="How often a key's last_used_at is stamped at most."
    )


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    """Return the process-wide API settings."""
    return ApiSettings()
