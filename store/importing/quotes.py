"""Import quote lines: validate every row, keep the good ones, explain the bad ones.

Valid rows go to a temporary staging table in one COPY; suppliers, items, RFQs, RFQ
lines, quote headers and quote lines are then upserted set-wise in SQL. A quote line's
natural key (RFQ, RFQ line and supplier; or supplier, item, date, quantity and unit when
there is no RFQ) makes re-importing a file idempotent, and a changed price on a re-import
updates the line instead of duplicating it.
"""

from __future__ import annotations

import uuid

import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.errors import ImportFileError
from store.bulk import raw_cursor
from store.importing import parse
from store.importing.common import attributes_json, csv_for_copy, memo, rejections_for
from store.importing.files import ProgressFn, RawTable
from store.importing.mapping import ColumnMapping
from store.importing.runs import ImportResult, begin_import, end_import
from store.models import Currency, Item, UnitAlias
from store.suppliers import supplier_key

REQUIRED = ("supplier", "item", "quote_date", "quantity", "unit_price")
OPTIONAL = (
    "currency",
    "unit",
    "item_description",
    "supplier_name",
    "rfq",
    "rfq_line",
    "incoterm",
    "lead_time_days",
    "valid_until",
    "awarded",
)
FIELDS = REQUIRED + OPTIONAL
SEP = "\x1f"  # unit separator: cannot occur in a CSV cell people type

STAGE_COLUMNS = (
    "line_no",
    "supplier_code",
    "supplier_key",
    "supplier_name",
    "item_code",
    "item_name",
    "rfq_code",
    "line_code",
    "quote_key",
    "natural_key",
    "quote_date",
    "quantity",
    "unit",
    "unit_price",
    "currency",
    "incoterm",
    "lead_time_days",
    "valid_until",
    "awarded",
    "description",
    "attributes",
)

_CREATE_STAGE = """
CREATE TEMP TABLE import_quote_stage (
    line_no integer, supplier_code text, supplier_key text, supplier_name text,
    item_code text, item_name text, rfq_code text, line_code text, quote_key text,
    natural_key text, quote_date date, quantity numeric, unit text, unit_price numeric,
    currency text, incoterm text, lead_time_days integer, valid_until date,
    awarded boolean, description text, attributes jsonb
) ON COMMIT DROP
"""

_UPSERTS = (
    """
    INSERT INTO suppliers (org_id, code, code_key, name)
    SELECT DISTINCT ON (supplier_key) :org, supplier_code, supplier_key, supplier_name
    FROM import_quote_stage ORDER BY supplier_key, line_no
    ON CONFLICT (org_id, code_key) DO NOTHING
    """,
    # An item first seen without a description is named by its code; a later file that
    # brings a description names it properly.
    """
    INSERT INTO items (org_id, code, name, unit)
    SELECT DISTINCT ON (item_code) :org, item_code, coalesce(item_name, item_code), unit
    FROM import_quote_stage ORDER BY item_code, line_no
    ON CONFLICT (org_id, code) DO UPDATE SET name = excluded.name, updated_at = now()
    WHERE items.name = items.code AND excluded.name <> excluded.code
    """,
    """
    INSERT INTO rfqs (org_id, code, issued_date, source)
    SELECT :org, rfq_code, min(quote_date), :source
    FROM import_quote_stage WHERE rfq_code IS NOT NULL GROUP BY rfq_code
    ON CONFLICT (org_id, code) DO NOTHING
    """,
    """
    INSERT INTO rfq_lines (org_id, rfq_id, line_code, item_id, quantity, unit, description)
    SELECT DISTINCT ON (r.id, s.line_code)
           :org, r.id, s.line_code, i.id, s.quantity, s.unit, s.description
    FROM import_quote_stage s
    JOIN rfqs r ON r.org_id = :org AND r.code = s.rfq_code
    JOIN items i ON i.org_id = :org AND i.code = s.item_code
    ORDER BY r.id, s.line_code, s.line_no
    ON CONFLICT (org_id, rfq_id, line_code) DO NOTHING
    """,
    """
    INSERT INTO quotes (org_id, quote_key, supplier_id, rfq_id, quote_date, currency, source)
    SELECT DISTINCT ON (s.quote_key) :org, s.quote_key, sp.id, r.id, s.quote_date, s.currency,
           :source
    FROM import_quote_stage s
    JOIN suppliers sp ON sp.org_id = :org AND sp.code_key = s.supplier_key
    LEFT JOIN rfqs r ON r.org_id = :org AND r.code = s.rfq_code
    ORDER BY s.quote_key, s.line_no
    ON CONFLICT (org_id, quote_key) DO NOTHING
    """,
)

