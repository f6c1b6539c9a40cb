"""An EBS R12-shaped schema for PostgreSQL and a few hundred generated rows to fill it.

Types follow the Oracle originals: NUMBER -> NUMERIC, VARCHAR2 -> VARCHAR, DATE ->
TIMESTAMP (an Oracle DATE holds a time of day). EBS declares no foreign keys on these
tables, so neither does this schema: a line may point at a supplier that does not exist,
which is one of the faults the connector must reject.

Beyond the columns listed in INTEGRATIONS.md the schema carries columns real EBS has and
the connector reads: ``last_update_date`` on ap_suppliers, mtl_system_items_b and
po_line_locations_all (incremental reads), ``start_date``/``end_date`` on po_headers_all
(validity of blanket agreements and quotations), and po_requisitions_interface_all.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

DDL = [
    """CREATE TABLE ap_suppliers (
        vendor_id NUMERIC NOT NULL PRIMARY KEY,
        segment1 VARCHAR(30),
        vendor_name VARCHAR(240),
        enabled_flag VARCHAR(1),
        last_update_date TIMESTAMP)""",
    """CREATE TABLE mtl_system_items_b (
        inventory_item_id NUMERIC NOT NULL,
        organization_id NUMERIC NOT NULL,
        segment1 VARCHAR(40),
        description VARCHAR(240),
        primary_uom_code VARCHAR(3),
        last_update_date TIMESTAMP,
        PRIMARY KEY (inventory_item_id, organization_id))""",
    """CREATE TABLE po_headers_all (
        po_header_id NUMERIC NOT NULL PRIMARY KEY,
        segment1 VARCHAR(20) NOT NULL,
        vendor_id NUMERIC,
        vendor_site_id NUMERIC,
        org_id NUMERIC,
        currency_code VARCHAR(15),
        type_lookup_code VARCHAR(25) NOT NULL,
        authorization_status VARCHAR(25),
        creation_date TIMESTAMP,
        last_update_date TIMESTAMP NOT NULL,
        start_date TIMESTAMP,
        end_date TIMESTAMP)""",
    """CREATE TABLE po_lines_all (
        po_line_id NUMERIC NOT NULL PRIMARY KEY,
        po_header_id NUMERIC NOT NULL,
        line_num NUMERIC NOT NULL,
        item_id NUMERIC,
        item_description VARCHAR(240),
        unit_meas_lookup_code VARCHAR(25),
        unit_price NUMERIC,
        quantity NUMERIC,
        last_update_date TIMESTAMP NOT NULL)""",
    "CREATE INDEX po_lines_all_n1 ON po_lines_all (po_header_id)",
    """CREATE TABLE po_line_locations_all (
        line_location_id NUMERIC NOT NULL PRIMARY KEY,
        po_line_id NUMERIC,
        quantity NUMERIC,
        quantity_received NUMERIC,
        price_override NUMERIC,
        need_by_date TIMESTAMP,
        ship_to_organization_id NUMERIC,
        last_update_date TIMESTAMP)""",
    "CREATE INDEX po_line_locations_all_n1 ON po_line_locations_all (po_line_id)",
    """CREATE TABLE po_requisitions_interface_all (
        transaction_id NUMERIC,
        batch_id NUMERIC,
        interface_source_code VARCHAR(25),
        source_type_code VARCHAR(25),
        destination_type_code VARCHAR(25),
        authorization_status VARCHAR(25),
        org_id NUMERIC,
        preparer_id NUMERIC,
        item_segment1 VARCHAR(40),
        quantity NUMERIC,
        unit_price NUMERIC,
        unit_of_measure VARCHAR(25),
        currency_code VARCHAR(15),
        suggested_vendor_id NUMERIC,
        suggested_vendor_name VARCHAR(240),
        need_by_date TIMESTAMP,
        destination_organization_code VARCHAR(3),
        note_to_buyer VARCHAR(240),
        process_flag VARCHAR(30),
        creation_date TIMESTAMP,
        last_update_date TIMESTAMP)""",
]

OU_A, OU_B = 204, 205  # operating units (org_id)
MASTER_ORG, CHILD_ORG = 204, 207  # inventory organizations of mtl_system_items_b
EARLY = dt.datetime(2026, 1, 5, 8, 30)
CUTOFF = dt.datetime(2026, 6, 1)  # the watermark of the incremental tests
LATE = dt.datetime(2026, 7, 14, 16, 45)
UNKNOWN_VENDOR = 99_999
UNKNOWN_ITEM = 999_999
UNITS = ("Each", "Kilogram", "Meter")


@dataclass
class EbsData:
    """The generated rows, table by table, as the dicts that were inserted."""

    suppliers: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    locations: list[dict[str, Any]] = field(default_factory=list)

    def header(self, po_header_id: int) -> dict[str, Any]:
        """The header with this id."""
        return next(h for h in self.headers if h["po_header_id"] == po_header_id)

    def line_locations(self, po_line_id: int) -> list[dict[str, Any]]:
        """The shipments of one line."""
        return [loc for loc in self.locations if loc["po_line_id"] == po_line_id]

    def row_count(self) -> int:
        """Rows over all tables."""
        return sum(
            len(t) for t in (self.suppliers, self.items, self.headers, self.lines, self.locations)
        )


def _money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(100, 250_000)) / 100


def generate(seed: int = 20261122) -> EbsData:
    """Build suppliers, items, standard POs, blankets, quotations and some faulty rows."""
    rng = random.Random(seed)
    data = EbsData()
    for n in range(40):
        data.suppliers.append(
            {
                "vendor_id": 1001 + n,
                "segment1": f"V{1001 + n}",
                "vendor_name": f"Supplier {n:02d} Ltd",
                "enabled_flag": "N" if n % 10 == 9 else "Y",
                "last_update_date": LATE if n % 8 == 0 else EARLY + dt.timedelta(days=n),
            }
        )
    for n in range(50):
        item_id = 2001 + n
        row = {
            "inventory_item_id": item_id,
            "segment1": f"IT-{n:04d}",
            "description": f"Item number {n}",
            "primary_uom_code": ("Ea", "KG", "M")[n % 3],
            "last_update_date": LATE if n % 7 == 0 else EARLY + dt.timedelta(days=n),
        }
        data.items.append({**row, "organization_id": MASTER_ORG})
        if n % 2 == 0:  # assigned to a child organization too, with its own update date
            data.items.append({**row, "organization_id": CHILD_ORG, "last_update_date": EARLY})
    item_ids = [2001 + n for n in range(50)]
    vendor_ids = [s["vendor_id"] for s in data.suppliers]

    line_id = 10_000
    location_id = 50_000

    def add_header(
        header_id: int, kind: str, status: str | None, vendor: int, org: int, late: bool
    ) -> None:
        created = EARLY + dt.timedelta(days=rng.randint(0, 100), hours=rng.randint(0, 9))
        data.headers.append(
            {
                "po_header_id": header_id,
                "segment1": str(header_id + 2000),
                "vendor_id": vendor,
                "vendor_site_id": vendor * 10,
                "org_id": org,
                "currency_code": "EUR" if header_id % 4 == 0 else "USD",
                "type_lookup_code": kind,
                "authorization_status": status,
                "creation_date": created,
                "last_update_date": LATE if late else created + dt.timedelta(days=1),
                "start_date": dt.datetime(2026, 1, 1) if kind != "STANDARD" else None,
                "end_date": dt.datetime(2026, 12, 31) if kind != "STANDARD" else None,
            }
        )

    def add_line(header_id: int, num: int, **overrides: Any) -> dict[str, Any]:
        nonlocal line_id
        line_id += 1
        item = rng.choice(item_ids) if rng.random() > 0.1 else None
        line = {
            "po_line_id": line_id,
            "po_header_id": header_id,
            "line_num": num,
            "item_id": item,
            "item_description": f"Line {line_id}" if item is None else f"Item {item}",
            "unit_meas_lookup_code": rng.choice(UNITS),
            "unit_price": _money(rng),
            "quantity": Decimal(rng.randint(1, 500)),
            "last_update_date": EARLY + dt.timedelta(days=30),
        }
        line.update(overrides)
        data.lines.append(line)
        return line

    def add_location(line: dict[str, Any], **overrides: Any) -> None:
        nonlocal location_id
        location_id += 1
        quantity = line["quantity"]
        row = {
            "line_location_id": location_id,
            "po_line_id": line["po_line_id"],
            "quantity": quantity,
            "quantity_received": Decimal(rng.randint(0, 3)) if quantity else None,
            "price_override": None,
            "need_by_date": dt.datetime(2026, 3, 1) + dt.timedelta(days=rng.randint(0, 60)),
            "ship_to_organization_id": CHILD_ORG,
            "last_update_date": EARLY + dt.timedelta(days=31),
        }
        row.update(overrides)
        data.locations.append(row)

    # Standard purchase orders: most approved, a few still in process.
    for n in range(70):
        header_id = 3001 + n
        status = "IN PROCESS" if n % 9 == 4 else "APPROVED"
        add_header(
            header_id, "STANDARD", status, rng.choice(vendor_ids), (OU_A, OU_B)[n % 2], n % 10 == 0
        )
        for num in range(1, rng.randint(1, 4) + 1):
            late_line = (n * 7 + num) % 17 == 0
            line = add_line(
                header_id,
                num,
                last_update_date=LATE if late_line else EARLY + dt.timedelta(days=30),
            )
            override = _money(rng) if rng.random() < 0.3 else None
            for _ in range(rng.randint(1, 2)):
                add_location(
                    line,
                    price_override=override,
                    last_update_date=LATE if (n * 5 + num) % 23 == 0 else EARLY,
                )

    # Faulty standard lines; each is approved so only the data makes it unusable.
    add_header(3900, "STANDARD", "APPROVED", UNKNOWN_VENDOR, OU_A, late=False)
    add_location(add_line(3900, 1, item_id=item_ids[0]))
    add_location(add_line(3900, 2, item_id=item_ids[1]))
    add_header(3901, "STANDARD", "APPROVED", vendor_ids[0], OU_A, late=False)
    add_location(add_line(3901, 1, item_id=item_ids[2], unit_price=None))  # no price at all
    add_location(add_line(3901, 2, item_id=item_ids[3], quantity=Decimal(-5)))
    add_location(add_line(3901, 3, item_id=UNKNOWN_ITEM))
    # A line without its own price whose shipment carries one: usable.
    add_location(
        add_line(3901, 4, item_id=item_ids[4], unit_price=None), price_override=Decimal("7.25")
    )
    # Two shipments priced differently: the higher override is the line's price.
    priced = add_line(3901, 5, item_id=item_ids[5], unit_price=Decimal("10.00"))
    add_location(priced, price_override=Decimal("9.50"))
    add_location(priced, price_override=Decimal("9.75"))

    # Blanket agreements (contract prices) and quotations (standing prices).
    for n in range(8):
        header_id = 4001 + n
        add_header(
            header_id,
            "BLANKET",
            "REQUIRES REAPPROVAL" if n == 7 else "APPROVED",
            rng.choice(vendor_ids),
            (OU_A, OU_B)[n % 2],
            n % 3 == 0,
        )
        for num in range(1, 4):
            add_line(header_id, num, item_id=rng.choice(item_ids))
    add_line(4001, 4, item_id=None)  # a free-text blanket line names no item: rejected
    for n in range(4):
        header_id = 4501 + n
        add_header(header_id, "QUOTATION", None, rng.choice(vendor_ids), OU_A, late=False)
        for num in range(1, 3):
            add_line(header_id, num, item_id=rng.choice(item_ids))
    return data


def load(connection: Connection, data: EbsData) -> None:
    """Create the tables in the connection's schema and insert ``data``."""
    for statement in DDL:
        connection.execute(text(statement))
    for table, rows in (
        ("ap_suppliers", data.suppliers),
        ("mtl_system_items_b", data.items),
        ("po_headers_all", data.headers),
        ("po_lines_all", data.lines),
        ("po_line_locations_all", data.locations),
    ):
        columns = list(rows[0])
        connection.execute(
            text(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})"
            ),
            rows,
        )


