"""Records per second of a full SAP purchase-order sync from the loopback OData v2 server.

Three timings over the same data, in the same run:

1. ``serve``: the server producing every page (plain HTTP GETs of the pages the connector
   asks for, bodies read and discarded): the reference.
2. ``read``: the connector reading them (paging, ``/Date()/`` and Decimal parsing, records).
3. ``sync``: the full sync into a fresh organisation of the store (upserts, aliases).

    .venv/bin/python -m bench.sync_throughput                # 34,000 orders, ~102,000 lines
    .venv/bin/python -m bench.sync_throughput --orders 2000  # a quick look

The store is an embedded PostgreSQL in ``~/.cache/pricing-agent/bench-sync`` (kept).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from core.settings import load_settings
from integrations.base import Entity, PurchaseOrderLineRecord
from integrations.sap.connector import SapConnector
from integrations.sap.settings import load_sap_settings
from integrations.sync import sync_erp
from store import migrate, orgs
from store.db import Database
from tests.integrations.sap.conftest import SERVICES, generate
from tests.integrations.sap.sap_server import SapServer, SapState, load_service

STORE = Path.home() / ".cache" / "pricing-agent" / "bench-sync"
LINES_PER_ORDER = 3


def sap_data(orders: int, seed: int = 11) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The test generator's suppliers and materials, with ``orders`` orders of 3 lines."""
    data = generate()
    rng = random.Random(seed)
    suppliers = [s["Supplier"] for s in data["API_BUSINESS_PARTNER"]["A_Supplier"]]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(1, orders + 1):
        number = f"{4700000000 + i}"
        changed = start + dt.timedelta(seconds=rng.randint(0, 700 * 86400))
        rows.append(
            {
                "PurchaseOrder": number,
                "CompanyCode": "1010",
                "PurchaseOrderType": "NB",
                "Supplier": rng.choice(suppliers),
                "PurchasingOrganization": "1010",
                "DocumentCurrency": "EUR",
                "PurchaseOrderDate": changed.date(),
                "CreationDate": changed.date(),
                "LastChangeDateTime": changed,
                "PaymentTerms": "0001",
                "IncotermsClassification": "FCA",
                "to_PurchaseOrderItem": [
                    {
                        "PurchaseOrder": number,
                        "PurchaseOrderItem": f"{n * 10:05d}",
                        "Material": f"MAT-{rng.randint(1, 60):04d}",
                        "MaterialGroup": "L001",
                        "Plant": "1010",
                        "PurchaseOrderItemText": f"Line {n}",
                        "OrderQuantity": Decimal(rng.randint(1, 5000)) / Decimal(10),
                        "PurchaseOrderQuantityUnit": "KG",
                        "OrderPriceUnit": "KG",
                        "NetPriceAmount": Decimal(rng.randint(1000, 900000)) / Decimal(1000),
                        "NetPriceQuantity": Decimal(rng.choice((1, 10, 100))),
                        "DocumentCurrency": "EUR",
                    }
                    for n in range(1, LINES_PER_ORDER + 1)
                ],
            }
        )
    data["API_PURCHASEORDER_PROCESS_SRV"]["A_PurchaseOrder"] = rows
    return data


def loopback_sap(
    data: dict[str, dict[str, list[dict[str, Any]]]],
) -> tuple[SapServer, SapConnector]:
    """The loopback SAP serving ``data`` in pages of 1,000, and a connector reading it."""
    state = SapState(data=data, services={name: load_service(name) for name in SERVICES})
    state.server_page = 1000
    server = SapServer(state).start()
    settings = load_sap_settings(
        base_url=server.url,
        user=state.user,
        password=state.password,
        page_size=1000,
        timeout_seconds=120,
        _env_file=None,
    )
    return server, SapConnector(settings)


def bench_store(prefix: str) -> tuple[Database, uuid.UUID]:
    """The benches' embedded store (kept between runs) and a fresh organisation in it."""
    database = Database(load_settings(data_dir=STORE, database_url=None, database_app_url=None))
    migrate.upgrade(database)
    with database.owner_session() as session:
        org = orgs.create_org(session=session, name=f"{prefix}-{uuid.uuid4().hex[:8]}")
    return database, org.id


def serve_seconds(
    server: SapServer,
    connector: SapConnector,
    read: Callable[[SapConnector], Iterable[Any]] = lambda c: c.purchase_order_lines(),
) -> tuple[float, int]:
    """Fetch exactly the pages ``read`` asks for, discarding the bodies: time and bytes."""
    state = server.state
    before = len(state.requests)
    list(read(connector))  # learn the page URLs (and warm the connection)
    paths = [p for m, p in state.requests[before:] if m == "GET"]
    auth = (state.user, state.password)
    started = time.perf_counter()
    size = 0
    with httpx.Client(auth=auth, timeout=120) as client:
        for path in paths:
            size += len(client.get(server.origin + path).content)
    return time.perf_counter() - started, size


def main() -> None:
    """Run the three timings and print them with their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=34_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    server, connector = loopback_sap(sap_data(args.orders))
    database, org_id = bench_store("bench-sync")
    try:
        served, size = serve_seconds(server, connector)
        started = time.perf_counter()
        lines = sum(
            isinstance(r, PurchaseOrderLineRecord) for r in connector.purchase_order_lines()
        )
        read = time.perf_counter() - started
        # Suppliers and items first (small), so every line finds its supplier and item.
        sync_erp(
            database=database,
            org_id=org_id,
            connector=connector,
            entities=[Entity.SUPPLIERS, Entity.ITEMS],
        )
        started = time.perf_counter()
        report = sync_erp(
            database=database,
            org_id=org_id,
            connector=connector,
            entities=[Entity.PURCHASE_ORDERS],
        )
        synced = time.perf_counter() - started
    finally:
        connector.close()
        server.stop()
        database.dispose()
    counts = report.counts["purchase_orders"]
    figures = {
        "orders": args.orders,
        "lines_read": lines,
        "lines_stored": counts.inserted + counts.updated + counts.unchanged,
        "lines_rejected": counts.rejected,
        "bytes_served": size,
        "serve_seconds": round(served, 2),
        "read_seconds": round(read, 2),
        "sync_seconds": round(synced, 2),
        "sync_records_per_second": round(lines / synced, 1),
        "read_records_per_second": round(lines / read, 1),
        "serve_records_per_second": round(lines / served, 1),
        "sync_time_vs_serve": round(synced / served, 2),
        "read_time_vs_serve": round(read / served, 2),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"SAP sync of {lines:,} PO lines ({args.orders:,} orders, {size / 1e6:.1f} MB of OData)")
    print(f"  server producing the pages: {served:7.2f} s  {lines / served:9,.0f} lines/s")
    print(f"  connector reading them:     {read:7.2f} s  {lines / read:9,.0f} lines/s")
    print(f"  full sync into the store:   {synced:7.2f} s  {lines / synced:9,.0f} lines/s")
    print(
        f"  ratio sync/serve {synced / served:.2f}, read/serve {read / served:.2f}; "
        f"stored {figures['lines_stored']:,}, rejected {counts.rejected:,}"
    )


if __name__ == "__main__":
    main()
