"""Test data factories: one function per store model, plus one valid row per tenant table.

Each factory adds a row with sensible, unique defaults to the session, flushes it, and
returns it; keyword overrides replace any column. Parents are passed as ids (never as ORM
objects) so a factory can also build a row that points into another organisation's data,
which is what the tenant-isolation tests need.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import func, inspect
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from store.models import (
    TENANT_TABLES,
    AgentThread,
    ApiKey,
    AuditLog,
    Base,
    CategoryIndexLink,
    ChatElement,
    ChatStep,
    Contract,
    ContractPrice,
    CounterOffer,
    DataGeneration,
    ErpAction,
    ErpRejection,
    ErpSyncRun,
    ErpWatermark,
    FxRate,
    ImportRejection,
    ImportRun,
    IndexObservation,
    IndexSeries,
    Item,
    ItemAlias,
    ItemMatchCandidate,
    ModelVersion,
    PurchaseOrder,
    PurchaseOrderLine,
    Quote,
    QuoteLine,
    Rfq,
    RfqLine,
    SlackWorkspace,
    Supplier,
    SupplierAlias,
    User,
)
from store.suppliers import supplier_key

_seq = itertools.count(1)
_BASE_DATE = dt.date(2024, 1, 1)


def _n() -> int:
    return next(_seq)


def _tag(prefix: str) -> str:
    return f"{prefix}-{_n()}-{uuid.uuid4().hex[:6]}"


def _add(session: Session, obj: Base, overrides: Mapping[str, Any]) -> Any:
    for name, value in overrides.items():
        setattr(obj, name, value)
    session.add(obj)
    session.flush()
    return obj


def primary_key(obj: Base) -> dict[str, Any]:
    """Return the primary-key columns of a flushed row as a dict."""
    mapper = inspect(obj).mapper
    return {col.key: getattr(obj, col.key) for col in mapper.primary_key}


# --------------------------------------------------------------------------- access


def user(session: Session, org_id: uuid.UUID, **overrides: Any) -> User:
    """Add a user."""
    tag = _tag("user")
    return _add(session, User(org_id=org_id, email=f"{tag}@example.com", role="buyer"), overrides)


def api_key(
    session: Session, org_id: uuid.UUID, *, secret: str | None = None, **overrides: Any
) -> ApiKey:
    """Add an API key whose hash is that of ``secret`` (a random one by default)."""
    secret = secret or f"pa_{uuid.uuid4().hex}{uuid.uuid4().hex}"
    row = ApiKey(
        org_id=org_id,
        name=_tag("key"),
        prefix=secret[:10],
        key_hash=hashlib.sha256(secret.encode()).hexdigest(),
        role="viewer",
    )
    return _add(session, row, overrides)


def audit_log(session: Session, org_id: uuid.UUID, **overrides: Any) -> AuditLog:
    """Add an audit entry."""
    row = AuditLog(org_id=org_id, actor="factory", action="test.event", entity="test")
    return _add(session, row, overrides)


# --------------------------------------------------------------------------- master data


def supplier(session: Session, org_id: uuid.UUID, **overrides: Any) -> Supplier:
    """Add a supplier whose ``code_key`` follows its code."""
    code = overrides.pop("code", None) or _tag("SUPPLIER")
    row = Supplier(org_id=org_id, code=code, code_key=supplier_key(code), name=code)
    return _add(session, row, overrides)


def item(session: Session, org_id: uuid.UUID, **overrides: Any) -> Item:
    """Add an item measured in square yards."""
    code = _tag("ITEM")
    row = Item(org_id=org_id, code=code, name=f"Item {code}", category="paving", unit="yd2")
    return _add(session, row, overrides)


def item_alias(session: Session, org_id: uuid.UUID, *, item_id: int, **overrides: Any) -> ItemAlias:
    """Add an external code for an item."""
    row = ItemAlias(org_id=org_id, system="SAP", external_code=_tag("MAT"), item_id=item_id)
    return _add(session, row, overrides)


# --------------------------------------------------------------------------- sourcing


def rfq(session: Session, org_id: uuid.UUID, **overrides: Any) -> Rfq:
    """Add an RFQ."""
    row = Rfq(org_id=org_id, code=_tag("RFQ"), issued_date=_BASE_DATE)
    return _add(session, row, overrides)


def rfq_line(
    session: Session, org_id: uuid.UUID, *, rfq_id: int, item_id: int, **overrides: Any
) -> RfqLine:
    """Add a line to an RFQ."""
    row = RfqLine(
        org_id=org_id,
        rfq_id=rfq_id,
        line_code=_tag("L"),
        item_id=item_id,
        quantity=Decimal("100"),
        unit="yd2",
    )
    return _add(session, row, overrides)


def quote(
    session: Session,
    org_id: uuid.UUID,
    *,
    supplier_id: int,
    rfq_id: int | None = None,
    **overrides: Any,
) -> Quote:
    """Add a quote header."""
    row = Quote(
        org_id=org_id,
        quote_key=_tag("Q"),
        supplier_id=supplier_id,
        rfq_id=rfq_id,
        quote_date=_BASE_DATE,
        currency="USD",
    )
    return _add(session, row, overrides)


def quote_line(
    session: Session,
    org_id: uuid.UUID,
    *,
    quote_id: int,
    supplier_id: int,
    item_id: int,
    rfq_line_id: int | None = None,
    import_run_id: int | None = None,
    **overrides: Any,
) -> QuoteLine:
    """Add a quoted unit price."""
    row = QuoteLine(
        org_id=org_id,
        natural_key=_tag("QL"),
        quote_id=quote_id,
        supplier_id=supplier_id,
        item_id=item_id,
        rfq_line_id=rfq_line_id,
        import_run_id=import_run_id,
        quote_date=_BASE_DATE,
        quantity=Decimal("100"),
        unit="yd2",
        unit_price=Decimal("12.50"),
        currency="USD",
    )
    return _add(session, row, overrides)


# --------------------------------------------------------------------------- ERP documents


def purchase_order(
    session: Session, org_id: uuid.UUID, *, supplier_id: int, **overrides: Any
) -> PurchaseOrder:
    """Add a purchase order header."""
    row = PurchaseOrder(
        org_id=org_id,
        source_system="SAP",
        po_number=_tag("PO"),
        supplier_id=supplier_id,
        order_date=_BASE_DATE,
        currency="USD",
    )
    return _add(session, row, overrides)


def purchase_order_line(
    session: Session,
    org_id: uuid.UUID,
    *,
    purchase_order_id: int,
    item_id: int,
    supplier_id: int,
    **overrides: Any,
) -> PurchaseOrderLine:
    """Add a purchase order line."""
    row = PurchaseOrderLine(
        org_id=org_id,
        purchase_order_id=purchase_order_id,
        line_no=str(_n()),
        item_id=item_id,
        supplier_id=supplier_id,
        order_date=_BASE_DATE,
        quantity=Decimal("10"),
        unit="yd2",
        unit_price=Decimal("11.00"),
        currency="USD",
    )
    return _add(session, row, overrides)


def contract(
    session: Session, org_id: uuid.UUID, *, supplier_id: int, **overrides: Any
) -> Contract:
    """Add a contract."""
    row = Contract(
        org_id=org_id,
        source_system="SAP",
        contract_number=_tag("K"),
        supplier_id=supplier_id,
        currency="USD",
    )
    return _add(session, row, overrides)


def contract_price(
    session: Session, org_id: uuid.UUID, *, contract_id: int, item_id: int, **overrides: Any
) -> ContractPrice:
    """Add an agreed price under a contract."""
    row = ContractPrice(
        org_id=org_id,
        contract_id=contract_id,
        item_id=item_id,
        unit_price=Decimal("10.00"),
        currency="USD",
        unit="yd2",
        min_quantity=Decimal(_n()),
        valid_from=_BASE_DATE,
    )
    return _add(session, row, overrides)


# --------------------------------------------------------------------------- market data


def index_series(session: Session, org_id: uuid.UUID, **overrides: Any) -> IndexSeries:
    """Add a price index series."""
    row = IndexSeries(org_id=org_id, code=_tag("WPU"), name="test index")
    return _add(session, row, overrides)


def category_index_link(session: Session, org_id: uuid.UUID, **overrides: Any) -> CategoryIndexLink:
    """Link an item category to an index series."""
    row = CategoryIndexLink(org_id=org_id, category=_tag("cat"), series_code="WPU101704")
    return _add(session, row, overrides)


def model_version(session: Session, org_id: uuid.UUID, **overrides: Any) -> ModelVersion:
    """Register a (tiny, fake-artifact) model version."""
    row = ModelVersion(
        org_id=org_id,
        kind="price",
        version=_n(),
        data_fingerprint="0" * 64,
        training_rows=1,
        training_seconds=0.1,
        artifact_format="test",
        artifact=b"x",
    )
    return _add(session, row, overrides)


def data_generation(session: Session, org_id: uuid.UUID) -> DataGeneration:
    """Move the organisation's data generation (its row exists once any tracked table moved)."""
    fresh = func.nextval("data_generation_seq")
    session.execute(
        insert(DataGeneration)
        .values(org_id=org_id, generation=fresh)
        .on_conflict_do_update(index_elements=["org_id"], set_={"generation": fresh})
    )
    row = session.get(DataGeneration, org_id, populate_existing=True)
    assert row is not None
    return row


