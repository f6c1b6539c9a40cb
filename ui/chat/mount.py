"""Mount the Chainlit chat on a FastAPI app (the service's ``/chat``).

Chainlit is one server per process, configured from a folder it reads when first
imported (``CHAINLIT_APP_ROOT``). The mount therefore prepares that folder in the data
folder (the shipped ``config.toml``, uploads, the login-token secret) before importing
Chainlit, and later mounts in the same process reuse the one server.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI

from core.settings import Settings
from store.db import Database
from ui.chat.runtime import ChatRuntime, configure
from ui.chat.settings import ChatSettings, get_chat_settings

log = logging.getLogger(__name__)
CONFIG = Path(__file__).with_name("config.toml")
CALLBACKS = Path(__file__).with_name("app.py")
# Chainlit starts its own Slack, Teams and Discord bots when their variables are set; ours
# is the Slack bot at /slack/events, so Chainlit must not see them while it is imported.
_FOREIGN_BOT_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_WEBSOCKET_TOKEN",
    "TEAMS_APP_ID",
    "TEAMS_APP_PASSWORD",
    "DISCORD_BOT_TOKEN",
)
_lock = threading.Lock()
_mounted_path: str | None = None


def chat_folder(settings: Settings) -> Path:
    """The chat's folder in the data folder: its config, uploads and secret."""
    return settings.data_dir / "chat"


def _prepare_folder(folder: Path) -> None:
    (folder / ".chainlit").mkdir(parents=True, exist_ok=True)
    target = folder / ".chainlit" / "config.toml"
    shipped = CONFIG.read_text(encoding="utf-8")
    if not target.exists() or target.read_text(encoding="utf-8") != shipped:
        target.write_text(shipped, encoding="utf-8")


def _auth_secret(folder: Path, chat: ChatSettings) -> str:
    if chat.auth_secret is not None:
        return chat.auth_secret.get_secret_value()
    if os.environ.get("CHAINLIT_AUTH_SECRET"):
        return os.environ["CHAINLIT_AUTH_SECRET"]
    path = folder / "auth_secret"
    if not path.exists():
        # Created private from the start: the secret signs every login token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@contextmanager
def _without_foreign_bots() -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in _FOREIGN_BOT_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def mount_chat(
    app: FastAPI,
    *,
    database: Database,
    settings: Settings,
    chat: ChatSettings | None = None,
) -> bool:
    """Serve the chat at ``chat.path`` of ``app``; return False when it is switched off."""
    global _mounted_path  # noqa: PLW0603 - Chainlit is one server per process
    chat = chat or get_chat_settings()
    if not chat.enabled:
        return False
    with _lock:
        configure(ChatRuntime(database=database, settings=settings, chat=chat))
        if _mounted_path is None:
            folder = chat_folder(settings)
            _prepare_folder(folder)
            if "chainlit.config" in sys.modules:
                log.warning(
                    "Chainlit was imported before the chat was mounted: it reads its folder "
                    "from %s, not %s",
                    os.environ.get("CHAINLIT_APP_ROOT", os.getcwd()),
                    folder,
                )
            os.environ.setdefault("CHAINLIT_APP_ROOT", str(folder))
            os.environ["CHAINLIT_AUTH_SECRET"] = _auth_secret(folder, chat)
            with _without_foreign_bots():
                from chainlit.utils import mount_chainlit

                mount_chainlit(app=app, target=str(CALLBACKS), path=chat.path)
                from chainlit.server import app as chainlit_app

                from ui.chat import kept

                kept.install(chainlit_app)
            _mounted_path = chat.path
            log.info("chat mounted at %s (folder %s)", chat.path, folder)
            return True
        if chat.path != _mounted_path:
            raise RuntimeError(
                f"the chat is already served at {_mounted_path} in this process; "
                f"it cannot also be at {chat.path}"
            )
        from chainlit.server import app as chainlit_app

        app.mount(chat.path, chainlit_app)
        return True
