"""The demo: set up the store, load the real sample data into ``demo``, show what it holds."""

from __future__ import annotations

import csv
import secrets
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.errors import ExternalServiceError, NotFoundError, StoreUnavailableError
from store import history, migrate, orgs, registry, users
from store.db import Database
from store.importing.mapping import load_mapping
from store.importing.service import import_file
from store.models import IndexObservation, QuoteLine

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
QUOTES_FILE = "indot_bidtabs_2022-08_2026-05.csv.gz"
INDEX_FILES = (
    "fred_ppi_construction_inputs_1947-01_2023-11.csv.gz",
    "wb_pinksheet_construction_subset_1960-01_2024-11.csv.gz",
)
SERIES_NAMES = "series_names.csv"
ITEMS_FILE = "indot_items.csv"
LINKS_FILE = "category_index_links.csv"


def load_sample_data(db: Database, org_id: uuid.UUID, console: Console) -> None:
    """Import the sample quote lines and index series into an organisation."""
    if not (SAMPLE_DIR / QUOTES_FILE).exists():
        raise StoreUnavailableError(f"sample data missing from {SAMPLE_DIR}")
    rejected_dir = db.settings.data_dir / "rejected"
    with db.session_scope(org_id) as session:
        result = import_file(
            session=session,
            org_id=org_id,
            kind="quotes",
            path=SAMPLE_DIR / QUOTES_FILE,
            mapping=load_mapping("indot_bidtabs"),
            actor="demo",
            rejected_dir=rejected_dir,
        )
        console.print(f"  {result.summary()}")
        for name in INDEX_FILES:
            result = import_file(
                session=session,
                org_id=org_id,
                kind="index",
                path=SAMPLE_DIR / name,
                actor="demo",
                series_info_path=SAMPLE_DIR / SERIES_NAMES,
                rejected_dir=rejected_dir,
            )
            console.print(f"  {result.summary()}")
        result = import_file(
            session=session,
            org_id=org_id,
            kind="items",
            path=SAMPLE_DIR / ITEMS_FILE,
            actor="demo",
            rejected_dir=rejected_dir,
        )
        console.print(f"  {result.summary()}")
        with (SAMPLE_DIR / LINKS_FILE).open(encoding="utf-8", newline="") as fh:
            for link in csv.DictReader(fh):
                history.set_category_link(
                    session=session,
                    org_id=org_id,
                    category=link["category"],
                    series_code=link["series"],
                    note=link["why"],
                )
        console.print(f"  linked item categories to market indexes ({LINKS_FILE})")
    embed_items(db, org_id, console)


def embed_items(db: Database, org_id: uuid.UUID, console: Console) -> None:
    """Compute the search embeddings of items that lack a current one."""
    from tools.embeddings import get_embedder
    from tools.search_items import refresh_item_embeddings

    try:
        with db.session_scope(org_id) as session:
            embedder = get_embedder()
            written = refresh_item_embeddings(session=session, org_id=org_id, embedder=embedder)
    except ExternalServiceError as exc:
        # Search embeds lazily as well; the demo need not stop for an embedding service.
        console.print(f"  item embeddings skipped ({exc.message}); search will retry")
        return
    console.print(f"  embedded {written} items for search ({embedder.name})")


def train_if_needed(db: Database, org_id: uuid.UUID, console: Console) -> None:
    """Train and activate the models the organisation does not have yet."""
    from tools import training

    with db.session_scope(org_id) as session:
        missing = [
            kind
            for kind in ("price", "forecast")
            if registry.active(session=session, org_id=org_id, kind=kind) is None
        ]
    for kind in missing:
        with db.session_scope(org_id) as session:
            if kind == "price":
                trained = training.train_price(session=session, org_id=org_id, actor="demo")
            else:
                codes = sorted(set(history.category_links(session=session, org_id=org_id).values()))
                trained = training.train_forecast(
                    session=session, org_id=org_id, actor="demo", codes=codes
                )
        console.print(f"  {trained.summary()}")
    if not missing:
        console.print("  models already trained and active")


_TOP_ITEMS = text(
    """
    SELECT i.code, i.name, ql.unit, count(*) AS quotes,
           count(DISTINCT ql.supplier_id) AS suppliers,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ql.unit_price) AS median_price,
           min(ql.quote_date) AS first, max(ql.quote_date) AS last
    FROM quote_lines ql JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id
    GROUP BY i.code, i.name, ql.unit
    ORDER BY count(*) DESC
    LIMIT 8
    """
)