def index_observation(
    session: Session, org_id: uuid.UUID, *, series_id: int, **overrides: Any
) -> IndexObservation:
    """Add an index value on a date no other factory call has used."""
    row = IndexObservation(
        org_id=org_id,
        series_id=series_id,
        obs_date=_BASE_DATE + dt.timedelta(days=_n()),
        value=Decimal("101.5"),
    )
    return _add(session, row, overrides)


def fx_rate(
    session: Session,
    org_id: uuid.UUID,
    *,
    base: str = "EUR",
    quote: str = "USD",
    rate: Decimal | str = Decimal("1.10"),
    on: dt.date | None = None,
    **overrides: Any,
) -> FxRate:
    """Add an exchange rate: one ``base`` is worth ``rate`` ``quote`` on ``on``."""
    row = FxRate(
        org_id=org_id,
        base_currency=base,
        quote_currency=quote,
        rate_date=on or _BASE_DATE + dt.timedelta(days=_n()),
        rate=Decimal(rate),
        source="test",
    )
    return _add(session, row, overrides)


# --------------------------------------------------------------------------- imports


def import_run(session: Session, org_id: uuid.UUID, **overrides: Any) -> ImportRun:
    """Add an import run."""
    row = ImportRun(org_id=org_id, kind="quotes", source_name=_tag("file") + ".csv")
    return _add(session, row, overrides)


