"""Settings of the chat face (env prefix ``PRICING_AGENT_CHAT_``)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChatSettings(BaseSettings):
    """How the chat is mounted and how people log in to it."""

    model_config = SettingsConfigDict(env_prefix="PRICING_AGENT_CHAT_", extra="ignore")

    enabled: bool = Field(default=True, description="Mount the chat at ``path``.")
    path: str = Field(default="/chat", pattern=r"^/[a-z0-9-]+$")
    auth_secret: SecretStr | None = Field(
        default=None,
        description="Signs login tokens; default a random one kept in the data folder.",
    )
    trusted_email_header: str | None = Field(
        default=None,
        description=(
            "Header auth behind a single-sign-on proxy: the header carrying the signed-in "
            "person's e-mail (e.g. X-Forwarded-Email). Only set this when the proxy strips "
            "the header from clients' requests."
        ),
    )
    as_of: dt.date | None = Field(
        default=None,
        description="Answer as of this date instead of today (demos on historical data).",
    )


@lru_cache
def get_chat_settings() -> ChatSettings:
    """Return the chat settings read from the environment."""
    return ChatSettings()
