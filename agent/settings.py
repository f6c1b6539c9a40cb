"""The agent's own settings (``AGENT_`` environment variables)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AgentSettings(BaseSettings):
    """Limits of one turn."""

    model_config = SettingsConfigDict(env_prefix="AGENT_", env_file=".env", extra="ignore")

    max_steps: int = Field(
        default=8, ge=1, le=50, description="Model calls per turn before the turn is stopped."
    )
    max_tool_output_chars: int = Field(
        default=12_000, ge=1_000, description="Longer tool results are cut before the model."
    )


@lru_cache(maxsize=1)
def get_agent_settings() -> AgentSettings:
    """Return the process-wide agent settings."""
    return AgentSettings()