def import_rejection(
    session: Session, org_id: uuid.UUID, *, import_run_id: int, **overrides: Any
) -> ImportRejection:
    """Add a rejected import line."""
    row = ImportRejection(
        org_id=org_id, import_run_id=import_run_id, line_no=_n(), reason="bad price"
    )
    return _add(session, row, overrides)


# --------------------------------------------------------------------------- one of each


def agent_thread(session: Session, org_id: uuid.UUID, **overrides: Any) -> AgentThread:
    """A conversation owned by one user."""
    values = {"thread_id": _tag("thread"), "user_id": _tag("user")}
    return _add(session, AgentThread(org_id=org_id, **values), overrides)


def slack_workspace(session: Session, org_id: uuid.UUID, **overrides: Any) -> SlackWorkspace:
    """A Slack workspace linked to the organisation."""
    return _add(session, SlackWorkspace(org_id=org_id, team_id=_tag("T")), overrides)


def chat_step(session: Session, org_id: uuid.UUID, *, thread_id: str, **overrides: Any) -> ChatStep:
    """A step of a chat conversation."""
    values = {"step_id": _tag("step"), "thread_id": thread_id, "step": {"type": "user_message"}}
    return _add(session, ChatStep(org_id=org_id, **values), overrides)


def chat_element(
    session: Session, org_id: uuid.UUID, *, thread_id: str, **overrides: Any
) -> ChatElement:
    """A chart or file shown in a chat conversation."""
    values = {"element_id": _tag("el"), "thread_id": thread_id, "element": {"type": "plotly"}}
    return _add(session, ChatElement(org_id=org_id, **values), overrides)


