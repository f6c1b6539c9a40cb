"""The ``pricing-agent`` command line: thin commands over the store.

Errors end the command with one clear line and a non-zero exit code; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import Session

from core.errors import ImportFileError, PricingAgentError
from core.logging import configure_logging
from core.settings import get_settings
from store import migrate, orgs, users
from store.db import Database
from store.importing.files import ProgressFn
from store.importing.mapping import ColumnMapping, load_mapping, parse_map_options
from store.importing.service import KINDS, import_file
from ui.slack.cli import slack_app

app = typer.Typer(
    name="pricing-agent",
    help="Pricing assistant for procurement buyers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Schema migrations.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organisations (tenants).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of an organisation.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(keys_app, name="keys")
users_app = typer.Typer(help="People who log in to the chat.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(slack_app, name="slack")

# Off a terminal rich assumes 80 columns; logs and CI read better unwrapped.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

OrgOption = Annotated[
    str | None,
    typer.Option("--org", help="Organisation name (default: PRICING_AGENT_ORG, else demo)."),
]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    configure_logging("DEBUG" if debug else get_settings().log_level)


def _database() -> Database:
    return Database(get_settings())


@contextmanager
def _tenant(org: str | None) -> Iterator[tuple[Session, uuid.UUID]]:
    """A service session of the named organisation (default from settings); commits at the end."""
    db = _database()
    org_id, _ = _org_id(db, org)
    with db.session_scope(org_id) as session:
        yield session, org_id


def _parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("must be a date like 2025-06-01", param_hint=option) from None


def _org_id(db: Database, name: str | None) -> tuple[uuid.UUID, str]:
    name = name or get_settings().default_org
    with db.owner_session() as session:
        org = orgs.get_org(session=session, name=name)
        return org.id, org.name


# --------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the store's schema (creating the embedded store if needed)."""
    db = _database()
    before = migrate.current_revision(db)
    migrate.upgrade(db, revision)
    after = migrate.current_revision(db)
    out.print(f"schema {before or 'empty'} -> {after} ({db.describe()})")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1.")],
) -> None:
    """Downgrade the store's schema."""
    db = _database()
    migrate.downgrade(db, revision)
    out.print(f"schema now at {migrate.current_revision(db) or 'empty'}")


@db_app.command("status")
def db_status() -> None:
    """Say where the store is and whether its schema is current."""
    db = _database()
    current, head = migrate.current_revision(db), migrate.head_revision()
    state = "current" if current == head else f"behind (code expects {head})"
    out.print(f"{db.describe()}: schema {current or 'empty'}, {state}")


# --------------------------------------------------------------------------- orgs and keys


@orgs_app.command("create")
def orgs_create(name: Annotated[str, typer.Argument(help="Organisation name.")]) -> None:
    """Create an organisation."""
    db = _database()
    with db.owner_session() as session:
        org = orgs.create_org(session=session, name=name)
        out.print(f"created organisation {org.name} ({org.id})")


@orgs_app.command("list")
def orgs_list() -> None:
    """List organisations."""
    from sqlalchemy import select

    from store.models import Organization

    db = _database()
    with db.owner_session() as session:
        for org in session.scalars(select(Organization).order_by(Organization.name)):
            out.print(f"{org.name}\t{org.id}")


@keys_app.command("create")
def keys_create(
    org: OrgOption = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli",
    role: Annotated[str, typer.Option(help="viewer, buyer or admin.")] = "buyer",
) -> None:
    """Create an API key; the key is printed once, alone on the last line."""
    db = _database()
    org_id, org_name = _org_id(db, org)
    with db.session_scope(org_id) as session:
        key, secret = orgs.create_api_key(
            session=session, org_id=org_id, name=name, role=role, actor="cli"
        )
        key_id = key.id
    err.print(f"API key {key_id} ({role}) for {org_name}; store it now, it is not shown again:")
    # Alone on the last line of stdout so scripts can take it with `tail -n1`.
    print(secret)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id.")], org: OrgOption = None
) -> None:
    """Revoke an API key."""
    db = _database()
    org_id, org_name = _org_id(db, org)
    with db.session_scope(org_id) as session:
        orgs.revoke_api_key(session=session, org_id=org_id, key_id=key_id, actor="cli")
    out.print(f"revoked API key {key_id} of {org_name}")


