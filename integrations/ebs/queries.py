"""The connector's SQL, written once for Oracle 12c+ (production) and PostgreSQL (tests).

Every statement keeps to what both databases accept: ANSI joins, ``COALESCE``, scalar
subqueries, ``FETCH FIRST :page_size ROWS ONLY``, ``:name`` binds through SQLAlchemy
``text()``, no table-alias ``AS`` (Oracle refuses it), no casts, no ``LIMIT``, no
``RETURNING``, no boolean literals and no ``GREATEST``/``LEAST`` (Oracle returns NULL when
any argument is NULL, PostgreSQL skips NULLs). Values are always bound; the only thing put
into the text is the optional schema owner, which the settings restrict to a plain
identifier, and fragments that are constants of this module.

Reads are keyset-paged: ``ORDER BY <id>`` with ``<id> > :after`` and ``FETCH FIRST``, so a
large read streams page by page and never re-reads or skips a row when the table grows.
Incremental reads bind ``:since`` (a naive datetime in the database's clock) and
``:full_read`` (1 for a full read, so rows with a NULL ``last_update_date`` still come).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from sqlalchemy import TextClause, bindparam, text

# The tables the connector touches, in EBS R12 (``po_vendors`` is a view over ap_suppliers).
TABLES = (
    "po_headers_all",
    "po_lines_all",
    "po_line_locations_all",
    "ap_suppliers",
    "mtl_system_items_b",
    "po_requisitions_interface_all",
)

_OWNER = re.compile(r"^[A-Za-z][A-Za-z0-9_$#]{0,127}$")
_MARK = "{o}"  # stands for the owner prefix ("" or "APPS.") in front of every table name

# ----------------------------------------------------------------------------- reads

SUPPLIERS = """
SELECT s.vendor_id, s.segment1, s.vendor_name, s.enabled_flag, s.last_update_date
FROM {o}ap_suppliers s
WHERE (:full_read = 1 OR s.last_update_date > :since)
  AND s.vendor_id > :after
ORDER BY s.vendor_id
FETCH FIRST :page_size ROWS ONLY
"""

# One row per item: the item master's, or else the lowest organization holding the item
# (an item keeps its segment1, description and primary unit in every organization).
_ITEM_MASTER = "i.organization_id = :master_org_id"
_ITEM_LOWEST_ORG = """i.organization_id = (
        SELECT MIN(m.organization_id) FROM {o}mtl_system_items_b m
        WHERE m.inventory_item_id = i.inventory_item_id)"""

_ITEMS = """
SELECT i.inventory_item_id, i.organization_id, i.segment1, i.description,
       i.primary_uom_code, i.last_update_date
FROM {o}mtl_system_items_b i
WHERE (:full_read = 1 OR i.last_update_date > :since)
  AND {item_org}
  AND i.inventory_item_id > :after
ORDER BY i.inventory_item_id
FETCH FIRST :page_size ROWS ONLY
"""

# The item number of a line; MIN() keeps the subquery single-row whatever the org layout.
_ITEM_CODE_MASTER = """(SELECT MIN(i.segment1) FROM {o}mtl_system_items_b i
        WHERE i.inventory_item_id = l.item_id AND i.organization_id = :master_org_id)"""
_ITEM_CODE_ANY = """(SELECT MIN(i.segment1) FROM {o}mtl_system_items_b i
        WHERE i.inventory_item_id = l.item_id)"""

_OPERATING_UNITS = "AND h.org_id IN :org_ids"

# Standard, approved purchase orders. Shipments (po_line_locations_all) are folded into the
# line with scalar subqueries, which both optimisers run through the po_line_id index:
# the price is the shipment's price_override when set, else the line's unit_price.
_PO_LINES = """
SELECT h.po_header_id, h.segment1 AS po_number, h.org_id, h.vendor_id, h.currency_code,
       h.authorization_status, h.creation_date, h.last_update_date AS header_updated,
       l.po_line_id, l.line_num, l.item_id, l.item_description, l.unit_meas_lookup_code,
       l.unit_price AS line_unit_price, l.quantity, l.last_update_date AS line_updated,
       s.segment1 AS supplier_code,
       {item_code} AS item_code,
       (SELECT MAX(ll.price_override) FROM {o}po_line_locations_all ll
        WHERE ll.po_line_id = l.po_line_id) AS price_override,
       (SELECT MIN(ll.price_override) FROM {o}po_line_locations_all ll
        WHERE ll.po_line_id = l.po_line_id) AS price_override_min,
       COALESCE((SELECT MAX(ll.price_override) FROM {o}po_line_locations_all ll
                 WHERE ll.po_line_id = l.po_line_id), l.unit_price) AS unit_price,
       (SELECT SUM(ll.quantity_received) FROM {o}po_line_locations_all ll
        WHERE ll.po_line_id = l.po_line_id) AS quantity_received,
       (SELECT MIN(ll.need_by_date) FROM {o}po_line_locations_all ll
        WHERE ll.po_line_id = l.po_line_id) AS need_by_date,
       (SELECT MAX(ll.last_update_date) FROM {o}po_line_locations_all ll
        WHERE ll.po_line_id = l.po_line_id) AS shipment_updated
