"""``pricing-agent slack …``: run the bot in Socket Mode, link workspaces and members."""

from __future__ import annotations

import getpass
import sys
import uuid
from typing import Annotated

import typer
from rich.console import Console

from core.settings import get_settings
from store import orgs, users
from store.db import Database

slack_app = typer.Typer(help="The Slack bot.", no_args_is_help=True)

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

# Linking decides who sees an organisation's prices: the organisation is always named.
OrgOption = Annotated[str, typer.Option("--org", help="Organisation name.")]


def _database() -> Database:
    return Database(get_settings())


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _org_id(db: Database, name: str) -> tuple[uuid.UUID, str]:
    with db.owner_session() as session:
        org = orgs.get_org(session=session, name=name)
        return org.id, org.name


@slack_app.command("socket")
def socket() -> None:
    """Run the bot in Socket Mode (needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN)."""
    from ui.slack.settings import get_slack_settings
    from ui.slack.socket import run_socket_mode

    settings = get_settings()
    slack_settings = get_slack_settings()
    db = Database(settings)
    err.print("Slack bot connecting in Socket Mode; Ctrl+C stops it.", highlight=False)
    try:
        run_socket_mode(db, settings, slack_settings)
    except KeyboardInterrupt:
        err.print("stopped", highlight=False)
    finally:
        db.dispose()


@slack_app.command("link-workspace")
def link_workspace(
    team_id: Annotated[str, typer.Argument(help="Slack team id, like T0123ABCD.")],
    org: OrgOption,
    name: Annotated[str | None, typer.Option("--name", help="Workspace name.")] = None,
    default_role: Annotated[
        str,
        typer.Option(
            "--default-role", help="Role of members not linked to a user: viewer, buyer, admin."
        ),
    ] = "viewer",
) -> None:
    """Link a Slack workspace to an organisation: its members may then ask the bot."""
    db = _database()
    org_id, org_name = _org_id(db, org)
    with db.session_scope(org_id) as session:
        users.link_slack_workspace(
            session=session,
            org_id=org_id,
            team_id=team_id,
            actor=_actor(),
            name=name,
            default_role=default_role,
        )
    out.print(
        f"linked Slack workspace {team_id} to {org_name}; members not linked to a user "
        f"have the role {default_role}",
        highlight=False,
    )


@slack_app.command("link-user")
def link_user(
    email: Annotated[str, typer.Argument(help="E-mail of a user of the organisation.")],
    team: Annotated[str, typer.Option("--team", help="Slack team id of a linked workspace.")],
    slack_user: Annotated[str, typer.Option("--slack-user", help="Slack user id, like U0123.")],
    org: OrgOption,
) -> None:
    """Say which Slack member a user is: in Slack they then act with the user's role."""
    db = _database()
    org_id, org_name = _org_id(db, org)
    with db.session_scope(org_id) as session:
        user = users.link_slack_user(
            session=session,
            org_id=org_id,
            email=email,
            team_id=team,
            slack_user_id=slack_user,
            actor=_actor(),
        )
        role = user.role
    out.print(
        f"linked Slack member {slack_user} of {team} to {email} ({role}) in {org_name}",
        highlight=False,
    )
