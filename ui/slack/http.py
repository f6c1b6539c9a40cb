"""HTTP mode: Slack's events, interactivity and slash commands at ``POST /slack/events``."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient

from core.settings import Settings
from store.db import Database
from ui.slack.bot import build_slack_app
from ui.slack.settings import SlackSettings, get_slack_settings

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# The same problem-type base as the API's problem+json (ui may not import api).
NOT_CONFIGURED = {
    "type": "https://pricing-agent.dev/problems/slack-not-configured",
    "title": "Slack not configured",
    "status": 503,
    "detail": "The Slack bot is not configured on this server: set SLACK_BOT_TOKEN and "
    "SLACK_SIGNING_SECRET (or run `pricing-agent slack socket` for Socket Mode).",
}


def mount_slack(
    app: FastAPI,
    *,
    database: Database,
    settings: Settings,
    slack_settings: SlackSettings | None = None,
    client: WebClient | None = None,
    as_of: dt.date | Callable[[], dt.date] | None = None,
) -> None:
    """Add ``POST /slack/events`` to ``app``: Bolt when Slack is configured, else 503.

    Bolt verifies each request's signature and timestamp (401 when bad or older than
    5 minutes) and answers ``url_verification``. The Bolt app is built here, once per
    FastAPI app and without any network call, so this is safe for many apps per process.
    """
    slack_settings = slack_settings or get_slack_settings()
    has_token = slack_settings.bot_token is not None or (
        client is not None and client.token is not None
    )
    bolt: App | None = None
    if has_token and slack_settings.signing_secret is not None:
        bolt = build_slack_app(database, settings, slack_settings, client, as_of=as_of)
    elif has_token or slack_settings.signing_secret is not None:
        log.warning("Slack is half configured (bot token and signing secret go together)")

    async def slack_events(request: Request) -> Response:
        if bolt is None:
            return JSONResponse(
                NOT_CONFIGURED, status_code=503, media_type="application/problem+json"
            )
        body = await request.body()
        # Bolt's dispatch is synchronous: it verifies the request, acks and leaves the work
        # to its executor threads, but the app's first request also waits for
        # ``auth.test`` over the network. A worker thread keeps the event loop free of it.
        answer = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(answer)

    app.add_api_route(
        EVENTS_PATH,
        slack_events,
        methods=["POST"],
        include_in_schema=False,  # Slack's endpoint, not part of the public REST API
        name="slack_events",
    )
