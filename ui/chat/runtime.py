"""What the Chainlit callbacks run against: the store and settings of the mounting app.

Chainlit's callbacks are module-level functions of a process-wide server, so the app
that mounts the chat registers its store here; the last app mounted is the one served.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import Settings
from store.db import Database
from ui.chat.settings import ChatSettings


@dataclass(frozen=True, slots=True)
class ChatRuntime:
    """The store and settings the chat serves."""

    database: Database
    settings: Settings
    chat: ChatSettings


_current: ChatRuntime | None = None


def configure(runtime: ChatRuntime) -> None:
    """Make ``runtime`` the one the chat callbacks use."""
    global _current  # noqa: PLW0603 - one chat server per process, by Chainlit's design
    _current = runtime


def current() -> ChatRuntime:
    """Return the registered runtime; the chat is never served before one is."""
    if _current is None:
        raise RuntimeError("the chat is not mounted: call ui.chat.mount.mount_chat first")
    return _current