def expected_po_lines(
    data: EbsData, *, since: dt.datetime | None = None, org_ids: list[int] | None = None
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Work out, in Python, which PO lines a read returns and which it rejects."""
    vendors = {s["vendor_id"]: s["segment1"] for s in data.suppliers}
    items = {i["inventory_item_id"]: i["segment1"] for i in data.items}
    good: dict[str, dict[str, Any]] = {}
    rejected: set[str] = set()
    for line in data.lines:
        header = data.header(line["po_header_id"])
        if header["type_lookup_code"] != "STANDARD" or header["authorization_status"] != (
            "APPROVED"
        ):
            continue
        if org_ids and header["org_id"] not in org_ids:
            continue
        shipments = data.line_locations(line["po_line_id"])
        if since is not None and not (
            header["last_update_date"] > since
            or line["last_update_date"] > since
            or any(s["last_update_date"] and s["last_update_date"] > since for s in shipments)
        ):
            continue
        key = f"{header['segment1']}/{line['line_num']}"
        overrides = [s["price_override"] for s in shipments if s["price_override"] is not None]
        price = max(overrides) if overrides else line["unit_price"]
        if (
            header["vendor_id"] not in vendors
            or (line["item_id"] is not None and line["item_id"] not in items)
            or price is None
            or line["quantity"] < 0
        ):
            rejected.add(key)
            continue
        received = [s["quantity_received"] for s in shipments if s["quantity_received"] is not None]
        need_by = [s["need_by_date"] for s in shipments if s["need_by_date"] is not None]
        good[key] = {
            "supplier_code": vendors[header["vendor_id"]],
            "item_code": None if line["item_id"] is None else items[line["item_id"]],
            "quantity": line["quantity"],
            "unit_price": price,
            "unit": line["unit_meas_lookup_code"],
            "currency": header["currency_code"],
            "order_date": header["creation_date"].date(),
            "company": str(header["org_id"]),
            "received_quantity": sum(received, Decimal(0)) if received else None,
            "need_by_date": min(need_by).date() if need_by else None,
        }
    return good, rejected
