"""The Bolt app of the pricing assistant's Slack bot, shared by HTTP and Socket Mode."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from core.errors import ConfigurationError, ExternalServiceError
from core.settings import Settings
from store.db import Database
from ui.slack.handlers import SlackBot
from ui.slack.settings import SlackSettings, get_slack_settings


def web_client(slack_settings: SlackSettings, client: WebClient | None = None) -> WebClient:
    """The Web API client the bot posts with: ``client`` if given, else one from settings."""
    token = slack_settings.bot_token.get_secret_value() if slack_settings.bot_token else None
    if client is not None:
        if client.token is None and token is not None:
            # Keep the caller's endpoint and options, add the configured token.
            return WebClient(
                token=token, base_url=client.base_url, timeout=client.timeout, proxy=client.proxy
            )
        return client
    made = WebClient(token=token, base_url=slack_settings.api_url)
    # chat.update is rate-limited (about 1/s per channel): wait and retry once when told to.
    made.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    return made


def build_slack_app(
    database: Database,
    settings: Settings,
    slack_settings: SlackSettings | None = None,
    client: WebClient | None = None,
    *,
    as_of: dt.date | Callable[[], dt.date] | None = None,
    verify_token: bool = False,
) -> App:
    """Build the Bolt app with the bot's listeners; ConfigurationError without a bot token.

    ``verify_token=False`` (the default) makes no network call here: the API builds the
    app at start-up (and tests build many), and Bolt then calls ``auth.test`` once, at
    the first request, keeping its answer. Socket Mode passes True to fail fast on a
    bad token. ``as_of`` fixes the date questions are asked as of (default: today, UTC).
    """
    slack_settings = slack_settings or get_slack_settings()
    web = web_client(slack_settings, client)
    if web.token is None:
        raise ConfigurationError("Slack is not configured: set SLACK_BOT_TOKEN (xoxb-...)")
    secret = slack_settings.signing_secret
    try:
        app = App(
            client=web,
            # Without a secret every HTTP request fails verification (Socket Mode needs none).
            signing_secret=secret.get_secret_value() if secret else "",
            token_verification_enabled=verify_token,
            name="pricing-agent",
        )
    except BoltError as exc:
        raise ExternalServiceError(f"Slack refused the bot token: {exc}") from None
    SlackBot(database, settings, slack_settings, as_of=as_of).register(app)
    return app
