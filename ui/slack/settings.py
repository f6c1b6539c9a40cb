"""Settings of the Slack bot, read from ``SLACK_*`` environment variables and `.env`."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.settings import is_placeholder, load_section


class SlackSettings(BaseSettings):
    """The Slack app's credentials and the bot's pacing. Secrets have no working defaults."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", env_file=".env", extra="ignore")

    bot_token: Annotated[
        SecretStr | None,
        Field(default=None, description="Bot token (xoxb-...): the bot posts with it."),
    ]
    signing_secret: Annotated[
        SecretStr | None,
        Field(default=None, description="Signing secret: HTTP requests are verified with it."),
    ]
    app_token: Annotated[
        SecretStr | None,
        Field(default=None, description="App-level token (xapp-...) for Socket Mode."),
    ]
    api_url: Annotated[
        str,
        Field(default="https://slack.com/api/", description="Base URL of Slack's Web API."),
    ]
    update_interval_seconds: Annotated[
        float,
        Field(
            default=1.0,
            ge=0,
            description="Least time between two edits of a reply while the answer streams "
            "(chat.update is rate-limited to about one call per second per channel).",
        ),
    ]

    @field_validator("bot_token", "signing_secret", "app_token", mode="before")
    @classmethod
    def _unset_when_blank(cls, value: object) -> object:
        # An empty SLACK_BOT_TOKEN= line in .env means "not configured", not "the token ''".
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if raw is None or not str(raw).strip() else value

    @field_validator("bot_token", "signing_secret", "app_token")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and is_placeholder(value.get_secret_value()):
            raise ValueError("is a placeholder, not a real secret; unset it to turn Slack off")
        return value

    @field_validator("app_token")
    @classmethod
    def _app_level(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token (xapp-...), not a bot or user token")
        return value

    @field_validator("api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # WebClient joins method names onto the base URL: without the slash they run together.
        return value if value.endswith("/") else value + "/"

    @property
    def http_configured(self) -> bool:
        """True when HTTP mode can run: a bot token and a signing secret."""
        return self.bot_token is not None and self.signing_secret is not None

    @property
    def socket_configured(self) -> bool:
        """True when Socket Mode can run: a bot token and an app-level token."""
        return self.bot_token is not None and self.app_token is not None


def load_slack_settings(**overrides: object) -> SlackSettings:
    """Read the Slack settings, turning validation failures into one ConfigurationError."""
    return load_section(SlackSettings, prefix="SLACK_", what="Slack", **overrides)


@lru_cache(maxsize=1)
def get_slack_settings() -> SlackSettings:
    """Return the process-wide Slack settings, read once."""
    return load_slack_settings()
