"""Socket Mode: the bot over a websocket Slack opens, for installs without a public URL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from core.errors import ConfigurationError
from core.settings import Settings
from store.db import Database
from ui.slack.bot import build_slack_app
from ui.slack.settings import SlackSettings, get_slack_settings


def socket_mode_handler(
    database: Database,
    settings: Settings,
    slack_settings: SlackSettings | None = None,
    client: WebClient | None = None,
    *,
    as_of: dt.date | Callable[[], dt.date] | None = None,
) -> SocketModeHandler:
    """The Socket Mode handler of the bot (not yet connected); checks the bot token once."""
    slack_settings = slack_settings or get_slack_settings()
    if slack_settings.app_token is None:
        raise ConfigurationError("Socket Mode needs SLACK_APP_TOKEN (an app-level xapp- token)")
    app = build_slack_app(
        database, settings, slack_settings, client, as_of=as_of, verify_token=True
    )
    return SocketModeHandler(app, app_token=slack_settings.app_token.get_secret_value())


def run_socket_mode(
    database: Database,
    settings: Settings,
    slack_settings: SlackSettings | None = None,
    client: WebClient | None = None,
) -> None:
    """Connect to Slack in Socket Mode and serve until interrupted."""
    handler = socket_mode_handler(database, settings, slack_settings, client)
    try:
        handler.start()  # type: ignore[no-untyped-call]  # blocks; listeners run on threads
    finally:
        handler.close()  # type: ignore[no-untyped-call]