FROM {o}po_lines_all l
JOIN {o}po_headers_all h ON h.po_header_id = l.po_header_id
LEFT JOIN {o}ap_suppliers s ON s.vendor_id = h.vendor_id
WHERE h.type_lookup_code = 'STANDARD'
  AND h.authorization_status = 'APPROVED'
  AND (:full_read = 1
       OR h.last_update_date > :since
       OR l.last_update_date > :since
       OR EXISTS (SELECT 1 FROM {o}po_line_locations_all ll
                  WHERE ll.po_line_id = l.po_line_id AND ll.last_update_date > :since))
  AND l.po_line_id > :after
  {operating_units}
ORDER BY l.po_line_id
FETCH FIRST :page_size ROWS ONLY
"""

# Blanket agreements (contract prices) and quotations (standing prices) share a shape:
# the header's validity dates and the line's price. Blankets must be approved; quotations
# carry no authorization_status in EBS (their status_lookup_code is left out here).
_APPROVED = "AND h.authorization_status = 'APPROVED'"

_AGREEMENT_LINES = """
SELECT h.po_header_id, h.segment1 AS document_number, h.org_id, h.vendor_id,
       h.currency_code, h.authorization_status, h.start_date, h.end_date,
       h.last_update_date AS header_updated,
       l.po_line_id, l.line_num, l.item_id, l.item_description, l.unit_meas_lookup_code,
       l.unit_price, l.last_update_date AS line_updated,
       s.segment1 AS supplier_code,
       {item_code} AS item_code
FROM {o}po_lines_all l
JOIN {o}po_headers_all h ON h.po_header_id = l.po_header_id
LEFT JOIN {o}ap_suppliers s ON s.vendor_id = h.vendor_id
WHERE h.type_lookup_code = :document_type
  {approved}
  AND (:full_read = 1 OR h.last_update_date > :since OR l.last_update_date > :since)
  AND l.po_line_id > :after
  {operating_units}
ORDER BY l.po_line_id
FETCH FIRST :page_size ROWS ONLY
"""

# ----------------------------------------------------------------------------- writes

SUPPLIER_BY_CODE = """
SELECT s.vendor_id, s.vendor_name, s.enabled_flag
FROM {o}ap_suppliers s
WHERE s.segment1 = :supplier_code
"""

# Requisition Import (the concurrent program) turns interface rows into requisitions and
# numbers them; the connector only queues a row under its own batch_id.
INSERT_REQUISITION = """
INSERT INTO {o}po_requisitions_interface_all (
    batch_id, interface_source_code, source_type_code, destination_type_code,
    authorization_status, org_id, preparer_id, item_segment1, quantity, unit_price,
    unit_of_measure, currency_code, suggested_vendor_id, suggested_vendor_name,
    need_by_date, destination_organization_code, note_to_buyer,
    creation_date, last_update_date)
VALUES (
    :batch_id, :interface_source_code, 'VENDOR', 'EXPENSE',
    'APPROVED', :org_id, :preparer_id, :item_segment1, :quantity, :unit_price,
    :unit_of_measure, :currency_code, :suggested_vendor_id, :suggested_vendor_name,
    :need_by_date, :destination_organization_code, :note_to_buyer,
    :now, :now)
