"""Import items (the item master): code, name, description, category, unit, attributes.

Re-importing updates what changed and leaves the rest; attributes from the file are
merged over the attributes already stored, so a file with fewer columns erases nothing.
"""

from __future__ import annotations

import uuid

import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.errors import ImportFileError
from store.bulk import raw_cursor
from store.importing import parse
from store.importing.common import attributes_json, csv_for_copy, rejections_for
from store.importing.files import ProgressFn, RawTable
from store.importing.mapping import ColumnMapping
from store.importing.runs import ImportResult, begin_import, end_import
from store.models import UnitAlias

FIELDS = ("item", "name", "description", "category", "unit")
STAGE_COLUMNS = ("line_no", "code", "name", "description", "category", "unit", "attributes")

_CREATE_STAGE = """
CREATE TEMP TABLE import_item_stage (
    line_no integer, code text, name text, description text, category text, unit text,
    attributes jsonb
) ON COMMIT DROP
"""

# Blank cells leave stored values alone; a name falls back to the description only where
# the stored name is just the code (an item first seen on a quote without a description).
_UPDATE = """
WITH changed AS (
    UPDATE items i SET
        name = coalesce(s.name, CASE WHEN i.name = i.code THEN s.description END, i.name),
        description = coalesce(s.description, i.description),
        category = coalesce(s.category, i.category),
        unit = coalesce(s.unit, i.unit),
        attributes = i.attributes || s.attributes,
        updated_at = now()
    FROM import_item_stage s
    WHERE i.org_id = :org AND i.code = s.code
      AND (i.name, i.description, i.category, i.unit, i.attributes)
          IS DISTINCT FROM
          (coalesce(s.name, CASE WHEN i.name = i.code THEN s.description END, i.name),
           coalesce(s.description, i.description), coalesce(s.category, i.category),
           coalesce(s.unit, i.unit), i.attributes || s.attributes)
    RETURNING 1
)
SELECT count(*) FROM changed
"""

_INSERT = """
INSERT INTO items (org_id, code, name, description, category, unit, attributes)
SELECT :org, code, coalesce(name, description, code), description, category, unit, attributes
FROM import_item_stage
ON CONFLICT (org_id, code) DO NOTHING
"""


def import_items(
    *,
    session: Session,
    org_id: uuid.UUID,
    table: RawTable,
    mapping: ColumnMapping,
    actor: str,
    progress: ProgressFn | None = None,
) -> ImportResult:
    """Import items from ``table`` in the caller's transaction."""
    columns = mapping.resolve(table.header, FIELDS)
    if "item" not in columns.values():
        raise ImportFileError(
            f"{table.source_name}: missing required column item; the file has "
            f'{", ".join(table.header)}. Map one with --map "Your Column=item".'
        )
    result = begin_import(
        session=session,
        org_id=org_id,
        kind="items",
        table=table,
        mapping=mapping.as_json(),
        actor=actor,
    )

    index = pd.RangeIndex(len(table.line_numbers))
    raw = {columns[c]: pd.Series(v, index=index, dtype="str") for c, v in table.columns.items()}

    def col(name: str) -> pd.Series:
        return raw[name].str.strip() if name in raw else pd.Series("", index=index, dtype="str")

    units = {a.alias: a.unit_code for a in session.scalars(select(UnitAlias)).all()}
    reasons = [parse.required(col("item"), "item")]
    out = pd.DataFrame(index=index)
    out["line_no"] = table.line_numbers
    out["code"] = col("item")
    out["name"] = col("name")
    out["description"] = col("description")
    out["category"] = col("category")
    out["unit"], r = parse.units(col("unit"), "unit", units)
    reasons.append(r)
    extra = {name: series for name, series in raw.items() if name not in FIELDS}
    out["attributes"] = attributes_json(extra, mapping.attribute_types, index)
    combined = parse.combine(reasons, index)
    dup = combined.isna() & out["code"].duplicated(keep="first")
    if dup.any():
        first = out.loc[combined.isna()].groupby("code")["line_no"].transform("first")
        combined[dup] = "duplicate of line " + first[dup].astype(str) + " (same item code)"
    good = combined.isna()
    result.rejections.extend(rejections_for(table, index[~good], combined[~good]))
    stage = out.loc[good]
    if progress:
        progress("validate", len(index), len(index))

    if len(stage):
        connection = session.connection()
        connection.execute(text(_CREATE_STAGE))
        with raw_cursor(connection).copy(
            f"COPY import_item_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            copy.write(csv_for_copy(stage.loc[:, list(STAGE_COLUMNS)]))
        result.updated = int(connection.execute(text(_UPDATE), {"org": org_id}).scalar_one())
        result.inserted = int(connection.execute(text(_INSERT), {"org": org_id}).rowcount)
        connection.execute(text("DROP TABLE import_item_stage"))
        result.unchanged = len(stage) - result.inserted - result.updated
    end_import(session=session, org_id=org_id, result=result, actor=actor)
    return result
