"""SQLAlchemy 2 typed models of the store.

Every tenant table carries ``org_id`` as the first column of its primary key, and every
reference between tenant tables is a composite foreign key that includes ``org_id``: a
row can never point at another tenant's row, and the store can be distributed by tenant
(Citus) without a rewrite. Row-level security on ``org_id`` is added by the migrations.

Global reference data (units, currencies) has no ``org_id`` and is read-only to the
service role.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

EMBEDDING_DIM = 384
"""Dimension of item embeddings (local model and OpenAI ``dimensions=384`` agree)."""

ROLES = ("viewer", "buyer", "admin")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with an explicit naming convention for constraints."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads it as a class attribute
        dict[str, Any]: JSONB,
        Decimal: Numeric,
        uuid.UUID: UUID(as_uuid=True),
        dt.datetime: DateTime(timezone=True),
    }


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _org_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True, nullable=False
    )


def _id_pk() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(always=False), primary_key=True)


def _attrs() -> Mapped[dict[str, Any]]:
    return mapped_column(JSONB, nullable=False, server_default=text("'{}'::jsonb"))


def _money() -> Mapped[Decimal]:
    # Unconstrained NUMERIC keeps exactly the digits the source gave.
    return mapped_column(Numeric, nullable=False)


def _fk(
    org_col: str, col: str, target: str, *, ondelete: str | None = "CASCADE"
) -> ForeignKeyConstraint:
    # No SET NULL here: on a composite key it would null org_id as well.
    table = target.split(".", maxsplit=1)[0]
    return ForeignKeyConstraint([org_col, col], [f"{table}.org_id", target], ondelete=ondelete)


def _currency_fk(col: str = "currency") -> ForeignKeyConstraint:
    return ForeignKeyConstraint([col], ["currencies.code"])


def _unit_fk(col: str = "unit") -> ForeignKeyConstraint:
    return ForeignKeyConstraint([col], ["units.code"])


# --------------------------------------------------------------------------- reference data


class Unit(Base):
    """A unit of measure; ``to_base`` converts one of it into its dimension's base unit."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(
            "dimension IN ('mass','length','area','volume','count','lump_sum','time')",
            name="dimension",
        ),
        CheckConstraint("to_base > 0", name="to_base_positive"),
    )

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    dimension: Mapped[str] = mapped_column(String(16))
    to_base: Mapped[Decimal] = mapped_column(Numeric)