# --------------------------------------------------------------------------- users


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="The person's e-mail; their chat login.")],
    org: OrgOption = None,
    role: Annotated[str, typer.Option(help="viewer, buyer or admin.")] = "buyer",
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No chat login (Slack or header auth only).")
    ] = False,
) -> None:
    """Add a person to an organisation, with a chat password."""
    password = None if no_password else _read_password(password_stdin)
    with _tenant(org) as (session, org_id):
        user = users.create_user(
            session=session,
            org_id=org_id,
            email=email,
            role=role,
            actor="cli",
            password=password,
            display_name=name,
        )
        out.print(f"created user {user.id} {user.email} ({user.role})")


@users_app.command("set-password")
def users_set_password(
    email: Annotated[str, typer.Argument(help="The person's e-mail.")],
    org: OrgOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Set a person's chat password."""
    password = _read_password(password_stdin)
    with _tenant(org) as (session, org_id):
        users.set_password(
            session=session, org_id=org_id, email=email, password=password, actor="cli"
        )
    out.print(f"password set for {email}")


@users_app.command("list")
def users_list(org: OrgOption = None) -> None:
    """List the people of an organisation."""
    table = Table("id", "e-mail", "name", "role", "chat login", "Slack", "disabled")
    with _tenant(org) as (session, org_id):
        for user in users.list_users(session=session, org_id=org_id):
            slack = f"{user.slack_team_id}/{user.slack_user_id}" if user.slack_user_id else ""
            table.add_row(
                str(user.id),
                user.email,
                user.display_name or "",
                user.role,
                "yes" if user.password_hash else "no",
                slack,
                user.disabled_at.date().isoformat() if user.disabled_at else "",
            )
    out.print(table)


# --------------------------------------------------------------------------- import


@contextmanager
def _progress_bar() -> Iterator[ProgressFn]:
    progress = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total or None)
        progress.update(tasks[phase], completed=done, total=total or None)

    with progress:
        yield report