def supplier_alias(
    session: Session, org_id: uuid.UUID, *, supplier_id: int, **overrides: Any
) -> SupplierAlias:
    """A supplier's code in an ERP."""
    values = {"system": "sap", "external_code": _tag("V"), "supplier_id": supplier_id}
    return _add(session, SupplierAlias(org_id=org_id, **values), overrides)


def erp_sync_run(session: Session, org_id: uuid.UUID, **overrides: Any) -> ErpSyncRun:
    """A finished ERP sync."""
    return _add(session, ErpSyncRun(org_id=org_id, system="sap", status="finished"), overrides)


def erp_watermark(session: Session, org_id: uuid.UUID, **overrides: Any) -> ErpWatermark:
    """How far an ERP entity was read."""
    values = {"system": "sap", "entity": _tag("entity"), "watermark": dt.datetime.now(dt.UTC)}
    return _add(session, ErpWatermark(org_id=org_id, **values), overrides)


def erp_rejection(
    session: Session, org_id: uuid.UUID, *, run_id: int, **overrides: Any
) -> ErpRejection:
    """A refused ERP record."""
    values = {"run_id": run_id, "seq": _n(), "entity": "items", "reason": "no unit"}
    return _add(session, ErpRejection(org_id=org_id, **values), overrides)


def item_match_candidate(
    session: Session, org_id: uuid.UUID, *, item_id: int, **overrides: Any
) -> ItemMatchCandidate:
    """A doubtful ERP-item match waiting for a person."""
    values = {
        "system": "d365",
        "external_code": _tag("M"),
        "item_id": item_id,
        "score": 0.7,
        "reason": "similar name",
    }
    return _add(session, ItemMatchCandidate(org_id=org_id, **values), overrides)


def counter_offer(
    session: Session, org_id: uuid.UUID, *, supplier_id: int, item_id: int, **overrides: Any
) -> CounterOffer:
    """A drafted counter-offer waiting for approval."""
    values = {
        "supplier_id": supplier_id,
        "item_id": item_id,
        "unit_price": Decimal("10.50"),
        "currency": "USD",
        "unit": "ea",
        "message": "Dear supplier, we propose USD 10.50 per ea.",
        "created_by": "test",
    }
    return _add(session, CounterOffer(org_id=org_id, **values), overrides)


def erp_action(session: Session, org_id: uuid.UUID, *, item_id: int, **overrides: Any) -> ErpAction:
    """A drafted ERP requisition waiting for approval."""
    values = {
        "kind": "create_requisition",
        "system": "sap",
        "item_id": item_id,
        "payload": {"item_code": "M-1", "quantity": "10", "unit": "ST"},
        "summary": "requisition for 10 ST of M-1 in sap",
        "created_by": "test",
    }
    return _add(session, ErpAction(org_id=org_id, **values), overrides)


RowFactory = Callable[[Session, uuid.UUID, Mapping[str, int]], Base]
"""Builds a row of one table for ``org_id`` from the ids of parent rows by table name."""

