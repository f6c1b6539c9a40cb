"""The agent's own settings (``AGENT_`` environment variables)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AgentSettings(BaseSettings):
    """Limits of one turn, and how long a failing language model may hold one up."""

    model_config = SettingsConfigDict(env_prefix="AGENT_", env_file=".env", extra="ignore")

    max_steps: int = Field(
        default=8, ge=1, le=50, description="Model calls per turn before the turn is stopped."
    )
    max_tool_output_chars: int = Field(
        default=12_000, ge=1_000, description="Longer tool results are cut before the model."
    )
    # The OpenAI client's own retries are off: it honours Retry-After up to two minutes and
    # retries timeouts, so a down model could hold a buyer for minutes. These bound it.
    llm_max_retries: int = Field(
        default=1,
        ge=0,
        le=3,
        description=(
            "Retries of a model call that was rate-limited, got a server error or lost its "
            "connection; a timed-out call is not retried."
        ),
    )
    llm_retry_max_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        le=30,
        description=(
            "Longest wait before a retry; a longer Retry-After means the offline planner "
            "answers at once."
        ),
    )
    llm_breaker_failures: int = Field(
        default=3,
        ge=1,
        description="Consecutive failed model calls after which the model is skipped a while.",
    )
    llm_breaker_cooldown_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long the model is skipped before one call tries it again.",
    )


@lru_cache(maxsize=1)
def get_agent_settings() -> AgentSettings:
    """Return the process-wide agent settings."""
    return AgentSettings()