@app.command("import")
def import_command(
    kind: Annotated[str, typer.Argument(help="quotes, items or index.")],
    file: Annotated[Path, typer.Argument(help="CSV, CSV.gz or Excel (.xlsx) file.")],
    org: OrgOption = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help='Column mapping "Source Column=field" (repeatable).'),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(help="YAML mapping file, or a shipped one by name (indot_bidtabs)."),
    ] = None,
    date_format: Annotated[
        str | None, typer.Option(help="strftime format of date columns, e.g. %d/%m/%Y.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Name of the data source.")] = None,
    names: Annotated[
        Path | None, typer.Option(help="index only: CSV of code,name,unit,source per series.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Import quote lines, items or index series; bad rows are reported, good rows kept."""
    if kind not in KINDS:
        raise typer.BadParameter(f"must be one of {', '.join(KINDS)}", param_hint="KIND")
    if not file.is_file():  # say so before starting or reaching the store
        raise ImportFileError(f"file not found: {file}")
    column_mapping = load_mapping(mapping) if mapping else ColumnMapping()
    column_mapping = column_mapping.merged(parse_map_options(map_ or []))
    column_mapping.date_format = date_format or column_mapping.date_format
    column_mapping.source = source or column_mapping.source
    db = _database()
    org_id, org_name = _org_id(db, org)
    settings = get_settings()
    with _progress_bar() as progress, db.session_scope(org_id) as session:
        result = import_file(
            session=session,
            org_id=org_id,
            kind=kind,
            path=file,
            mapping=column_mapping,
            actor="cli",
            series_info_path=names,
            rejected_dir=settings.data_dir / "rejected",
            progress=progress,
        )
    if as_json:
        print(json.dumps(result.as_json(), indent=2))
        return
    out.print(f"[{org_name}] {result.summary()}")
    for note in result.notes:
        out.print(f"  note: {note}")
    for rejection in result.rejections[:10]:
        out.print(f"  line {rejection.line_no}: {rejection.reason}", highlight=False)
    if result.rejected > 10:
        out.print(f"  … and {result.rejected - 10:,} more")
    if result.rejected_file:
        out.print(f"  rejected rows written to {result.rejected_file}")


# --------------------------------------------------------------------------- models


evaluate_app = typer.Typer(help="Measure model accuracy honestly, with baselines.")
models_app = typer.Typer(help="The model registry: list, promote, roll back.", no_args_is_help=True)
index_app = typer.Typer(help="Market index series.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(models_app, name="models")
app.add_typer(index_app, name="index")

MODEL_KINDS = ("price", "forecast")
Group = Literal["item", "supplier", "rfq"]
Split = Literal["group", "time"]


@app.command("train")
def train_command(
    kind: Annotated[str, typer.Argument(help="price, forecast or all.")],
    org: OrgOption = None,
) -> None:
    """Train a model on the organisation's data, register it and make it active."""
    from tools import training

    if kind not in (*MODEL_KINDS, "all"):
        raise typer.BadParameter("must be price, forecast or all", param_hint="KIND")
    db = _database()
    org_id, org_name = _org_id(db, org)
    for each in MODEL_KINDS if kind == "all" else (kind,):
        with db.session_scope(org_id) as session:
            trainer = training.train_price if each == "price" else training.train_forecast
            trained = trainer(session=session, org_id=org_id, actor="cli")
        out.print(f"[{org_name}] {trained.summary()}")


@evaluate_app.command("price")
def evaluate_price_command(
    org: OrgOption = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="Cross-validation folds.")] = 5,
    group: Annotated[str, typer.Option(help="Keep each item, supplier or rfq in one fold.")] = (
        "rfq"
    ),
    split: Annotated[str, typer.Option(help="group (cross-validation) or time.")] = "group",
    cutoff: Annotated[
        str | None, typer.Option(help="With --split time: train strictly before this date.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Cross-validate the quote-price model against two baselines."""
    from tools import training

    if group not in ("item", "supplier", "rfq"):
        raise typer.BadParameter("must be item, supplier or rfq", param_hint="--group")
    if split not in ("group", "time"):
        raise typer.BadParameter("must be group or time", param_hint="--split")
    cut = _parse_date(cutoff, "--cutoff") if cutoff else None
    with _tenant(org) as (session, org_id):
        result = training.evaluate_price_model(
            session=session,
            org_id=org_id,
            folds=folds,
            group=cast(Group, group),
            split=cast(Split, split),
            cutoff=cut,
        )
    if as_json:
        print(json.dumps(result))
        return
    out.print(
        f"{result['rows']:,} quote lines, {result['folds']} fold(s), split by {result['group']}"
        f"{' at ' + result['cutoff'] if result['cutoff'] else ''}:"
    )
    out.print(
        f"  model                      RMSLE {result['rmsle']:.3f}  median APE "
        f"{result['mape_median']:.1%}  80% band covers {result['coverage_80']:.1%}"
    )
    for name, figures in result["baselines"].items():
        out.print(
            f"  {name.replace('_', ' '):<26} RMSLE {figures['rmsle']:.3f}  median APE "
            f"{figures['mape_median']:.1%}"
        )


@evaluate_app.command("forecast")
def evaluate_forecast_command(
    org: OrgOption = None,
    series: Annotated[
        list[str] | None, typer.Option("--series", help="Series code (repeatable; default all).")
    ] = None,
    item: Annotated[
        list[str] | None,
        typer.Option("--item", help="Item code: forecast its monthly median price (repeatable)."),
    ] = None,
    horizon: Annotated[int, typer.Option(min=1, max=12, help="Months ahead.")] = 6,
    origins: Annotated[int, typer.Option(min=1, max=60, help="Rolling origins.")] = 12,
    min_train: Annotated[
        int, typer.Option(min=12, help="Months of history before the first origin.")
    ] = 48,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Backtest the forecasting models per series: MASE, sMAPE, 80% interval coverage."""
    from tools import training

    with _tenant(org) as (session, org_id):
        rows = training.evaluate_forecast_models(
            session=session,
            org_id=org_id,
            codes=series,
            items=item,
            horizon=horizon,
            origins=origins,
            min_train=min_train,
        )
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title=f"Rolling-origin backtest, horizon {horizon}, {origins} origins")
    for column in ("series", "model", "MASE", "sMAPE", "80% coverage", "chosen"):
        table.add_column(column)

    def shown(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    for row in rows:
        table.add_row(
            row["series"],
            row["model"],
            shown(row["mase"], ".3f"),
            shown(row["smape"], ".2f"),
            shown(row["coverage_80"], ".0%"),
            "yes" if row["chosen"] else (row.get("error") or ""),
        )
    out.print(table)


@evaluate_app.command("should-cost")
def evaluate_should_cost_command(
    category: Annotated[str, typer.Argument(help="Item category, e.g. rebar.")],
    org: OrgOption = None,
    item: Annotated[
        list[str] | None, typer.Option("--item", help="Only these item codes (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Calibrate a category's should-cost template on past quotes; report held-out error."""
    from tools import training

    with _tenant(org) as (session, org_id):
        result = training.evaluate_should_cost(
            session=session, org_id=org_id, category=category, items=item
        )
    if as_json:
        print(json.dumps(result))
        return
    out.print(
        f"{result['category']} ({result['template']}, per {result['unit']}): {result['quotes']:,} "
        f"quotes of {len(result['items'])} item(s), {result['excluded_other_units']:,} in other "
        f"units left out; fit before {result['cutoff']}, scored on the {result['test']:,} after"
    )
    for name in ("uncalibrated", "calibrated"):
        figures = result[name]
        out.print(
            f"  {name:<13} median abs error {figures['held_out_mdape']:.1%}, "
            f"bias {figures['held_out_bias']:+.1%}"
        )


@evaluate_app.command("anomalies")
def evaluate_anomalies_command(
    cutoff: Annotated[str, typer.Option(help="Train strictly before; score the 6 months after.")],
    org: OrgOption = None,
    size: Annotated[
        list[float] | None, typer.Option("--size", help="Injected price multiple (repeatable).")
    ] = None,
    share: Annotated[float, typer.Option(min=0.01, max=0.5, help="Share of lines injected.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed for the injected lines.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Inject known overpricing into held-out quotes; report precision and recall per size."""
    from tools import training

    cut = _parse_date(cutoff, "--cutoff")
    with _tenant(org) as (session, org_id):
        result = training.evaluate_anomaly_detection(
            session=session,
            org_id=org_id,
            cutoff=cut,
            sizes=tuple(size or (1.3, 1.5, 2.0)),
            share=share,
            seed=seed,
        )
    if as_json:
        print(json.dumps(result, default=str))
        return
    out.print(
        f"{result['slice']['lines']:,} held-out lines {result['slice']['from']} to "
        f"{result['slice']['until']}; untouched lines flagged: "
        f"{result['base_false_positive_rate']:.1%}"
    )
    for row in result["sizes"]:
        out.print(
            f"  x{row['size']:g}: injected {row['injected']:,}, flagged {row['flagged']:,}, "
            f"precision {row['precision']:.2f}, recall {row['recall']:.2f}"
        )


@models_app.command("list")
def models_list(org: OrgOption = None) -> None:
    """List registered model versions."""
    from store import registry

    with _tenant(org) as (session, org_id):
        for row in registry.versions(session=session, org_id=org_id):
            out.print(
                f"{row.kind:<9} v{row.version:<3} {row.status:<9} {row.created_at:%Y-%m-%d %H:%M}"
                f"  rows {row.training_rows:,}  {json.dumps(row.metrics)}",
                highlight=False,
            )


@models_app.command("promote")
def models_promote(
    kind: Annotated[str, typer.Argument(help="price or forecast.")],
    version: Annotated[int, typer.Argument(help="Version to activate.")],
    org: OrgOption = None,
) -> None:
    """Make a registered version the active one."""
    from store import registry

    with _tenant(org) as (session, org_id):
        registry.promote(session=session, org_id=org_id, kind=kind, version=version, actor="cli")
    out.print(f"{kind} model v{version} is active")


@models_app.command("rollback")
def models_rollback(
    kind: Annotated[str, typer.Argument(help="price or forecast.")], org: OrgOption = None
) -> None:
    """Re-activate the version that was active before the current one."""
    from store import registry

    with _tenant(org) as (session, org_id):
        row = registry.rollback(session=session, org_id=org_id, kind=kind, actor="cli")
        version = row.version
    out.print(f"{kind} model v{version} is active again")


@index_app.command("link")
def index_link(
    category: Annotated[str, typer.Argument(help="Item category, e.g. rebar.")],
    series: Annotated[str, typer.Argument(help="Index series code, e.g. WPU101704.")],
    org: OrgOption = None,
    note: Annotated[str | None, typer.Option(help="Why this index.")] = None,
) -> None:
    """Link an item category to the market index that moves its price."""
    from store import history

    with _tenant(org) as (session, org_id):
        history.set_category_link(
            session=session, org_id=org_id, category=category, series_code=series, note=note
        )
    out.print(f"{category} -> {series}")


# --------------------------------------------------------------------------- agent

eval_app = typer.Typer(help="Run the evaluation datasets (agent, item search).")
app.add_typer(eval_app, name="eval")


def _default_user() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@app.command("ask")
def ask_command(
    message: Annotated[str | None, typer.Argument(help="The question.")] = None,
    org: OrgOption = None,
    thread: Annotated[
        str | None, typer.Option("--thread", help="Continue this conversation.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    user: Annotated[str | None, typer.Option(help="Who asks (default: cli:<login>).")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Answer as of this date (YYYY-MM-DD).")
    ] = None,
    approve: Annotated[
        bool | None,
        typer.Option("--approve/--reject", help="Decide the action the thread waits on."),
    ] = None,
    note: Annotated[str | None, typer.Option(help="A note with the decision.")] = None,
) -> None:
    """Ask the pricing agent one question (or decide a pending action with --thread)."""
    from agent import Decision, run_turn

    if message is None and approve is None:
        raise typer.BadParameter("give a question, or --approve/--reject with --thread")
    if approve is not None and thread is None:
        raise typer.BadParameter("--approve/--reject needs the --thread that waits")
    db = _database()
    org_id, _ = _org_id(db, org)
    result = run_turn(
        message,
        database=db,
        org_id=org_id,
        user_id=user or _default_user(),
        thread_id=thread,
        as_of=_parse_date(as_of, "--as-of") if as_of else None,
        decision=None if approve is None else Decision(approved=approve, note=note),
    )
    if as_json:
        out.print_json(json.dumps(result.cli_json(), default=str))
        return
    for call in result.tool_calls:
        status = "ok" if call.ok else f"failed: {call.error}"
        err.print(f"[dim]tool {call.name}({json.dumps(call.args, default=str)}) {status}[/dim]")
    out.print(result.answer, markup=False, highlight=False)
    if result.pending_approval is not None:
        out.print(
            f"\nWaiting for approval: pricing-agent ask --thread {result.thread_id} "
            "--approve (or --reject)",
            markup=False,
        )
    err.print(f"[dim]thread {result.thread_id} ({result.mode})[/dim]")


@eval_app.command("agent")
def eval_agent_command(
    org: OrgOption = None,
    dataset: Annotated[
        Path | None, typer.Option(help="Dataset (default: the versioned buyer questions).")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Only this split: dev or holdout.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score the agent on the buyer-question dataset: tools called, facts stated."""
    from evals.agent import DEFAULT_DATASET, evaluate_agent

    db = _database()
    org_id, _ = _org_id(db, org)
    report = evaluate_agent(
        database=db, org_id=org_id, dataset_path=dataset or DEFAULT_DATASET, split=split
    )
    payload = report.to_json()
    if as_json:
        out.print_json(json.dumps(payload, default=str))
        return
    out.print(
        f"cases {payload['cases']}  tool accuracy {payload['tool_accuracy']:.3f}  "
        f"fact recall {payload['fact_recall']:.3f}  pass rate {payload['pass_rate']:.3f}"
    )


@eval_app.command("search")
def eval_search_command(
    org: OrgOption = None,
    dataset: Annotated[Path | None, typer.Option(help="Dataset of phrasings.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Measure item search: recall@1, recall@5 and MRR per method."""
    from evals.search import DEFAULT_DATASET, evaluate_search, format_summary

    with _tenant(org) as (session, org_id):
        report = evaluate_search(session, org_id, dataset or DEFAULT_DATASET)
    if as_json:
        out.print_json(json.dumps(report, default=str))
    else:
        out.print(format_summary(report), markup=False, highlight=False)
    if not report.get("passed", True):
        raise typer.Exit(1)


# --------------------------------------------------------------------------- demo


HostOption = Annotated[
    str, typer.Option(envvar="PRICING_AGENT_HOST", help="Interface to listen on.")
]
PortOption = Annotated[int, typer.Option(envvar="PRICING_AGENT_PORT", min=1, max=65535)]


@app.command("serve")
def serve_command(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    workers: Annotated[
        int, typer.Option(envvar="PRICING_AGENT_WORKERS", min=1, help="Worker processes.")
    ] = 1,
) -> None:
    """Serve the HTTP API (docs at /docs) with uvicorn."""
    from ui.serve import serve

    db = _database()
    out.print(f"store: {db.describe()}")
    out.print(f"serving on http://{host}:{port} (API docs at http://{host}:{port}/docs)")
    serve(host=host, port=port, workers=workers, log_level=get_settings().log_level.lower())


@app.command("demo")
def demo_command(
    org: Annotated[str, typer.Option(help="Organisation to load the sample into.")] = "demo",
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve after loading (default).")
    ] = True,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
) -> None:
    """Set up the store, load the real sample data, and run the main job."""
    from ui.demo import run_demo

    run_demo(_database(), org_name=org, serve=serve, console=out, host=host, port=port)


# --------------------------------------------------------------------------- ERP sync


@app.command("sync")
def sync(
    systems: Annotated[
        list[str], typer.Argument(help="sap, ebs, d365, or all (every configured one).")
    ],
    org: OrgOption = None,
    since: Annotated[
        str | None,
        typer.Option(help="Re-read everything changed since this date (default: each watermark)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Read the ERPs into the store: upserts by key, watermarks, rejections recorded."""
    from tools.erp_sync import sync_systems

    start = (
        dt.datetime.combine(_parse_date(since, "--since"), dt.time(), tzinfo=dt.UTC)
        if since
        else None
    )
    db = _database()
    org_id, org_name = _org_id(db, org)
    outcomes = sync_systems(database=db, org_id=org_id, systems=systems, since=start, actor="cli")
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "system": o.system,
                        "error": o.error,
                        "run_id": o.report.run_id if o.report else None,
                        "seconds": round(o.report.seconds, 3) if o.report else None,
                        "counts": {k: c.as_dict() for k, c in o.report.counts.items()}
                        if o.report
                        else None,
                    }
                    for o in outcomes
                ]
            )
        )
    else:
        table = Table("system", "entity", "read", "new", "updated", "unchanged", "rejected")
        for outcome in outcomes:
            if outcome.report is None:
                table.add_row(outcome.system, "-", "", "", "", "", f"failed: {outcome.error}")
                continue
            for entity, counts in outcome.report.counts.items():
                c = counts.as_dict()
                table.add_row(
                    outcome.system,
                    entity,
                    *(str(c[k]) for k in ("read", "inserted", "updated", "unchanged", "rejected")),
                )
        out.print(f"sync into {org_name}:")
        out.print(table)
    if any(o.error for o in outcomes):
        raise typer.Exit(1)


@app.command("feed")
def feed(org: OrgOption = None) -> None:
    """Pull the market-data feed (FEED_URL, FEED_API_KEY) into the index series."""
    from tools.market_feed import pull_feed

    db = _database()
    org_id, org_name = _org_id(db, org)
    report = pull_feed(
        database=db,
        org_id=org_id,
        actor="cli",
        rejected_dir=get_settings().data_dir / "rejected",
    )
    out.print(f"{org_name}: {report.summary()}", markup=False)
    for rejection in report.rejections[:20]:
        where = ", ".join(rejection.positions) or f"line {rejection.line_no}"
        out.print(f"  rejected {where}: {rejection.reason}", markup=False)


erp_app = typer.Typer(
    help="ERP work for a person: item matches to confirm, approved writes to send.",
    no_args_is_help=True,
)
app.add_typer(erp_app, name="erp")


@erp_app.command("matches")
def erp_matches(org: OrgOption = None) -> None:
    """List ERP items that may be store items, for a person to confirm or reject."""
    from store import item_matches

    table = Table("system", "ERP code", "stored as", "may be", "name", "score", "why")
    with _tenant(org) as (session, org_id):
        for m in item_matches.pending(session=session, org_id=org_id):
            table.add_row(
                m.system,
                m.external_code,
                m.stored_as,
                m.suggested,
                m.suggested_name,
                f"{m.score:.3f}",
                m.reason,
            )
    out.print(table)


def _decide_match(system: str, code: str, item: str, org: str | None, confirm: bool) -> None:
    from store import item_matches

    with _tenant(org) as (session, org_id):
        item_matches.decide(
            session=session,
            org_id=org_id,
            system=system,
            external_code=code,
            item_code=item,
            confirm=confirm,
            actor="cli",
        )
    out.print(f"{system} {code} {'is now' if confirm else 'stays apart from'} {item}")


@erp_app.command("confirm")
def erp_confirm(
    system: Annotated[str, typer.Argument(help="sap, ebs or d365.")],
    code: Annotated[str, typer.Argument(help="The item's code in that ERP.")],
    item: Annotated[str, typer.Argument(help="The store item it is.")],
    org: OrgOption = None,
) -> None:
    """Merge an ERP item into the store item it was matched to (its lines move with it)."""
    _decide_match(system, code, item, org, confirm=True)


@erp_app.command("reject")
def erp_reject(
    system: Annotated[str, typer.Argument(help="sap, ebs or d365.")],
    code: Annotated[str, typer.Argument(help="The item's code in that ERP.")],
    item: Annotated[str, typer.Argument(help="The store item it is not.")],
    org: OrgOption = None,
) -> None:
    """Keep an ERP item apart from the store item it was matched to."""
    _decide_match(system, code, item, org, confirm=False)


@erp_app.command("actions")
def erp_actions(
    status: Annotated[
        str | None,
        typer.Option(help="Only this status: pending_approval, sent, failed, sending, ..."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    org: OrgOption = None,
) -> None:
    """List the ERP writes the agent drafted (requisitions, contract prices), newest first."""
    from tools.base import ToolContext
    from tools.erp_actions import list_erp_actions

    with _tenant(org) as (session, org_id):
        ctx = ToolContext(session=session, org_id=org_id, actor="cli")
        actions = list_erp_actions(ctx, status=status, limit=limit)
    if as_json:
        print(json.dumps([a.model_dump(mode="json") for a in actions]))
        return
    table = Table("id", "status", "system", "what", "ERP document", "error")
    for a in actions:
        table.add_row(str(a.id), a.status, a.system, a.summary, a.external_id or "", a.error or "")
    out.print(table)


@erp_app.command("send")
def erp_send(
    action_id: Annotated[int, typer.Argument(help="The action's id (erp actions lists them).")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also send one left 'sending' by a crash; first check the ERP for PA-<id>.",
        ),
    ] = False,
    org: OrgOption = None,
) -> None:
    """Send an approved ERP write again after it failed (the ERP was down, say)."""
    from tools.erp_actions import build_connector, send_erp_action

    db = _database()
    org_id, _ = _org_id(db, org)
    action = send_erp_action(
        db.session_scope,
        org_id,
        action_id,
        connectors=build_connector,
        actor="cli",
        force=force,
    )
    if action.status == "sent":
        out.print(f"#{action.id} sent: {action.system_name} document {action.external_id}")
        return
    out.print(f"#{action.id} failed again: {action.error}", markup=False)
    raise typer.Exit(1)


# --------------------------------------------------------------------------- entry point


def main() -> None:
    """Run the command line; turn errors into one line and an exit code."""
    debug = "--debug" in sys.argv[1:]
    try:
        app()  # standalone: usage errors print their help and exit 2
    except PricingAgentError as exc:
        if debug:
            raise
        err.print(f"error: {exc.message}", highlight=False, markup=False)
        sys.exit(1)
    except Exception as exc:
        if debug:
            raise
        err.print(
            f"error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)",
            highlight=False,
            markup=False,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
