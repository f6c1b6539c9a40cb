"""A throw-away PostgreSQL server on a loopback TCP port, for tests of the external-server path.

It runs pgserver's PostgreSQL 16 binaries (which ship pgvector) as a separate server that a
test reaches only through a ``postgresql://user:password@127.0.0.1:port/db`` URL, the way
a deployment with ``DATABASE_URL`` reaches its server. Password authentication
(scram-sha-256) is on for every connection, so a wrong password really fails.

PostgreSQL refuses to run as root; under root the server runs as the system user that
pgserver itself uses (``pgserver``), and the cluster's folder is handed to that user.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

SYSTEM_USER = "pgserver"
SUPERUSER = "postgres"
_START_ATTEMPTS = 3
_TIMEOUT_SECONDS = 30


class ClusterUnavailable(RuntimeError):  # noqa: N818 - reads as a condition, used to skip
    """PostgreSQL binaries are not installed, so no cluster can be started."""


def bin_dir() -> Path:
    """Return the folder of pgserver's PostgreSQL binaries, or raise ClusterUnavailable."""
    try:
        from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - pgserver is a runtime dependency
        raise ClusterUnavailable(f"pgserver is not installed: {exc}") from exc
    missing = [n for n in ("initdb", "pg_ctl", "postgres") if not (POSTGRES_BIN_PATH / n).exists()]
    if missing:
        raise ClusterUnavailable(f"{', '.join(missing)} missing from {POSTGRES_BIN_PATH}")
    return POSTGRES_BIN_PATH


@dataclass(frozen=True)
class PgCluster:
    """A running server: where it listens and its superuser's password."""

    host: str
    port: int
    password: str
    base_dir: Path

    @property
    def pgdata(self) -> Path:
        """The server's data directory."""
        return self.base_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self.base_dir / "postgres.log"

    def url(
        self,
        database: str = "postgres",
        *,
        user: str = SUPERUSER,
        password: str | None = None,
        scheme: str = "postgresql",
    ) -> str:
        """Return a connection URL (the superuser's password unless another is given)."""
        secret = self.password if password is None else password
        return (
            f"{scheme}://{quote(user, safe='')}:{quote(secret, safe='')}"
            f"@{self.host}:{self.port}/{quote(database, safe='')}"
        )

    def connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        """Open an autocommit psycopg connection as the superuser."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=SUPERUSER,
            password=self.password,
            dbname=database,
            autocommit=True,
            connect_timeout=10,
        )

    def create_database(self, name: str) -> None:
        """Create database ``name`` (owned by the superuser)."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def log_tail(self, chars: int = 3000) -> str:
        """Return the end of the server log (for failure messages)."""
        try:
            return self.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _system_user() -> str | None:
    """Return the user to run PostgreSQL as: ``pgserver`` under root, else ourselves."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _prepare_permissions(binaries: Path, base_dir: Path, user: str) -> None:
    """Let ``user`` run the binaries and own the cluster folder (as pgserver does for root)."""
    import pwd
    import stat

    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

    ensure_prefix_permissions(base_dir)
    ensure_prefix_permissions(binaries)
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(binaries, read | execute)
    ensure_folder_permissions(binaries.parent / "lib", read)
    entry = pwd.getpwnam(user)
    for path in (base_dir, *base_dir.rglob("*")):
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], *, user: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return subprocess.run(  # noqa: PLW1510 - callers check the return code
        args,
        user=user,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=_TIMEOUT_SECONDS,
    )


def _stop(binaries: Path, pgdata: Path, *, user: str | None, cwd: Path) -> None:
    """Stop the server if it runs: a fast shutdown, then an immediate one if that fails."""
    for mode in ("fast", "immediate"):
        if not (pgdata / "postmaster.pid").exists():
            return
        stop = _run(
            [str(binaries / "pg_ctl"), "-D", str(pgdata), "-m", mode, "-w", "stop"],
            user=user,
            cwd=cwd,
        )
        if stop.returncode == 0:
            return


@contextlib.contextmanager
def running_cluster(host: str = "127.0.0.1") -> Iterator[PgCluster]:
    """Initialise and start a password-protected server; stop and delete it on exit."""
    binaries = bin_dir()
    user = _system_user()
    # Directly under the temp folder: short socket paths, and no private parent folder
    # (pytest's are 0700) that the server's user would need opened up.
    base_dir = Path(tempfile.mkdtemp(prefix="pricing-pgcluster-"))
    pgdata = base_dir / "pgdata"
    socket_dir = base_dir / "sock"
    socket_dir.mkdir()
    password = secrets.token_urlsafe(24)
    pwfile = base_dir / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    cluster: PgCluster | None = None
    try:
        if user is not None:
            _prepare_permissions(binaries, base_dir, user)
        init = _run(
            [
                str(binaries / "initdb"),
                "-D", str(pgdata),
                "-U", SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=user,
            cwd=base_dir,
        )  # fmt: skip
        pwfile.unlink()
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout}")

        errors: list[str] = []
        for _ in range(_START_ATTEMPTS):
            # Another process may take the port between probing and binding; try anew.
            port = _free_port(host)
            cluster = PgCluster(host=host, port=port, password=password, base_dir=base_dir)
            options = (
                f"-h {host} -p {port} -k {socket_dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            start = _run(
                [
                    str(binaries / "pg_ctl"),
                    "-D", str(pgdata),
                    "-w", "-t", str(_TIMEOUT_SECONDS),
                    "-o", options,
                    "-l", str(cluster.log_file),
                    "start",
                ],
                user=user,
                cwd=base_dir,
            )  # fmt: skip
            if start.returncode == 0:
                break
            errors.append(f"port {port}: {start.stdout.strip()}\n{cluster.log_tail()}")
            _stop(binaries, pgdata, user=user, cwd=base_dir)
        else:
            raise RuntimeError("the test PostgreSQL did not start:\n" + "\n---\n".join(errors))
        yield cluster
    finally:
        try:
            _stop(binaries, pgdata, user=user, cwd=base_dir)
        finally:
            shutil.rmtree(base_dir, ignore_errors=True)