def show_store(db: Database, org_id: uuid.UUID, console: Console) -> None:
    """Print what the organisation's store holds."""
    with db.session_scope(org_id) as session:
        lines = session.scalar(select(func.count()).select_from(QuoteLine)) or 0
        observations = session.scalar(select(func.count()).select_from(IndexObservation)) or 0
        counts = {
            table: session.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("suppliers", "items", "rfqs", "rfq_lines", "index_series")
        }
        console.print(
            f"  {lines:,} quote lines from {counts['suppliers']:,} suppliers on "
            f"{counts['items']:,} items, {counts['rfqs']:,} RFQs ({counts['rfq_lines']:,} lines); "
            f"{counts['index_series']:,} index series, {observations:,} observations"
        )
        table = Table(title="Most-quoted items (USD, median unit price)")
        for column in (
            "item",
            "description",
            "unit",
            "quotes",
            "suppliers",
            "median",
            "from",
            "to",
        ):
            table.add_column(column)
        for row in session.execute(_TOP_ITEMS):
            table.add_row(
                row.code,
                row.name[:38],
                row.unit,
                f"{row.quotes:,}",
                str(row.suppliers),
                f"{row.median_price:,.2f}",
                f"{row.first}",
                f"{row.last}",
            )
        console.print(table)


EXAMPLE_QUESTION = "What should 500 tons of epoxy coated rebar cost?"


def ask_example(db: Database, org_id: uuid.UUID, console: Console) -> None:
    """Ask the agent one buyer question, to show it working on the sample."""
    from agent import run_turn

    console.print(f"asking the agent: {EXAMPLE_QUESTION}")
    result = run_turn(EXAMPLE_QUESTION, database=db, org_id=org_id, user_id="demo")
    tools = ", ".join(call.name for call in result.tool_calls) or "no tools"
    console.print(f"({result.mode}; called {tools})", markup=False)
    console.print(result.answer, markup=False, highlight=False)
    console.print('ask your own: pricing-agent ask "…" [--thread ID] [--json]', markup=False)


def run_demo(
    db: Database,
    *,
    org_name: str,
    serve: bool,
    console: Console,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Migrate, load the sample into ``org_name`` when empty, show it, then serve it."""
    console.print(f"store: {db.describe()}")
    migrate.upgrade(db)
    console.print(f"schema at {migrate.current_revision(db)}")
    with db.owner_session() as session:
        org, created = orgs.get_or_create_org(session=session, name=org_name)
        org_id = org.id
    with db.session_scope(org_id) as session:
        has_data = session.scalar(select(QuoteLine.id).limit(1)) is not None
    if has_data:
        console.print(f"organisation {org_name!r} already holds data; not reloading")
    else:
        console.print(f"loading the sample data into {org_name!r}{' (new)' if created else ''}")
        load_sample_data(db, org_id, console)
    show_store(db, org_id, console)
    console.print("models:")
    train_if_needed(db, org_id, console)
    ask_example(db, org_id, console)
    if serve:
        serve_demo(db, org_id, console, host=host, port=port)


DEMO_EMAIL = "buyer@demo.example"


def demo_login(session: Session, org_id: uuid.UUID) -> str:
    """Give the demo buyer a fresh password for this run (creating the user once)."""
    password = secrets.token_urlsafe(12)
    try:
        users.set_password(
            session=session, org_id=org_id, email=DEMO_EMAIL, password=password, actor="demo"
        )
    except NotFoundError:
        users.create_user(
            session=session,
            org_id=org_id,
            email=DEMO_EMAIL,
            role="buyer",
            actor="demo",
            password=password,
            display_name="Demo buyer",
        )
    return password


def serve_demo(db: Database, org_id: uuid.UUID, console: Console, *, host: str, port: int) -> None:
    """Make a demo API key and serve the API on the sample until interrupted."""
    from ui.serve import serve

    with db.session_scope(org_id) as session:
        _, secret = orgs.create_api_key(
            session=session, org_id=org_id, name="demo", role="admin", actor="demo"
        )
        password = demo_login(session, org_id)
    base = f"http://{host}:{port}"
    db.dispose()  # the server opens its own connections
    console.print(f"\nserving the sample on {base}", markup=False)
    console.print(f"  API docs:   {base}/docs  (Authorize with the key below)", markup=False)
    console.print(f"  chat:       {base}/chat  (log in as {DEMO_EMAIL} / {password})", markup=False)
    console.print(f"  readiness:  {base}/ready", markup=False)
    console.print(f"  demo key:   {secret}", markup=False)
    console.print(
        f"  try:        curl -s -H 'Authorization: Bearer {secret}' "
        f'-H \'Content-Type: application/json\' -d \'{{"item": "703-06029", '
        f'"quantity": 5000}}\' {base}/api/v1/predictions/price',
        markup=False,
    )
    console.print("  stop with Ctrl-C", markup=False)
    serve(host=host, port=port, workers=1)
