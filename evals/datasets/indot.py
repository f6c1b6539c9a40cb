"""The real INDOT sample as modelling frames, without a database.

For evaluations, benchmarks and tests of ``ml``: the same shapes as
``store.history.quote_history`` / ``index_observations`` / ``category_links``, read
straight from ``data/sample`` (units spelled as the importer's catalogue names them).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import pandas as pd

from store.suppliers import supplier_key

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"

UNITS = {"S.Y.": "yd2", "SYS": "yd2", "C.Y.": "yd3", "TON": "ton", "LBS": "lb"}


@lru_cache(maxsize=1)
def indot_history() -> pd.DataFrame:
    """All 81,241 bid lines shaped like ``store.history.quote_history``."""
    bids = pd.read_csv(SAMPLE / "indot_bidtabs_2022-08_2026-05.csv.gz", dtype={"Pay Item": str})
    with (SAMPLE / "indot_items.csv").open() as fh:
        categories = {r["item"]: r["category"] for r in csv.DictReader(fh)}
    unit = bids["Unit"].map(UNITS)
    line = bids["ProjectID"] + "|" + bids["Pay Item"] + "|" + bids["Quantity"].astype(str)
    return pd.DataFrame(
        {
            "line_id": range(len(bids)),
            "quote_date": pd.to_datetime(bids["Bid Date"]),
            "item_id": pd.factorize(bids["Pay Item"])[0],
            "item_code": bids["Pay Item"],
            "category": bids["Pay Item"].map(categories).fillna(""),
            "item_unit": unit,
            "item_attributes": [{} for _ in range(len(bids))],
            "supplier_id": pd.factorize(bids["Bidder Name"].map(supplier_key))[0],
            "rfq_id": pd.Series(pd.factorize(bids["ProjectID"])[0]).astype("Int64"),
            "rfq_line_id": pd.Series(pd.factorize(line)[0]).astype("Int64"),
            "quantity": bids["Quantity"].astype(float),
            "unit": unit,
            "unit_price": bids["Unit Price"].astype(float),
            "currency": "USD",
            "line_attributes": [
                {"region": str(r), "bid_rank": int(p)}
                for r, p in zip(bids["Region"], bids["Pos"], strict=True)
            ],
        }
    )


def indot_index() -> pd.DataFrame:
    """FRED and World Bank series in the ``code, obs_date, value`` shape."""
    frames = []
    for name in (
        "fred_ppi_construction_inputs_1947-01_2023-11.csv.gz",
        "wb_pinksheet_construction_subset_1960-01_2024-11.csv.gz",
    ):
        wide = pd.read_csv(SAMPLE / name)
        long = wide.melt(id_vars="date", var_name="code", value_name="value").dropna()
        long["obs_date"] = pd.to_datetime(long["date"])
        frames.append(long[["code", "obs_date", "value"]])
    return pd.concat(frames, ignore_index=True)


def indot_links() -> dict[str, str]:
    """The shipped category -> index links."""
    with (SAMPLE / "category_index_links.csv").open() as fh:
        return {r["category"]: r["series"] for r in csv.DictReader(fh)}