_UPSERT_LINES = """
WITH upserted AS (
    INSERT INTO quote_lines (
        org_id, natural_key, quote_id, supplier_id, item_id, rfq_line_id, quote_date,
        quantity, unit, unit_price, currency, incoterm, lead_time_days, valid_until,
        awarded, description, attributes, source, import_run_id)
    SELECT :org, s.natural_key, q.id, q.supplier_id, i.id, rl.id, s.quote_date,
           s.quantity, s.unit, s.unit_price, s.currency, s.incoterm, s.lead_time_days,
           s.valid_until, s.awarded, s.description, s.attributes, :source, :run
    FROM import_quote_stage s
    JOIN quotes q ON q.org_id = :org AND q.quote_key = s.quote_key
    JOIN items i ON i.org_id = :org AND i.code = s.item_code
    LEFT JOIN rfqs r ON r.org_id = :org AND r.code = s.rfq_code
    LEFT JOIN rfq_lines rl ON rl.org_id = :org AND rl.rfq_id = r.id
                          AND rl.line_code = s.line_code
    ON CONFLICT (org_id, natural_key) DO UPDATE SET
        quantity = excluded.quantity, unit = excluded.unit,
        unit_price = excluded.unit_price, currency = excluded.currency,
        incoterm = excluded.incoterm, lead_time_days = excluded.lead_time_days,
        valid_until = excluded.valid_until, awarded = excluded.awarded,
        description = excluded.description, attributes = excluded.attributes,
        import_run_id = excluded.import_run_id, updated_at = now()
    WHERE (quote_lines.quantity, quote_lines.unit, quote_lines.unit_price,
           quote_lines.currency, quote_lines.incoterm, quote_lines.lead_time_days,
           quote_lines.valid_until, quote_lines.awarded, quote_lines.description,
           quote_lines.attributes)
          IS DISTINCT FROM
          (excluded.quantity, excluded.unit, excluded.unit_price, excluded.currency,
           excluded.incoterm, excluded.lead_time_days, excluded.valid_until,
           excluded.awarded, excluded.description, excluded.attributes)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
"""


