"""The command line as an operator uses it: real processes against the test store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from core.settings import Settings
from tests.conftest import FIXTURES, SAMPLE


def test_org_key_and_import_workflow(cli, tmp_path):
    org = f"cli-{uuid.uuid4().hex[:8]}"
    assert "created organisation" in cli("orgs", "create", org).stdout
    again = cli("orgs", "create", org.upper(), check=False)
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: organisation {org.upper()!r} already exists"

    key = cli("keys", "create", "--org", org, "--role", "viewer").stdout.strip().splitlines()
    assert key[-1].startswith("pa_")
    assert len(key[-1]) > 40

    path = tmp_path / "bad.csv"
    shutil.copy(FIXTURES / "quotes_with_bad_rows.csv", path)
    proc = cli("import", "quotes", str(path), "--org", org)
    assert "read 16 rows, imported 4 (4 new" in proc.stdout
    assert "rejected 12" in proc.stdout
    assert "line 4: supplier is missing" in proc.stdout
    assert (tmp_path / "bad.rejected.csv").exists()


def test_import_with_map_options_and_json(cli, tmp_path):
    org = f"cli-{uuid.uuid4().hex[:8]}"
    cli("orgs", "create", org)
    path = tmp_path / "slice.csv"
    shutil.copy(FIXTURES / "indot_slice_30.csv", path)
    args = ["import", "quotes", str(path), "--org", org, "--json"]
    maps = [
        "Bid Date=quote_date",
        "ProjectID=rfq",
        "Pay Item=item",
        "Description=item_description",
        "Unit Price=unit_price",
        "Bidder Name=supplier",
    ]
    for m in maps:
        args += ["--map", m]
    import json

    result = json.loads(cli(*args).stdout)
    assert (result["rows_read"], result["inserted"], result["rejected"]) == (30, 30, 0)
    again = json.loads(
        cli(
            "import", "quotes", str(path), "--org", org, "--mapping", "indot_bidtabs", "--json"
        ).stdout
    )
    # Same rows under the shipped mapping: nothing new, and only attribute names differ.
    assert again["inserted"] == 0


def test_errors_are_one_line_without_traceback(cli, tmp_path):
    missing = cli("import", "quotes", str(tmp_path / "nope.csv"), check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error: file not found")
    assert "Traceback" not in missing.stderr

    unknown_org = cli(
        "import",
        "quotes",
        str(FIXTURES / "indot_slice_30.csv"),
        "--org",
        "no-such-org",
        check=False,
    )
    assert unknown_org.returncode == 1
    assert "no organisation named 'no-such-org'" in unknown_org.stderr

    bad_kind = cli("import", "widgets", "x.csv", check=False)
    assert bad_kind.returncode == 2
    assert "quotes, items, index" in bad_kind.stderr

    debug = cli("--debug", "import", "quotes", str(tmp_path / "nope.csv"), check=False)
    assert "Traceback" in debug.stderr


def test_db_status_reports_current_schema(cli):
    out = cli("db", "status").stdout
    assert "embedded PostgreSQL" in out
    assert "current" in out


def test_demo_loads_trains_and_the_model_commands_work(cli):
    import json

    org = f"demo-{uuid.uuid4().hex[:8]}"
    first = cli("demo", "--org", org, "--no-serve").stdout
    assert "imported 81,239 (81,239 new" in first
    assert "81,239 quote lines from 134 suppliers on 93 items" in first
    assert "price model v1: trained on 81,239 rows" in first
    assert "forecast model v1" in first
    assert "(offline; called search_items, predict_price)" in first
    second = cli("demo", "--org", org, "--no-serve").stdout
    assert "already holds data; not reloading" in second
    assert "models already trained and active" in second
    assert (SAMPLE / "SOURCES.md").exists()

    # Honest evaluation: the model must beat both baselines measured in the same run.
    result = json.loads(
        cli(
            "evaluate", "price", "--org", org, "--split", "time", "--cutoff", "2025-06-01", "--json"
        ).stdout
    )
    assert {"rows", "folds", "group", "rmsle", "mape_median", "coverage_80"} <= set(result)
    assert result["rows"] == 81_239
    for baseline in result["baselines"].values():
        assert result["rmsle"] < baseline["rmsle"]
    assert 0.7 < result["coverage_80"] < 0.9

    forecast = json.loads(
        cli(
            "evaluate",
            "forecast",
            "--org",
            org,
            "--series",
            "WPU1333",
            "--horizon",
            "3",
            "--origins",
            "4",
            "--json",
        ).stdout
    )
    assert {row["model"] for row in forecast} == {"random_walk", "seasonal_naive", "ets", "prophet"}
    assert sum(row["chosen"] for row in forecast) == 1

    cli("train", "price", "--org", org)
    listed = cli("models", "list", "--org", org).stdout
    assert "price     v2   active" in listed
    assert "price     v1   retired" in listed
    assert "v1 is active again" in cli("models", "rollback", "price", "--org", org).stdout
    bad = cli("evaluate", "price", "--org", org, "--split", "time", check=False)
    assert bad.returncode == 1

    # One agent turn from the terminal, as one JSON object, then a follow-up in its thread.
    asked = json.loads(cli("ask", "Compare the bids on B -40276-A", "--org", org, "--json").stdout)
    assert set(asked) == {"answer", "tool_calls", "thread_id", "mode"}
    assert asked["mode"] == "offline"
    assert asked["tool_calls"] == [{"name": "compare_quotes", "args": {"rfq": "B -40276-A"}}]
    follow = json.loads(
        cli(
            "ask",
            "and the second lowest bidder?",
            "--org",
            org,
            "--thread",
            asked["thread_id"],
            "--json",
        ).stdout
    )
    assert follow["thread_id"] == asked["thread_id"]
    assert [c["name"] for c in follow["tool_calls"]] == ["supplier_scorecard"]
    refused = cli("ask", "--approve", "--org", org, check=False)
    assert refused.returncode != 0
    assert "needs --cutoff" in bad.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_ends_serving_the_api_at_the_printed_url(settings: Settings, database, sample_org):
    """The demo's last step: the API on loopback, its printed key and URL working."""
    import re
    import signal
    import time

    import httpx
    from sqlalchemy import select

    from store.models import Organization

    with database.owner_session() as session:
        org_name = session.scalar(select(Organization.name).where(Organization.id == sample_org))
    env = {
        **os.environ,
        "PRICING_AGENT_DATA_DIR": str(settings.data_dir),
        "PRICING_AGENT_DB_NAME": settings.db_name,
    }
    env.pop("DATABASE_URL", None)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "demo", "--org", org_name, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    printed: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            printed.append(line)
            if "stop with Ctrl-C" in line:
                break
        text = "".join(printed)
        assert "already holds data; not reloading" in text, text
        key = re.search(r"demo key:\s+(pa_\S+)", text)
        url = re.search(r"API docs:\s+(http://\S+)/docs", text)
        assert key, text
        assert url, text
        base = url.group(1)
        assert base == f"http://127.0.0.1:{port}"
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{base}/ready", timeout=5)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        assert ready is not None
        assert ready.status_code == 200, ready.text
        assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
        answer = httpx.post(
            f"{base}/api/v1/predictions/price",
            json={"item": "703-06029", "quantity": 5000},
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["unit"] == "lb"
        # The printed chat login works on the served chat.
        login = re.search(r"chat:\s+(http://\S+/chat)\s+\(log in as (\S+) / (\S+)\)", text)
        assert login, text
        signed_in = httpx.post(
            f"{login.group(1)}/login",
            data={"username": login.group(2), "password": login.group(3)},
            timeout=30,
        )
        assert signed_in.status_code == 200, signed_in.text
        assert "access_token" in signed_in.cookies
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