"""

_BLANKET_LINE = """
SELECT l.po_line_id, l.unit_price, l.unit_meas_lookup_code, h.currency_code, h.org_id,
       h.po_header_id
FROM {o}po_lines_all l
JOIN {o}po_headers_all h ON h.po_header_id = l.po_header_id
WHERE h.type_lookup_code = 'BLANKET'
  AND h.segment1 = :contract_number
  AND l.line_num = :line_num
  {operating_units}
"""

# A direct update of the base table: see EbsConnector.update_contract_price for why
# production should go through the Purchasing Documents Open Interface instead.
UPDATE_BLANKET_PRICE = """
UPDATE {o}po_lines_all
SET unit_price = :unit_price, last_update_date = :now
WHERE po_line_id = :po_line_id
  AND COALESCE(unit_price, -1) = COALESCE(:old_unit_price, -1)
"""


def owner_prefix(owner: str | None) -> str:
    """Return ``"OWNER."`` for a plain identifier, ``""`` for none; refuse anything else."""
    if owner is None:
        return ""
    if not _OWNER.match(owner):
        raise ValueError("schema owner must be a plain identifier such as APPS")
    return owner + "."


def _sql(template: str, owner: str | None, **fragments: str) -> str:
    # Fragments are this module's constants; they may themselves name tables.
    for name, fragment in fragments.items():
        template = template.replace("{" + name + "}", fragment)
    return template.replace(_MARK, owner_prefix(owner)).strip()


@dataclass(frozen=True, slots=True)
class EbsStatements:
    """Every statement the connector runs, built for one owner and filter set-up."""

    suppliers: TextClause
    items: TextClause
    po_lines: TextClause
    contract_lines: TextClause  # approved blanket agreements; bind document_type='BLANKET'
    quotation_lines: TextClause  # quotations; bind document_type='QUOTATION'
    supplier_by_code: TextClause
    insert_requisition: TextClause
    blanket_line: TextClause
    update_blanket_price: TextClause

    def all(self) -> dict[str, TextClause]:
        """Name each statement, for tests and logs."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def build_statements(
    *,
    owner: str | None = None,
    filter_operating_units: bool = False,
    item_master: bool = False,
) -> EbsStatements:
    """Build the statements; the filters only switch constant fragments, values stay bound.

    With ``filter_operating_units`` the reads bind ``:org_ids`` (an expanding list); with
    ``item_master`` they bind ``:master_org_id``.
    """
    units = _OPERATING_UNITS if filter_operating_units else ""
    item_code = _ITEM_CODE_MASTER if item_master else _ITEM_CODE_ANY
    item_org = _ITEM_MASTER if item_master else _ITEM_LOWEST_ORG

    def clause(sql: str, *, org_ids: bool = False) -> TextClause:
        statement = text(sql)
        if org_ids and filter_operating_units:
            statement = statement.bindparams(bindparam("org_ids", expanding=True))
        return statement

    return EbsStatements(
        suppliers=clause(_sql(SUPPLIERS, owner)),
        items=clause(_sql(_ITEMS, owner, item_org=item_org)),
        po_lines=clause(
            _sql(_PO_LINES, owner, item_code=item_code, operating_units=units), org_ids=True
        ),
        contract_lines=clause(
            _sql(
                _AGREEMENT_LINES,
                owner,
                item_code=item_code,
                operating_units=units,
                approved=_APPROVED,
            ),
            org_ids=True,
        ),
        quotation_lines=clause(
            _sql(
                _AGREEMENT_LINES,
                owner,
                item_code=item_code,
                operating_units=units,
                approved="",
            ),
            org_ids=True,
        ),
        supplier_by_code=clause(_sql(SUPPLIER_BY_CODE, owner)),
        insert_requisition=clause(_sql(INSERT_REQUISITION, owner)),
        blanket_line=clause(_sql(_BLANKET_LINE, owner, operating_units=units), org_ids=True),
        update_blanket_price=clause(_sql(UPDATE_BLANKET_PRICE, owner)),
    )
