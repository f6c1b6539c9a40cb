"""The chat served for real: the app (with Chainlit at /chat) under uvicorn on loopback.

Browser tests drive it with Debian's Chromium through Playwright; when Chromium or
Playwright is missing they skip with the reason, and everything else still runs.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api import create_app
from api.settings import ApiSettings
from store import users
from store.db import Database
from tests.conftest import AS_OF, make_org
from ui.chat.settings import ChatSettings

CHROMIUM = "/usr/bin/chromium"
# The flags the machine notes give for headless Chromium on a closed network, as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "loopback chat password"


@dataclass(frozen=True)
class Login:
    """A person who can log in to the chat."""

    email: str
    password: str
    org_id: uuid.UUID
    user_id: int
    role: str

    @property
    def agent_user(self) -> str:
        """The owner name of their threads."""
        return f"user:{self.user_id}"


def make_login(database: Database, org_id: uuid.UUID, role: str) -> Login:
    """Create (and commit) a user with a chat password."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    with database.session_scope(org_id) as session:
        user = users.create_user(
            session=session,
            org_id=org_id,
            email=email,
            role=role,
            actor="test",
            password=PASSWORD,
            display_name=f"Test {role}",
        )
        return Login(email, PASSWORD, org_id, user.id, role)


@pytest.fixture(scope="session")
def chat_buyer(database: Database, sample_org: uuid.UUID) -> Login:
    """A buyer of the sample organisation."""
    return make_login(database, sample_org, "buyer")


@pytest.fixture(scope="session")
def chat_viewer(database: Database, sample_org: uuid.UUID) -> Login:
    """A viewer of the sample organisation."""
    return make_login(database, sample_org, "viewer")


@pytest.fixture(scope="session")
def outsider(database: Database) -> Login:
    """A buyer of another organisation."""
    return make_login(database, make_org(database, "chat-other"), "buyer")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def chat_url(database: Database, sample_org: uuid.UUID) -> Iterator[str]:
    """The served app's chat URL; answers are as of the sample's date."""
    app = create_app(
        database=database,
        api_settings=ApiSettings(rate_limit_per_minute=100_000, rate_limit_burst=10_000),
        warm_models=False,
        chat_settings=ChatSettings(as_of=AS_OF),
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="chat-server", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the chat server did not start")
        time.sleep(0.05)
    assert httpx.get(f"{base}/chat/auth/config", timeout=10).status_code == 200
    yield f"{base}/chat"
    server.should_exit = True
    thread.join(timeout=10)


def chromium_missing() -> str | None:
    """Why browser tests cannot run here, or None."""
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (Debian package 'chromium')"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright."""
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each browser step's screenshot goes (the test run's output folder)."""
    return tmp_path_factory.mktemp("chat-screenshots")
