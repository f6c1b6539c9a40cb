"""Logging set-up: one call, idempotent, quiet by default."""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | int = "WARNING") -> None:
    """Configure the root logger once; later calls only change the level."""
    root = logging.getLogger()
    if not any(getattr(h, "_pricing_agent", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._pricing_agent = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # pgserver logs every pg_ctl call at INFO; keep it out unless debugging.
    logging.getLogger("pgserver").setLevel(max(root.level, logging.WARNING))