TENANT_ROW_FACTORIES: dict[str, RowFactory] = {
    "users": lambda s, o, ids: user(s, o),
    "api_keys": lambda s, o, ids: api_key(s, o),
    "audit_log": lambda s, o, ids: audit_log(s, o),
    "fx_rates": lambda s, o, ids: fx_rate(s, o),
    "import_runs": lambda s, o, ids: import_run(s, o),
    "import_rejections": lambda s, o, ids: import_rejection(s, o, import_run_id=ids["import_runs"]),
    "index_series": lambda s, o, ids: index_series(s, o),
    "index_observations": lambda s, o, ids: index_observation(s, o, series_id=ids["index_series"]),
    "suppliers": lambda s, o, ids: supplier(s, o),
    "items": lambda s, o, ids: item(s, o),
    "item_aliases": lambda s, o, ids: item_alias(s, o, item_id=ids["items"]),
    "rfqs": lambda s, o, ids: rfq(s, o),
    "rfq_lines": lambda s, o, ids: rfq_line(s, o, rfq_id=ids["rfqs"], item_id=ids["items"]),
    "quotes": lambda s, o, ids: quote(s, o, supplier_id=ids["suppliers"], rfq_id=ids["rfqs"]),
    "quote_lines": lambda s, o, ids: quote_line(
        s,
        o,
        quote_id=ids["quotes"],
        supplier_id=ids["suppliers"],
        item_id=ids["items"],
        rfq_line_id=ids["rfq_lines"],
        import_run_id=ids["import_runs"],
    ),
    "purchase_orders": lambda s, o, ids: purchase_order(s, o, supplier_id=ids["suppliers"]),
    "purchase_order_lines": lambda s, o, ids: purchase_order_line(
        s,
        o,
        purchase_order_id=ids["purchase_orders"],
        item_id=ids["items"],
        supplier_id=ids["suppliers"],
    ),
    "contracts": lambda s, o, ids: contract(s, o, supplier_id=ids["suppliers"]),
    "category_index_links": lambda s, o, ids: category_index_link(s, o),
    "model_versions": lambda s, o, ids: model_version(s, o),
    "data_generations": lambda s, o, ids: data_generation(s, o),
    "agent_threads": lambda s, o, ids: agent_thread(s, o),
    "slack_workspaces": lambda s, o, ids: slack_workspace(s, o),
    "supplier_aliases": lambda s, o, ids: supplier_alias(s, o, supplier_id=ids["suppliers"]),
    "erp_sync_runs": lambda s, o, ids: erp_sync_run(s, o),
    "erp_watermarks": lambda s, o, ids: erp_watermark(s, o),
    "erp_rejections": lambda s, o, ids: erp_rejection(s, o, run_id=ids["erp_sync_runs"]),
    "item_match_candidates": lambda s, o, ids: item_match_candidate(s, o, item_id=ids["items"]),
    "chat_steps": lambda s, o, ids: chat_step(s, o, thread_id=ids["agent_threads"]),
    "chat_elements": lambda s, o, ids: chat_element(s, o, thread_id=ids["agent_threads"]),
    "erp_actions": lambda s, o, ids: erp_action(s, o, item_id=ids["items"]),
    "counter_offers": lambda s, o, ids: counter_offer(
        s, o, supplier_id=ids["suppliers"], item_id=ids["items"]
    ),
    "contract_prices": lambda s, o, ids: contract_price(
        s, o, contract_id=ids["contracts"], item_id=ids["items"]
    ),
}
"""One factory per tenant table; a new tenant table without one fails the isolation tests."""


def parent_ids(rows: Mapping[str, Base]) -> dict[str, Any]:
    """Return the surrogate ``id`` (or a thread's ``thread_id``) of each row, by table name."""
    ids: dict[str, Any] = {table: row.id for table, row in rows.items() if hasattr(row, "id")}
    ids.update({t: r.thread_id for t, r in rows.items() if isinstance(r, AgentThread)})
    return ids


def one_row_per_tenant_table(session: Session, org_id: uuid.UUID) -> dict[str, Base]:
    """Add one valid row to every table of ``TENANT_TABLES``; return them by table name."""
    missing = sorted(set(TENANT_TABLES) - set(TENANT_ROW_FACTORIES))
    if missing:
        raise KeyError(f"tests/factories.py has no row factory for tenant tables {missing}")
    rows: dict[str, Base] = {}
    # TENANT_TABLES follows the metadata's dependency order, so parents come first.
    for table in TENANT_TABLES:
        rows[table] = TENANT_ROW_FACTORIES[table](session, org_id, parent_ids(rows))
    return rows
