"""The embedded store: created on first use, reused by the next run, stopped at exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from store import migrate

ROOT = Path(__file__).resolve().parents[2]


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRICING_AGENT_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        check=True,
    )


def _postgres_running_in(pgdata: Path) -> bool:
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(proc.info["cmdline"] or []):
            return True
    return False


def test_embedded_store_is_reused_and_stopped_cleanly(tmp_path):
    data_dir = tmp_path / "data"
    pgdata = data_dir / "pgdata"

    head = migrate.head_revision()
    first = _cli(data_dir, "db", "upgrade")
    assert f"schema empty -> {head}" in first.stdout
    assert (pgdata / "PG_VERSION").exists()
    assert not _postgres_running_in(pgdata), "the server outlived the command"
    assert not (pgdata / "postmaster.pid").exists()

    _cli(data_dir, "orgs", "create", "kept-between-runs")
    second = _cli(data_dir, "orgs", "list")
    assert "kept-between-runs" in second.stdout
    again = _cli(data_dir, "db", "upgrade")
    assert f"schema {head} -> {head}" in again.stdout
    assert not _postgres_running_in(pgdata)
