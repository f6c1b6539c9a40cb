"""The embedded PostgreSQL server (pgserver's PostgreSQL 16 with pgvector).

Used when no DATABASE_URL is set: the server lives in the data folder, is reused by
later runs, and is stopped cleanly when the last process using it exits.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from core.errors import StoreUnavailableError

_log = logging.getLogger(__name__)

SUPERUSER = "postgres"


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server reached over its Unix socket."""

    pgdata: Path
    socket_dir: str

    def url(self, *, user: str = SUPERUSER, database: str = "postgres") -> str:
        """Return a SQLAlchemy URL for this server (trust auth over the socket)."""
        return (
            f"postgresql+psycopg://{quote(user)}@/{quote(database)}?host={quote(self.socket_dir)}"
        )


def start_embedded(data_dir: Path) -> EmbeddedServer:
    """Start (or join) the embedded server whose files live under ``data_dir``."""
    pgdata = (data_dir / "pgdata").resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailableError(f"cannot create data folder {pgdata.parent}: {exc}") from exc
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(_runtime_dir()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]

        try:
            server = get_server(pgdata, cleanup_mode="stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            log = pgdata / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StoreUnavailableError(
                f"the embedded PostgreSQL in {pgdata} did not start: {exc}\n{tail}"
            ) from exc
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir) if info.socket_dir else str(pgdata)
    _log.info("embedded PostgreSQL running in %s (socket %s)", pgdata, socket_dir)
    return EmbeddedServer(pgdata=pgdata, socket_dir=socket_dir)


def _runtime_dir() -> Path:
    path = Path("/tmp") / f"pricing-agent-runtime-{os.getuid()}"  # noqa: S108 - per-user, 0700
    path.mkdir(mode=0o700, exist_ok=True)
    return path