def import_quotes(
    *,
    session: Session,
    org_id: uuid.UUID,
    table: RawTable,
    mapping: ColumnMapping,
    actor: str,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import quote lines from ``table`` in the caller's transaction."""
    columns = mapping.resolve(table.header, FIELDS)
    missing = [f for f in REQUIRED if f not in columns.values() and f not in mapping.defaults]
    if missing:
        raise ImportFileError(
            f"{table.source_name}: missing required column(s) {', '.join(missing)}; "
            f"the file has {', '.join(table.header)}. "
            'Map columns with --map "Your Column=field" or --mapping FILE.'
        )
    source = mapping.source or table.source_name
    result = begin_import(
        session=session,
        org_id=org_id,
        kind="quotes",
        table=table,
        mapping=mapping.as_json(),
        actor=actor,
    )

    if progress:
        progress("validate", 0, len(table.line_numbers))
    frame, reasons = _validate(session, org_id, table, columns, mapping)
    good = reasons.isna()
    if (~good).any():
        result.rejections.extend(rejections_for(table, frame.index[~good], reasons[~good]))
    stage = frame.loc[good]
    if progress:
        progress("validate", len(table.line_numbers), len(table.line_numbers))

    if len(stage):
        inserted, updated = _write(session, org_id, stage, source, result.run_id, progress)
        result.inserted, result.updated = inserted, updated
        result.unchanged = len(stage) - inserted - updated
    end_import(session=session, org_id=org_id, result=result, actor=actor)
    return result


# --------------------------------------------------------------------------- validation


def _lookups(session: Session, org_id: uuid.UUID) -> tuple[set[str], dict[str, str]]:
    currencies = set(session.scalars(select(Currency.code)).all())
    units = {a.alias: a.unit_code for a in session.scalars(select(UnitAlias)).all()}
    return currencies, units


def _validate(
    session: Session,
    org_id: uuid.UUID,
    table: RawTable,
    columns: dict[str, str],
    mapping: ColumnMapping,
) -> tuple[pd.DataFrame, pd.Series]:
    """Parse every field; return the staged frame and each row's rejection reason."""
    index = pd.RangeIndex(len(table.line_numbers))
    # Arrow-backed strings: the .str operations below run in C++, not per value in Python.
    raw = {columns[c]: pd.Series(v, index=index, dtype="str") for c, v in table.columns.items()}

    def col(name: str) -> pd.Series:
        if name in raw:
            return raw[name]
        return pd.Series(mapping.defaults.get(name, ""), index=index, dtype="str")

    currencies, unit_lookup = _lookups(session, org_id)
    reasons: list[pd.Series] = [parse.required(col(f), f) for f in REQUIRED]
    out = pd.DataFrame(index=index)
    out["line_no"] = table.line_numbers

    supplier = col("supplier").str.strip()
    out["supplier_code"] = supplier
    out["supplier_key"] = supplier.map(memo(supplier_key))
    supplier_name = col("supplier_name").str.strip()
    out["supplier_name"] = supplier_name.where(supplier_name.ne(""), supplier)
    out["item_code"] = col("item").str.strip()
    description = col("item_description").str.strip()
    out["item_name"] = description
    out["description"] = description

    out["quote_date"], r = parse.dates(col("quote_date"), "quote_date", fmt=mapping.date_format)
    reasons.append(r)
    out["quantity"], r = parse.decimal_text(
        col("quantity"), "quantity", minimum="0", allow_zero=False
    )
    reasons.append(r)
    out["unit_price"], r = parse.decimal_text(col("unit_price"), "unit_price", minimum="0")
    reasons.append(r)
    out["currency"], r = parse.codes(col("currency"), "currency", currencies, default="USD")
    reasons.append(r)
    out["incoterm"], r = parse.codes(col("incoterm"), "incoterm", parse.INCOTERMS)
    reasons.append(r)
    out["lead_time_days"], r = parse.integers(col("lead_time_days"), "lead_time_days")
    reasons.append(r)
    out["valid_until"], r = parse.dates(col("valid_until"), "valid_until", fmt=mapping.date_format)
    reasons.append(r)
    out["awarded"], r = parse.booleans(col("awarded"), "awarded")
    reasons.append(r)

    unit, r = parse.units(col("unit"), "unit", unit_lookup)
    reasons.append(r)
    missing_unit = unit.eq("") & col("unit").str.strip().eq("")
    if missing_unit.any():
        # No unit on the line: the item's unit on record, if the store knows the item.
        known = dict(
            session.execute(
                select(Item.code, Item.unit).where(
                    Item.org_id == org_id, Item.code.in_(set(out["item_code"][missing_unit]))
                )
            ).all()
        )
        fallback = out["item_code"].map(known).fillna("")
        unit = unit.where(~missing_unit, fallback)
        need = missing_unit & unit.eq("")
        r = pd.Series([None] * len(index), index=index, dtype=object)
        r[need] = "unit is missing and the item has no unit on record"
        reasons.append(r)
    out["unit"] = unit

    # Keys: quantities compare as numbers (1080 == 1080.0), not as text.
    qty_key = parse.floats(out["quantity"]).map(repr)
    rfq = col("rfq").str.strip()
    rfq_line = col("rfq_line").str.strip()
    derived_line = out["item_code"] + "|" + qty_key + "|" + out["unit"]
    out["rfq_code"] = rfq
    out["line_code"] = rfq_line.where(rfq_line.ne(""), derived_line).where(rfq.ne(""), "")
    with_rfq = rfq.ne("")
    out["natural_key"] = (
        "rfq" + SEP + rfq + SEP + out["line_code"] + SEP + out["supplier_key"]
    ).where(
        with_rfq,
        "adhoc"
        + SEP
        + out["supplier_key"]
        + SEP
        + out["item_code"]
        + SEP
        + out["quote_date"]
        + SEP
        + qty_key
        + SEP
        + out["unit"]
        + SEP
        + out["currency"],
    )
    out["quote_key"] = (
        out["supplier_key"] + SEP + rfq + SEP + out["quote_date"] + SEP + out["currency"]
    )
    known_fields = set(FIELDS)
    attr_cols = {name: series for name, series in raw.items() if name not in known_fields}
    out["attributes"] = attributes_json(attr_cols, mapping.attribute_types, index)

    combined = parse.combine(reasons, index)
    # Within one file, a second row with the same natural key is the same quote line.
    dup = combined.isna() & out["natural_key"].duplicated(keep="first")
    if dup.any():
        first_line = out.loc[combined.isna()].groupby("natural_key")["line_no"].transform("first")
        combined[dup] = (
            "duplicate of line "
            + first_line[dup].astype(str)
            + " (same supplier, RFQ line or item, date and quantity)"
        )
    return out, combined


# --------------------------------------------------------------------------- writing


def _write(
    session: Session,
    org_id: uuid.UUID,
    stage: pd.DataFrame,
    source: str,
    run_id: int,
    progress: ProgressFn | None,
) -> tuple[int, int]:
    connection = session.connection()
    connection.execute(text(_CREATE_STAGE))
    payload = csv_for_copy(stage.loc[:, list(STAGE_COLUMNS)])
    cursor = raw_cursor(connection)
    total = len(payload)
    with cursor.copy(
        f"COPY import_quote_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
    ) as copy:
        step = 8 << 20
        for start in range(0, total, step):
            copy.write(payload[start : start + step])
            if progress:
                progress("write", min(start + step, total), total)
    # Autovacuum never analyses temporary tables, and rows inserted earlier in this
    # transaction have no statistics either (the service role may not ANALYZE tables it
    # does not own). The planner then expects a handful of rows and picks nested loops
    # over 100,000s; these statements are set-wise joins, so hash joins are right.
    connection.execute(text("ANALYZE import_quote_stage"))
    connection.execute(text("SET LOCAL enable_nestloop = off"))
    params = {"org": org_id, "source": source, "run": run_id}
    for statement in _UPSERTS:
        connection.execute(text(statement), params)
    row = connection.execute(text(_UPSERT_LINES), params).one()
    connection.execute(text("DROP TABLE import_quote_stage"))
    connection.execute(text("RESET enable_nestloop"))
    return int(row[0]), int(row[1])
