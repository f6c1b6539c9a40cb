"""``pricing-agent slack link-workspace|link-user``: real processes against the test store."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from core.settings import Settings
from store import orgs
from store.db import Database
from store.users import create_user, slack_person

RUN_SLACK_APP = "from ui.slack.cli import slack_app; slack_app(prog_name='pricing-agent slack')"


def slack_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the Slack sub-commands in a process of their own, against the test store."""
    env = {
        **os.environ,
        "PRICING_AGENT_DATA_DIR": str(settings.data_dir),
        "PRICING_AGENT_DB_NAME": settings.db_name,
    }
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", RUN_SLACK_APP, *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
    )


def test_link_a_workspace_and_a_member(settings: Settings, database: Database) -> None:
    name = f"slack-cli-{uuid.uuid4().hex[:8]}"
    with database.owner_session() as session:
        org_id = orgs.create_org(session=session, name=name).id
    with database.session_scope(org_id) as session:
        create_user(
            session=session, org_id=org_id, email="chief@example.com", role="admin", actor="test"
        )

    missing = slack_cli(settings, "link-workspace", "TCLI00001")
    assert missing.returncode == 2
    assert "--org" in missing.stderr

    linked = slack_cli(
        settings, "link-workspace", "TCLI00001", "--org", name, "--default-role", "buyer"
    )
    assert linked.returncode == 0, linked.stderr
    assert f"linked Slack workspace TCLI00001 to {name}" in linked.stdout
    member = slack_cli(
        settings,
        "link-user",
        "chief@example.com",
        "--team",
        "TCLI00001",
        "--slack-user",
        "UCHIEF001",
        "--org",
        name,
    )
    assert member.returncode == 0, member.stderr
    assert "UCHIEF001" in member.stdout

    with database.unscoped_session() as session:
        anyone = slack_person(session=session, team_id="TCLI00001", slack_user_id="UANYONE01")
        chief = slack_person(session=session, team_id="TCLI00001", slack_user_id="UCHIEF001")
    assert (anyone.org_id, anyone.role, anyone.user_id) == (org_id, "buyer", None)
    assert (chief.org_id, chief.role, chief.email) == (org_id, "admin", "chief@example.com")
