"""``pricing-agent slack link-workspace|link-user``: real processes against the test store."""

from __future__ import annotations

import uuid
from typing import Any

from store import orgs
from store.db import Database
from store.users import create_user, slack_person


def test_link_a_workspace_and_a_member(database: Database, cli: Any) -> None:
    name = f"slack-cli-{uuid.uuid4().hex[:8]}"
    with database.owner_session() as session:
        org_id = orgs.create_org(session=session, name=name).id
    with database.session_scope(org_id) as session:
        create_user(
            session=session, org_id=org_id, email="chief@example.com", role="admin", actor="test"
        )

    missing = cli("slack", "link-workspace", "TCLI00001", check=False)
    assert missing.returncode == 2
    assert "--org" in missing.stderr

    linked = cli("slack", "link-workspace", "TCLI00001", "--org", name, "--default-role", "buyer")
    assert linked.returncode == 0, linked.stderr
    assert f"linked Slack workspace TCLI00001 to {name}" in linked.stdout
    member = cli(
        "slack",
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