class UnitAlias(Base):
    """Another spelling of a unit (``S.Y.``, ``SYS`` → ``yd2``), matched case-insensitively."""

    __tablename__ = "unit_aliases"

    alias: Mapped[str] = mapped_column(String(32), primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code", ondelete="CASCADE"))


class Currency(Base):
    """An ISO 4217 currency."""

    __tablename__ = "currencies"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    minor_units: Mapped[int] = mapped_column(Integer)


# --------------------------------------------------------------------------- tenants and access


class Organization(Base):
    """A tenant. Its ``id`` is the ``org_id`` of every row it owns."""

    __tablename__ = "organizations"
    __table_args__ = (Index("uq_organizations_lower_name", text("lower(name)"), unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()


class User(Base):
    """A person of an organisation, with the role that gates what they may do."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES!r}", name="role"),
        Index("uq_users_org_id_lower_email", "org_id", text("lower(email)"), unique=True),
        Index(
            "uq_users_slack_identity",
            "slack_team_id",
            "slack_user_id",
            unique=True,
            postgresql_where=text("slack_user_id IS NOT NULL"),
        ),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    email: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), server_default="buyer")
    password_hash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()
    disabled_at: Mapped[dt.datetime | None]
    # The person's Slack account, in the workspace linked to this organisation.
    slack_team_id: Mapped[str | None] = mapped_column(Text)
    slack_user_id: Mapped[str | None] = mapped_column(Text)


class SlackWorkspace(Base):
    """A Slack workspace (team) linked to the organisation its members speak for."""

    __tablename__ = "slack_workspaces"
    __table_args__ = (
        CheckConstraint(f"default_role IN {ROLES!r}", name="default_role"),
        UniqueConstraint("team_id"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    team_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    # The role of a workspace member who is not linked to a user of the organisation.
    default_role: Mapped[str] = mapped_column(String(16), server_default="viewer")
    created_at: Mapped[dt.datetime] = _now()


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; ``prefix`` lets people tell keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES!r}", name="role"),
        UniqueConstraint("key_hash"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    name: Mapped[str] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = _now()
    created_by: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]


class AuditLog(Base):
    """Who did what, when, and which ids it touched."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "org_id", "occurred_at"),)

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    occurred_at: Mapped[dt.datetime] = _now()
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    entity: Mapped[str] = mapped_column(Text)
    entity_ids: Mapped[list[Any]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    details: Mapped[dict[str, Any]] = _attrs()


# --------------------------------------------------------------------------- master data


class Supplier(Base):
    """A supplier; ``code_key`` is the normalised code that near-duplicate spellings share."""

    __tablename__ = "suppliers"
    __table_args__ = (UniqueConstraint("org_id", "code_key"),)

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    code: Mapped[str] = mapped_column(Text)
    code_key: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    attributes: Mapped[dict[str, Any]] = _attrs()
    created_at: Mapped[dt.datetime] = _now()


class Item(Base):
    """A purchasable item with its attributes, embedding and full-text vector."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("org_id", "code"),
        _unit_fk(),
        Index("ix_items_search_tsv", "search_tsv", postgresql_using="gin"),
        Index("ix_items_org_id_category", "org_id", "category"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any]] = _attrs()
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM), nullable=True)
    embedding_model: Mapped[str | None] = mapped_column(Text)
    search_tsv: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "to_tsvector('english', coalesce(code, '') || ' ' || coalesce(name, '') || ' ' "
            "|| coalesce(description, '') || ' ' || coalesce(category, ''))",
            persisted=True,
        ),
    )
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()


class ItemAlias(Base):
    """The same item's code in another system (an ERP name plus its external code)."""

    __tablename__ = "item_aliases"
    __table_args__ = (
        _fk("org_id", "item_id", "items.id"),
        Index(None, "org_id", "item_id"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    system: Mapped[str] = mapped_column(Text, primary_key=True)
    external_code: Mapped[str] = mapped_column(Text, primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger)
    # The ERP's own spelling of the item's unit ("ST", "Each"), so writes go back in it.
    erp_unit: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()


# --------------------------------------------------------------------------- sourcing events


class Rfq(Base):
    """A request for quotation (for public bid tabs: a project letting)."""

    __tablename__ = "rfqs"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    code: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    issued_date: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = _attrs()
    created_at: Mapped[dt.datetime] = _now()


class RfqLine(Base):
    """One requested item and quantity of an RFQ."""

    __tablename__ = "rfq_lines"
    __table_args__ = (
        UniqueConstraint("org_id", "rfq_id", "line_code"),
        _fk("org_id", "rfq_id", "rfqs.id"),
        _fk("org_id", "item_id", "items.id", ondelete="RESTRICT"),
        _unit_fk(),
        Index(None, "org_id", "item_id"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    rfq_id: Mapped[int] = mapped_column(BigInteger)
    line_code: Mapped[str] = mapped_column(Text)
    item_id: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric)
    unit: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = _attrs()


class Quote(Base):
    """A supplier's quote: the header that groups quote lines (one bid on one RFQ)."""

    __tablename__ = "quotes"
    __table_args__ = (
        UniqueConstraint("org_id", "quote_key"),
        _fk("org_id", "supplier_id", "suppliers.id", ondelete="RESTRICT"),
        _fk("org_id", "rfq_id", "rfqs.id", ondelete=None),
        _currency_fk(),
        Index(None, "org_id", "rfq_id"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    quote_key: Mapped[str] = mapped_column(Text)
    supplier_id: Mapped[int] = mapped_column(BigInteger)
    rfq_id: Mapped[int | None] = mapped_column(BigInteger)
    quote_date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = _attrs()
    created_at: Mapped[dt.datetime] = _now()


class QuoteLine(Base):
    """A quoted unit price for an item: the core of the price history.

    ``supplier_id``, ``item_id`` and ``quote_date`` repeat the header's so that history by
    item and time is one index range scan.
    """

    __tablename__ = "quote_lines"
    __table_args__ = (
        UniqueConstraint("org_id", "natural_key"),
        _fk("org_id", "quote_id", "quotes.id"),
        _fk("org_id", "supplier_id", "suppliers.id", ondelete="RESTRICT"),
        _fk("org_id", "item_id", "items.id", ondelete="RESTRICT"),
        _fk("org_id", "rfq_line_id", "rfq_lines.id", ondelete=None),
        _fk("org_id", "import_run_id", "import_runs.id", ondelete=None),
        _currency_fk(),
        _unit_fk(),
        CheckConstraint("unit_price >= 0", name="unit_price_non_negative"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("lead_time_days IS NULL OR lead_time_days >= 0", name="lead_time"),
        Index("ix_quote_lines_item_history", "org_id", "item_id", "quote_date"),
        Index("ix_quote_lines_supplier_history", "org_id", "supplier_id", "quote_date"),
        Index(None, "org_id", "rfq_line_id"),
        Index(None, "org_id", "quote_id"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    natural_key: Mapped[str] = mapped_column(Text)
    quote_id: Mapped[int] = mapped_column(BigInteger)
    supplier_id: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[int] = mapped_column(BigInteger)
    rfq_line_id: Mapped[int | None] = mapped_column(BigInteger)
    quote_date: Mapped[dt.date] = mapped_column(Date)
    quantity: Mapped[Decimal] = mapped_column(Numeric)
    unit: Mapped[str] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = _money()
    currency: Mapped[str] = mapped_column(String(3))
    incoterm: Mapped[str | None] = mapped_column(String(3))
    lead_time_days: Mapped[int | None] = mapped_column(Integer)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    awarded: Mapped[bool | None] = mapped_column(Boolean)
    description: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = _attrs()
    source: Mapped[str | None] = mapped_column(Text)
    import_run_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()


# --------------------------------------------------------------------------- ERP documents


class PurchaseOrder(Base):
    """A purchase order header as synced from an ERP or imported."""

    __tablename__ = "purchase_orders"
    __table_args__ = (
        UniqueConstraint("org_id", "source_system", "po_number"),
        _fk("org_id", "supplier_id", "suppliers.id", ondelete="RESTRICT"),
        _currency_fk(),
        Index(None, "org_id", "supplier_id", "order_date"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    source_system: Mapped[str] = mapped_column(Text)
    po_number: Mapped[str] = mapped_column(Text)
    supplier_id: Mapped[int] = mapped_column(BigInteger)
    order_date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    incoterm: Mapped[str | None] = mapped_column(String(3))
    payment_terms: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = _attrs()
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()


class PurchaseOrderLine(Base):
    """A purchase order line; ``unit_price`` is per one ``unit`` (SAP's per-N already divided)."""

    __tablename__ = "purchase_order_lines"
    __table_args__ = (
        UniqueConstraint("org_id", "purchase_order_id", "line_no"),
        _fk("org_id", "purchase_order_id", "purchase_orders.id"),
        _fk("org_id", "item_id", "items.id", ondelete="RESTRICT"),
        _fk("org_id", "supplier_id", "suppliers.id", ondelete="RESTRICT"),
        _currency_fk(),
        _unit_fk(),
        CheckConstraint("unit_price >= 0", name="unit_price_non_negative"),
        Index("ix_purchase_order_lines_item_history", "org_id", "item_id", "order_date"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    purchase_order_id: Mapped[int] = mapped_column(BigInteger)
    line_no: Mapped[str] = mapped_column(Text)
    item_id: Mapped[int] = mapped_column(BigInteger)
    supplier_id: Mapped[int] = mapped_column(BigInteger)
    order_date: Mapped[dt.date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric)
    unit: Mapped[str] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = _money()
    currency: Mapped[str] = mapped_column(String(3))
    need_by_date: Mapped[dt.date | None] = mapped_column(Date)
    received_quantity: Mapped[Decimal | None] = mapped_column(Numeric)
    received_date: Mapped[dt.date | None] = mapped_column(Date)
    attributes: Mapped[dict[str, Any]] = _attrs()


class Contract(Base):
    """A purchase contract (outline agreement) with a supplier."""

    __tablename__ = "contracts"
    __table_args__ = (
        UniqueConstraint("org_id", "source_system", "contract_number"),
        _fk("org_id", "supplier_id", "suppliers.id", ondelete="RESTRICT"),
        _currency_fk(),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    source_system: Mapped[str] = mapped_column(Text)
    contract_number: Mapped[str] = mapped_column(Text)
    supplier_id: Mapped[int] = mapped_column(BigInteger)
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    attributes: Mapped[dict[str, Any]] = _attrs()
    created_at: Mapped[dt.datetime] = _now()


class ContractPrice(Base):
    """An agreed price for an item under a contract, optionally from a minimum quantity."""

    __tablename__ = "contract_prices"
    __table_args__ = (
        _fk("org_id", "contract_id", "contracts.id"),
        _fk("org_id", "item_id", "items.id", ondelete="RESTRICT"),
        _currency_fk(),
        _unit_fk(),
        CheckConstraint("unit_price >= 0", name="unit_price_non_negative"),
        Index("ix_contract_prices_item_validity", "org_id", "item_id", "valid_from"),
        Index("ix_contract_prices_contract_line", "org_id", "contract_id", "line_no"),
        UniqueConstraint("org_id", "contract_id", "item_id", "min_quantity", "valid_from"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    contract_id: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[Decimal] = _money()
    currency: Mapped[str] = mapped_column(String(3))
    unit: Mapped[str] = mapped_column(String(16))
    min_quantity: Mapped[Decimal] = mapped_column(Numeric, server_default=text("0"))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    # The line's number in its source contract (ERP sync), the key a re-sync updates by.
    line_no: Mapped[str | None] = mapped_column(Text)
    # The ERP's own spelling of ``unit`` on this line, so a price update goes back in it.
    erp_unit: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- market data


class IndexSeries(Base):
    """A market price index or commodity price series (e.g. BLS PPI WPU101704)."""

    __tablename__ = "index_series"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    code: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    frequency: Mapped[str] = mapped_column(String(16), server_default="monthly")
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()


class IndexObservation(Base):
    """One value of an index series at a date."""

    __tablename__ = "index_observations"
    __table_args__ = (_fk("org_id", "series_id", "index_series.id"),)

    org_id: Mapped[uuid.UUID] = _org_pk()
    series_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    obs_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    value: Mapped[Decimal] = mapped_column(Numeric)


class FxRate(Base):
    """One unit of ``base_currency`` is worth ``rate`` units of ``quote_currency`` on a date."""

    __tablename__ = "fx_rates"
    __table_args__ = (
        ForeignKeyConstraint(["base_currency"], ["currencies.code"]),
        ForeignKeyConstraint(["quote_currency"], ["currencies.code"]),
        CheckConstraint("rate > 0", name="rate_positive"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    base_currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    quote_currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    rate_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    rate: Mapped[Decimal] = mapped_column(Numeric)
    source: Mapped[str | None] = mapped_column(Text)


class CategoryIndexLink(Base):
    """Which market index moves the price of an item category (rebar -> WPU101704); editable."""

    __tablename__ = "category_index_links"

    org_id: Mapped[uuid.UUID] = _org_pk()
    category: Mapped[str] = mapped_column(Text, primary_key=True)
    series_code: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = _now()


class DataGeneration(Base):
    """A token that changes whenever data a price prediction reads changes, per organisation.

    Statement-level triggers (migration 0007) set ``generation`` to a fresh value of the
    ``data_generation_seq`` sequence after every statement that writes an organisation's
    rows of ``store.generations.TRACKED_TABLES``. A sequence never hands a value out twice,
    even to a transaction that rolls back, so one value names one state of the data: a
    cache keyed by it cannot serve another state.
    """

    __tablename__ = "data_generations"

    org_id: Mapped[uuid.UUID] = _org_pk()
    generation: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[dt.datetime] = _now()


# --------------------------------------------------------------------------- models


MODEL_STATUSES = ("candidate", "active", "retired")


class ModelVersion(Base):
    """A trained model: what it was trained on, how good it is, and the artifact itself.

    One version per kind and organisation is ``active``; promoting another retires it.
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("org_id", "kind", "version"),
        CheckConstraint(f"status IN {MODEL_STATUSES!r}", name="status"),
        Index(
            "uq_model_versions_one_active",
            "org_id",
            "kind",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default="candidate")
    created_at: Mapped[dt.datetime] = _now()
    promoted_at: Mapped[dt.datetime | None]
    # The version this one replaced when promoted: the path a rollback walks back.
    replaces_version: Mapped[int | None] = mapped_column(Integer)
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    training_rows: Mapped[int] = mapped_column(Integer)
    training_seconds: Mapped[float] = mapped_column(Float)
    params: Mapped[dict[str, Any]] = _attrs()
    metrics: Mapped[dict[str, Any]] = _attrs()
    artifact_format: Mapped[str] = mapped_column(String(32))
    # Deferred: listing versions must not pull every multi-megabyte artifact.
    artifact: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_by: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- agent


class AgentThread(Base):
    """A conversation with the agent: it belongs to one organisation and one user.

    The conversation itself lives in the checkpointer's tables (schema ``agent_memory``)
    under the key ``"<org_id>:<thread_id>"``; this row says who may read and resume it.
    """

    __tablename__ = "agent_threads"
    __table_args__ = (
        Index(None, "org_id", "user_id", "updated_at"),
        Index(None, "thread_id"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    thread_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()
    updated_at: Mapped[dt.datetime] = _now()
    # Where the conversation started (api, chat, slack, cli) and what that face keeps.
    channel: Mapped[str | None] = mapped_column(String(16))
    face_metadata: Mapped[dict[str, Any]] = _attrs()


class ChatStep(Base):
    """One step of a chat conversation as the chat shows it (message, tool step, reply)."""

    __tablename__ = "chat_steps"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "thread_id"],
            ["agent_threads.org_id", "agent_threads.thread_id"],
            ondelete="CASCADE",
        ),
        Index(None, "org_id", "thread_id", "created_at"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    step_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now()
    step: Mapped[dict[str, Any]] = _attrs()


class ChatElement(Base):
    """A picture or file shown in a chat conversation, kept so a resumed thread shows it."""

    __tablename__ = "chat_elements"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "thread_id"],
            ["agent_threads.org_id", "agent_threads.thread_id"],
            ondelete="CASCADE",
        ),
        Index(None, "org_id", "thread_id"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    element_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now()
    element: Mapped[dict[str, Any]] = _attrs()
    content: Mapped[bytes | None] = mapped_column(LargeBinary)


# --------------------------------------------------------------------------- ERP sync

SYNC_STATUSES = ("running", "finished", "failed")
MATCH_STATUSES = ("pending", "confirmed", "rejected")


class SupplierAlias(Base):
    """The same supplier's code in an ERP (vendor number, business partner)."""

    __tablename__ = "supplier_aliases"
    __table_args__ = (
        _fk("org_id", "supplier_id", "suppliers.id"),
        Index(None, "org_id", "supplier_id"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    system: Mapped[str] = mapped_column(Text, primary_key=True)
    external_code: Mapped[str] = mapped_column(Text, primary_key=True)
    supplier_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = _now()


class ErpSyncRun(Base):
    """One sync of one ERP: what it read, wrote and refused, and how long it took."""

    __tablename__ = "erp_sync_runs"
    __table_args__ = (
        CheckConstraint(f"status IN {SYNC_STATUSES!r}", name="status"),
        Index(None, "org_id", "system", "started_at"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    system: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="running")
    since: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime] = _now()
    finished_at: Mapped[dt.datetime | None]
    seconds: Mapped[float | None] = mapped_column(Float)
    counts: Mapped[dict[str, Any]] = _attrs()
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(Text)


class ErpWatermark(Base):
    """How far an entity of an ERP has been read: the largest change time stored."""

    __tablename__ = "erp_watermarks"

    org_id: Mapped[uuid.UUID] = _org_pk()
    system: Mapped[str] = mapped_column(Text, primary_key=True)
    entity: Mapped[str] = mapped_column(Text, primary_key=True)
    watermark: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime] = _now()


class ErpRejection(Base):
    """An ERP record the sync refused, with the reason and what it said."""

    __tablename__ = "erp_rejections"
    __table_args__ = (_fk("org_id", "run_id", "erp_sync_runs.id"),)

    org_id: Mapped[uuid.UUID] = _org_pk()
    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = _attrs()


class ItemMatchCandidate(Base):
    """A doubtful match between an ERP item and a store item, for a person to confirm."""

    __tablename__ = "item_match_candidates"
    __table_args__ = (
        _fk("org_id", "item_id", "items.id"),
        CheckConstraint(f"status IN {MATCH_STATUSES!r}", name="status"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    system: Mapped[str] = mapped_column(Text, primary_key=True)
    external_code: Mapped[str] = mapped_column(Text, primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    created_at: Mapped[dt.datetime] = _now()
    decided_by: Mapped[str | None] = mapped_column(Text)


COUNTER_OFFER_STATUSES = ("pending_approval", "approved", "rejected", "abandoned")


class CounterOffer(Base):
    """A counter-offer the agent drafted; it leaves the building only once a person approves."""

    __tablename__ = "counter_offers"
    __table_args__ = (
        _fk("org_id", "supplier_id", "suppliers.id", ondelete="RESTRICT"),
        _fk("org_id", "item_id", "items.id", ondelete="RESTRICT"),
        _currency_fk(),
        _unit_fk(),
        CheckConstraint(f"status IN {COUNTER_OFFER_STATUSES!r}", name="status"),
        CheckConstraint("unit_price > 0", name="unit_price_positive"),
        Index(None, "org_id", "status", "created_at"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    thread_id: Mapped[str | None] = mapped_column(String(64))
    supplier_id: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[int] = mapped_column(BigInteger)
    rfq_code: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal | None] = mapped_column(Numeric)
    unit_price: Mapped[Decimal] = _money()
    currency: Mapped[str] = mapped_column(String(3))
    unit: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    basis: Mapped[dict[str, Any]] = _attrs()
    status: Mapped[str] = mapped_column(String(16), server_default="pending_approval")
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)


ERP_ACTION_KINDS = ("create_requisition", "update_contract_price")
ERP_ACTION_STATUSES = (
    "pending_approval",
    "rejected",
    "abandoned",
    "approved",
    "sending",
    "sent",
    "failed",
)


class ErpAction(Base):
    """A write to an ERP the agent drafted; it is sent only once a person approves.

    ``payload`` holds exactly what is sent, in the ERP's own codes (Decimals as strings).
    ``sending`` is set and committed before the ERP is called: a row left in it after a
    crash is an outcome nobody knows, which a person checks before sending again.
    """

    __tablename__ = "erp_actions"
    __table_args__ = (
        _fk("org_id", "item_id", "items.id", ondelete="RESTRICT"),
        _fk("org_id", "supplier_id", "suppliers.id", ondelete="RESTRICT"),
        CheckConstraint(f"kind IN {ERP_ACTION_KINDS!r}", name="kind"),
        CheckConstraint(f"status IN {ERP_ACTION_STATUSES!r}", name="status"),
        Index(None, "org_id", "status", "created_at"),
    )

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    thread_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    system: Mapped[str] = mapped_column(Text)
    item_id: Mapped[int] = mapped_column(BigInteger)
    supplier_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = _attrs()
    summary: Mapped[str] = mapped_column(Text)
    basis: Mapped[dict[str, Any]] = _attrs()
    status: Mapped[str] = mapped_column(String(16), server_default="pending_approval")
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    external_id: Mapped[str | None] = mapped_column(Text)
    erp_message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- imports


class ImportRun(Base):
    """One import of a file (or feed): what was read, kept, updated and rejected."""

    __tablename__ = "import_runs"
    __table_args__ = (CheckConstraint("status IN ('running','succeeded','failed')", name="status"),)

    org_id: Mapped[uuid.UUID] = _org_pk()
    id: Mapped[int] = _id_pk()
    kind: Mapped[str] = mapped_column(String(16))
    source_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="running")
    started_at: Mapped[dt.datetime] = _now()
    finished_at: Mapped[dt.datetime | None]
    rows_read: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_inserted: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_updated: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_unchanged: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_rejected: Mapped[int] = mapped_column(Integer, server_default="0")
    seconds: Mapped[float | None] = mapped_column(Float)
    mapping: Mapped[dict[str, Any]] = _attrs()
    error: Mapped[str | None] = mapped_column(Text)


class ImportRejection(Base):
    """A row an import refused, with its line number, reason and raw values."""

    __tablename__ = "import_rejections"
    __table_args__ = (_fk("org_id", "import_run_id", "import_runs.id"),)

    org_id: Mapped[uuid.UUID] = _org_pk()
    import_run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = _attrs()


TENANT_TABLES: tuple[str, ...] = tuple(
    t.name for t in Base.metadata.sorted_tables if "org_id" in t.c
)
"""Every table holding tenant data; row-level security covers each of them."""

REFERENCE_TABLES: tuple[str, ...] = ("units", "unit_aliases", "currencies")
"""Global read-only reference data."""

__all__ = [
    "EMBEDDING_DIM",
    "REFERENCE_TABLES",
    "ROLES",
    "TENANT_TABLES",
    "AgentThread",
    "ApiKey",
    "AuditLog",
    "Base",
    "CategoryIndexLink",
    "ChatElement",
    "ChatStep",
    "Contract",
    "ContractPrice",
    "CounterOffer",
    "Currency",
    "DataGeneration",
    "ErpAction",
    "ErpRejection",
    "ErpSyncRun",
    "ErpWatermark",
    "FxRate",
    "ImportRejection",
    "ImportRun",
    "IndexObservation",
    "IndexSeries",
    "Item",
    "ItemAlias",
    "ItemMatchCandidate",
    "ModelVersion",
    "Organization",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "Quote",
    "QuoteLine",
    "Rfq",
    "RfqLine",
    "SlackWorkspace",
    "Supplier",
    "SupplierAlias",
    "Unit",
    "UnitAlias",
    "User",
]
