"""Items per second of a first item-master sync, and of a second ERP matched onto it.

Four timings, in the same run:

1. ``serve``: the loopback SAP producing every page of A_Product (the reference).
2. ``read``: the SAP connector reading them into records.
3. ``sync``: the first sync into a fresh organisation (every item new, matching against
   what is already stored).
4. ``second``: the same materials from a second ERP under other codes: each is matched to
   the item the first sync made (full-text search plus unit dimension), so this is the
   cost of "one item across systems".

    .venv/bin/python -m bench.item_sync                 # 20,000 materials
    .venv/bin/python -m bench.item_sync --items 2000    # a quick look

The store is an embedded PostgreSQL in ``~/.cache/pricing-agent/bench-sync`` (kept).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import time
from typing import Any

from bench.sync_throughput import bench_store, loopback_sap, serve_seconds
from integrations.base import Entity, ItemRecord
from integrations.fake import FakeConnector
from integrations.sync import sync_erp
from tests.integrations.sap.conftest import generate

# Words of construction materials: descriptions share words, as real item masters do, so
# the full-text match has real work to do.
NOUNS = (
    "rebar", "beam", "plate", "pipe", "cement", "aggregate", "asphalt", "bolt", "anchor",
    "panel", "membrane", "grout", "mesh", "angle", "channel", "tube", "sheet", "wire",
)  # fmt: skip
ADJECTIVES = (
    "epoxy", "galvanized", "stainless", "coated", "structural", "reinforced", "precast",
    "hot-rolled", "cold-formed", "welded", "seamless", "high-strength", "fine", "coarse",
)  # fmt: skip
UNITS = ("KG", "ST", "M", "TO", "L")
D365_UNITS = {"TO": "t", "ST": "PCS"}


def products(count: int, seed: int = 5) -> list[dict[str, Any]]:
    """``count`` A_Product rows with English descriptions."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(1, count + 1):
        words = [rng.choice(ADJECTIVES), rng.choice(ADJECTIVES), rng.choice(NOUNS)]
        text = f"{' '.join(words)} grade {rng.randint(10, 99)} size {rng.randint(1, 400)}"
        rows.append(
            {
                "Product": f"MAT-{i:06d}",
                "ProductType": "ROH",
                "ProductGroup": f"L{i % 9:03d}",
                "BaseUnit": rng.choice(UNITS),
                "LastChangeDateTime": start + dt.timedelta(seconds=i),
                "to_Description": [
                    {"Product": f"MAT-{i:06d}", "Language": "EN", "ProductDescription": text}
                ],
            }
        )
    return rows


def main() -> None:
    """Run the four timings and print them with their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data = generate()
    data["API_PRODUCT_SRV"]["A_Product"] = products(args.items)
    server, connector = loopback_sap(data)
    database, org_id = bench_store("bench-items")
    try:
        served, _ = serve_seconds(server, connector, lambda c: c.items())
        started = time.perf_counter()
        records = [r for r in connector.items() if isinstance(r, ItemRecord)]
        read = time.perf_counter() - started
        started = time.perf_counter()
        first = sync_erp(
            database=database, org_id=org_id, connector=connector, entities=[Entity.ITEMS]
        )
        synced = time.perf_counter() - started
        other = FakeConnector(
            system="d365",
            item_records=[
                # The same materials under D365 codes, in its own unit spelling.
                dataclasses.replace(
                    r, code=r.code.replace("MAT-", "D-"), unit=D365_UNITS.get(r.unit, r.unit)
                )
                for r in records
            ],
        )
        started = time.perf_counter()
        second = sync_erp(
            database=database, org_id=org_id, connector=other, entities=[Entity.ITEMS]
        )
        matched = time.perf_counter() - started
    finally:
        connector.close()
        server.stop()
        database.dispose()
    count = len(records)
    new_items = first.counts["items"].inserted
    second_counts = second.counts["items"]
    figures = {
        "items": count,
        "serve_seconds": round(served, 2),
        "read_seconds": round(read, 2),
        "sync_seconds": round(synced, 2),
        "second_system_seconds": round(matched, 2),
        "sync_items_per_second": round(count / synced, 1),
        "second_system_items_per_second": round(count / matched, 1),
        "sync_time_vs_serve": round(synced / served, 2),
        "second_time_vs_serve": round(matched / served, 2),
        "first_inserted": new_items,
        "second_inserted": second_counts.inserted,
        "second_linked": second_counts.read - second_counts.inserted - second_counts.rejected,
        "match_candidates": second.candidates,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"SAP item master of {count:,} materials, then the same from a second ERP")
    print(f"  server producing the pages: {served:7.2f} s  {count / served:9,.0f} items/s")
    print(f"  connector reading them:     {read:7.2f} s  {count / read:9,.0f} items/s")
    print(f"  first sync into the store:  {synced:7.2f} s  {count / synced:9,.0f} items/s")
    print(f"  second ERP, matched:        {matched:7.2f} s  {count / matched:9,.0f} items/s")
    print(
        f"  ratio sync/serve {synced / served:.2f}, second/serve {matched / served:.2f}; "
        f"second ERP: {figures['second_linked']:,} linked to existing items, "
        f"{second_counts.inserted:,} new, {second.candidates:,} candidates listed"
    )


if __name__ == "__main__":
    main()
