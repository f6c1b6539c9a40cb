"""Price history as modelling frames: quote lines, index observations, category links.

Modelling works in floats (DESIGN: floats only inside models); prices leave the store as
float only here, converted to each item's own unit so that one item's history is
comparable across quotes in ``S.Y.`` and ``m2``. Lines whose unit cannot be converted to
the item's unit keep their own unit (the unit is a feature).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.errors import UnitConversionError
from store.models import CategoryIndexLink
from store.units import UnitCatalog

_QUOTES = text(
    """
    SELECT ql.id AS line_id, ql.quote_date, ql.item_id, i.code AS item_code,
           coalesce(i.category, '') AS category, coalesce(i.unit, ql.unit) AS item_unit,
           i.attributes AS item_attributes, ql.supplier_id, q.rfq_id, ql.rfq_line_id,
           ql.quantity::float8 AS quantity, ql.unit, ql.unit_price::float8 AS unit_price,
           ql.currency, ql.attributes AS line_attributes
    FROM quote_lines ql
    JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id
    JOIN quotes q ON q.org_id = ql.org_id AND q.id = ql.quote_id
    WHERE ql.org_id = :org
      AND (CAST(:until AS date) IS NULL OR ql.quote_date < CAST(:until AS date))
    ORDER BY ql.quote_date, ql.id
    """
)


def quote_history(
    *, session: Session, org_id: uuid.UUID, until: dt.date | None = None
) -> pd.DataFrame:
    """Return the organisation's quote lines (before ``until``) as a modelling frame.

    ``quantity`` and ``unit_price`` are expressed in ``item_unit`` where convertible.
    """
    # Row-level security scopes the session as well; the filter says what is meant.
    frame = pd.read_sql(_QUOTES, session.connection(), params={"until": until, "org": str(org_id)})
    if frame.empty:
        return frame
    frame["quote_date"] = pd.to_datetime(frame["quote_date"])
    _to_item_units(frame, UnitCatalog.load(session))
    frame["rfq_id"] = frame["rfq_id"].astype("Int64")
    frame["rfq_line_id"] = frame["rfq_line_id"].astype("Int64")
    return frame


def _to_item_units(frame: pd.DataFrame, catalog: UnitCatalog) -> None:
    """Re-express ``quantity``, ``unit_price`` and ``unit`` in ``item_unit`` where convertible."""
    factors: dict[tuple[str, str], float] = {}
    for unit, item_unit in frame[["unit", "item_unit"]].drop_duplicates().itertuples(index=False):
        try:
            factors[(unit, item_unit)] = float(catalog.factor(unit, item_unit))
        except UnitConversionError:
            factors[(unit, item_unit)] = float("nan")
    factor = pd.Series(
        [factors[(u, iu)] for u, iu in zip(frame["unit"], frame["item_unit"], strict=True)],
        index=frame.index,
    )
    convertible = factor.notna()
    frame.loc[convertible, "quantity"] = frame["quantity"][convertible] * factor[convertible]
    frame.loc[convertible, "unit_price"] = frame["unit_price"][convertible] / factor[convertible]
    frame.loc[convertible, "unit"] = frame["item_unit"][convertible]


_PRICE_LINES = text(
    """
    SELECT ql.id AS line_id, ql.quote_date, ql.item_id, ql.supplier_id,
           coalesce(i.unit, ql.unit) AS item_unit, ql.quantity::float8 AS quantity, ql.unit,
           ql.unit_price::float8 AS unit_price, ql.currency
    FROM quote_lines ql
    JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id
    WHERE ql.org_id = :org
    ORDER BY ql.quote_date, ql.id
    """
)


def price_lines(*, session: Session, org_id: uuid.UUID, catalog: UnitCatalog) -> pd.DataFrame:
    """Return all the organisation's quote lines with what pricing needs, without attributes.

    The rows, their order and the columns they share with ``quote_history`` (line_id,
    quote_date, item_id, supplier_id, item_unit, quantity, unit, unit_price, currency) are
    exactly ``quote_history``'s; ``line_quantity`` and ``line_unit`` keep the quantity and
    unit as quoted.
    """
    frame = pd.read_sql(_PRICE_LINES, session.connection(), params={"org": str(org_id)})
    frame["quote_date"] = pd.to_datetime(frame["quote_date"])
    frame["line_quantity"] = frame["quantity"]
    frame["line_unit"] = frame["unit"]
    if not frame.empty:
        _to_item_units(frame, catalog)
    return frame


def index_observations(
    *, session: Session, org_id: uuid.UUID, codes: list[str] | None = None
) -> pd.DataFrame:
    """Return index observations as ``code, obs_date, value`` (float)."""
    frame = pd.read_sql(
        text(
            """
            SELECT s.code, o.obs_date, o.value::float8 AS value
            FROM index_observations o
            JOIN index_series s ON s.org_id = o.org_id AND s.id = o.series_id
            WHERE o.org_id = :org
              AND (CAST(:codes AS text[]) IS NULL OR s.code = ANY(CAST(:codes AS text[])))
            ORDER BY s.code, o.obs_date
            """
        ),
        session.connection(),
        params={"codes": codes, "org": str(org_id)},
    )
    frame["obs_date"] = pd.to_datetime(frame["obs_date"])
    return frame


def category_links(*, session: Session, org_id: uuid.UUID) -> dict[str, str]:
    """Return the organisation's item category -> index series code links."""
    rows = session.execute(
        select(CategoryIndexLink.category, CategoryIndexLink.series_code).where(
            CategoryIndexLink.org_id == org_id
        )
    ).all()
    return {str(category): str(code) for category, code in rows}


def set_category_link(
    *, session: Session, org_id: uuid.UUID, category: str, series_code: str, note: str | None
) -> None:
    """Create or change the index series linked to an item category."""
    session.execute(
        text(
            """
            INSERT INTO category_index_links (org_id, category, series_code, note)
            VALUES (:org, :category, :code, :note)
            ON CONFLICT (org_id, category) DO UPDATE
            SET series_code = excluded.series_code, note = excluded.note, updated_at = now()
            """
        ),
        {"org": org_id, "category": category, "code": series_code, "note": note},
    )


def typical_quantity(
    *, session: Session, org_id: uuid.UUID, item_id: int, unit: str, until: dt.date
) -> Decimal | None:
    """Return the median quantity quoted for an item in ``unit`` before ``until``, if any.

    Unit prices fall with quantity, so a question that gives none is answered for the size
    of order this buyer usually places, not for one unit.
    """
    value = session.execute(
        text(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY quantity) FROM quote_lines "
            "WHERE org_id = :org AND item_id = :item AND unit = :unit AND quote_date < :until"
        ),
        {"org": org_id, "item": item_id, "unit": unit, "until": until},
    ).scalar()
    if value is None:
        return None
    return whole_quantity(float(value))


def whole_quantity(median: float) -> Decimal:
    """A median quantity as ``typical_quantity`` reports it: whole, and at least one."""
    return Decimal(str(median)).quantize(Decimal(1)) or Decimal(1)
