"""Load each organisation's price model and history snapshot at start-up, off the request path.

``/ready`` answers 503 until this is done, so a load balancer sends no prediction to a
process that would pay the model's load time inside someone's request.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from sqlalchemy import text

from core.errors import PricingAgentError
from store.db import Database
from tools import price_cache

log = logging.getLogger(__name__)


class ModelWarmup:
    """Runs once in a background thread; reports what it loaded."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.loaded: list[str] = []
        self.failed: dict[str, str] = {}
        self.done = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start loading in the background."""
        self._thread = threading.Thread(target=self.run, name="model-warmup", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the warm-up has finished (tests and the demo use it)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """Load the active price model of every organisation that has one."""
        try:
            with self.database.owner_session() as session:
                orgs = [
                    row.org_id
                    for row in session.execute(
                        text(
                            "SELECT DISTINCT org_id FROM model_versions "
                            "WHERE kind = 'price' AND status = 'active'"
                        )
                    )
                ]
            for org_id in orgs:
                self._warm(org_id)
        except PricingAgentError as exc:
            self.failed["store"] = exc.message
        except Exception as exc:
            log.exception("model warm-up failed")
            self.failed["store"] = type(exc).__name__
        finally:
            self.done = True

    def _warm(self, org_id: uuid.UUID) -> None:
        try:
            with self.database.session_scope(org_id) as session:
                state = price_cache.read_state(session=session, org_id=org_id)
                price_cache.active_model(session=session, org_id=org_id, state=state)
                price_cache.snapshot(session=session, org_id=org_id, state=state)
            self.loaded.append(str(org_id))
        except PricingAgentError as exc:
            self.failed[str(org_id)] = exc.message

    def status(self) -> dict[str, Any]:
        """For /ready."""
        return {"done": self.done, "loaded": len(self.loaded), "failed": self.failed}
