"""The serving path's features equal the reference path's, number for number.

``HistoryLookup`` and ``IndexLookup`` index a reference once; ``LineEncoder`` turns lines to
price straight into the boosters' input. Each must give exactly (not approximately) what
``history_features``, ``index_features`` and ``build_matrix`` give, on the real sample and
on the awkward cases: quotes on the same day, the edges of the 12-month window and of
index publication, items and suppliers the reference never saw, an empty reference.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lightgbm.basic import _data_from_pandas

from evals.datasets.indot import indot_history, indot_index, indot_links
from ml.price.features import (
    PUBLICATION_LAG,
    RECENT_WINDOW,
    HistoryLookup,
    IndexLookup,
    LineEncoder,
    TargetLine,
    build_matrix,
    history_features,
    index_features,
    target_frame,
)
from ml.price.model import PriceModel, train_price_model

UNSEEN = 10**6


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return indot_history()


@pytest.fixture(scope="module")
def real_lookup(real: pd.DataFrame) -> HistoryLookup:
    return HistoryLookup(real)


def _awkward_targets(reference: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Real rows moved onto the dates and keys where an off-by-one would show."""
    rng = np.random.default_rng(seed)
    targets = reference.sample(n, random_state=seed).reset_index(drop=True)
    days = np.sort(reference["quote_date"].unique())
    base = pd.to_datetime(rng.choice(days, n))
    offsets = [
        pd.Timedelta(0),  # a day other quotes were made: they must not count
        pd.Timedelta(days=1),
        RECENT_WINDOW,  # a quote exactly a window earlier falls out of the window
        RECENT_WINDOW + pd.Timedelta(days=1),
        RECENT_WINDOW - pd.Timedelta(days=1),
        pd.Timedelta(days=-4000),  # before any quote
        pd.Timedelta(days=4000),  # after every quote
    ]
    targets["quote_date"] = base + pd.to_timedelta(
        rng.choice([o.value for o in offsets], n), unit="ns"
    )
    unseen_supplier = rng.random(n) < 0.1
    targets.loc[unseen_supplier, "supplier_id"] = rng.choice([-1, UNSEEN], unseen_supplier.sum())
    targets.loc[rng.random(n) < 0.05, "item_id"] = UNSEEN
    return targets


def test_history_lookup_equals_history_features_on_the_real_sample(
    real: pd.DataFrame, real_lookup: HistoryLookup
) -> None:
    targets = _awkward_targets(real, 3000, seed=1)
    expected = history_features(targets, real)
    assert expected["item_prior_n"].gt(0).mean() > 0.5  # the comparison is not all empty
    pd.testing.assert_frame_equal(real_lookup.features(targets), expected, check_exact=True)


@pytest.mark.parametrize(
    "cut", ["2022-09-01", "2023-06-15", "2024-03-05", "2025-11-20", "2026-06-01"]
)
def test_one_lookup_of_all_history_equals_the_history_cut_at_the_quote_date(
    real: pd.DataFrame, real_lookup: HistoryLookup, cut: str
) -> None:
    # Production prices against the store's history before the quote date; the serving
    # path indexes all of it once and relies on every feature looking strictly before.
    when = pd.Timestamp(cut)
    targets = _awkward_targets(real, 400, seed=2).assign(quote_date=when)
    expected = history_features(targets, real[real["quote_date"] < when])
    pd.testing.assert_frame_equal(real_lookup.features(targets), expected, check_exact=True)


def test_an_exact_quote_date_of_the_reference_is_a_cut(real: pd.DataFrame) -> None:
    when = pd.Timestamp(real["quote_date"].iloc[len(real) // 2])
    targets = real.sample(200, random_state=3).assign(quote_date=when)
    expected = history_features(targets, real[real["quote_date"] < when])
    pd.testing.assert_frame_equal(HistoryLookup(real).features(targets), expected, check_exact=True)


_DAYS = [0, 1, 2, 40, 364, 365, 366, 729, 730, 731]
_PRICES = [0.0, 0.001, 1.0, 2.5, 10.0, 123.456, 7e4]


def _rows(draw: st.DrawFn, size: int, *, priced: bool) -> pd.DataFrame:
    start = pd.Timestamp("2023-01-01")
    rows = [
        {
            "quote_date": start + pd.Timedelta(days=draw(st.sampled_from(_DAYS))),
            "item_id": draw(st.integers(0, 5 if not priced else 3)),
            "supplier_id": draw(st.integers(-1, 5 if not priced else 3)),
            "unit_price": draw(st.sampled_from(_PRICES)) if priced else np.nan,
        }
        for _ in range(size)
    ]
    frame = pd.DataFrame(rows, columns=["quote_date", "item_id", "supplier_id", "unit_price"])
    return frame.astype({"item_id": "int64", "supplier_id": "int64", "unit_price": float})


@st.composite
def _case(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = _rows(draw, draw(st.integers(0, 30)), priced=True)
    reference = reference.sort_values("quote_date", kind="stable").reset_index(drop=True)
    return reference, _rows(draw, draw(st.integers(1, 8)), priced=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_history_lookup_equals_history_features_on_generated_cases(
    case: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    reference, targets = case
    expected = history_features(targets, reference)
    pd.testing.assert_frame_equal(
        HistoryLookup(reference).features(targets), expected, check_exact=True
    )


def test_an_empty_reference_gives_empty_history() -> None:
    empty = pd.DataFrame(
        {
            "quote_date": pd.Series([], dtype="datetime64[ns]"),
            "item_id": pd.Series([], dtype="int64"),
            "supplier_id": pd.Series([], dtype="int64"),
            "unit_price": pd.Series([], dtype=float),
        }
    )
    targets = indot_history().head(5)
    got = HistoryLookup(empty).features(targets)
    pd.testing.assert_frame_equal(got, history_features(targets, empty), check_exact=True)
    assert got.filter(like="_n").eq(0).all().all()


def test_index_lookup_equals_index_features_at_the_publication_edges() -> None:
    index_obs = indot_index()
    links = {**indot_links(), "made up": "NO_SUCH_SERIES"}
    rng = np.random.default_rng(4)
    targets = indot_history().sample(2000, random_state=4).reset_index(drop=True)
    linked = index_obs[index_obs["code"].isin(set(links.values()))]
    published = pd.to_datetime(rng.choice(linked["obs_date"].to_numpy(), len(targets)))
    shift = rng.choice([-1, 0, 1, 30], len(targets))
    targets["quote_date"] = published + PUBLICATION_LAG + pd.to_timedelta(shift, unit="D")
    targets.loc[rng.random(len(targets)) < 0.1, "category"] = "made up"
    targets.loc[rng.random(len(targets)) < 0.1, "category"] = ""
    expected = index_features(targets, index_obs, links)
    assert expected["index_level"].notna().mean() > 0.5
    got = IndexLookup(index_obs).features(targets, links)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    empty = IndexLookup(index_obs.head(0)).features(targets, links)
    pd.testing.assert_frame_equal(empty, index_features(targets, index_obs.head(0), links))


# --------------------------------------------------------------------------- encoder


def _with_item_attributes(frame: pd.DataFrame) -> pd.DataFrame:
    """Give items a numeric and a text attribute, so the spec has both kinds."""
    grades = {i: [40, 60, 75][i % 3] for i in frame["item_id"].unique()}
    coats = {i: ["epoxy", "plain"][i % 2] for i in frame["item_id"].unique()}
    return frame.assign(
        item_attributes=[
            {"grade": grades[i], "coating": coats[i], "Bid Rank": 1} for i in frame["item_id"]
        ]
    )


@pytest.fixture(scope="module")
def small_model() -> tuple[PriceModel, pd.DataFrame]:
    history = _with_item_attributes(indot_history())
    train = history[
        (history["quote_date"] >= "2024-01-01") & (history["quote_date"] < "2025-01-01")
    ]
    return train_price_model(train, indot_index(), indot_links(), rounds=30), train


def _lines(frame: pd.DataFrame) -> list[TargetLine]:
    return [
        TargetLine(
            quote_date=row.quote_date.date(),
            item_id=int(row.item_id),
            item_code=str(row.item_code),
            category=str(row.category),
            unit=str(row.unit),
            quantity=float(row.quantity),
            currency=str(row.currency),
            supplier_id=int(row.supplier_id),
            item_attributes=row.item_attributes,
            line_attributes=row.line_attributes,
        )
        for row in frame.itertuples()
    ]


def _lightgbm_input(model: PriceModel, matrix: pd.DataFrame) -> np.ndarray:
    # What Booster.predict does to a DataFrame before scoring it.
    converted = _data_from_pandas(matrix, "auto", "auto", model.boosters["p50"].pandas_categorical)
    return np.asarray(converted[0])


def test_encoder_equals_build_matrix_as_lightgbm_reads_it(
    small_model: tuple[PriceModel, pd.DataFrame],
) -> None:
    model, train = small_model
    assert {"item_attr__grade", "item_attr__coating", "line_attr__region"} <= set(
        model.spec.columns
    )
    later = _with_item_attributes(indot_history())
    later = later[later["quote_date"] >= "2025-01-01"].sample(1500, random_state=5)
    later.loc[later.sample(100, random_state=6).index, "supplier_id"] = -1
    lines = _lines(later)
    index_obs = indot_index()
    matrix = build_matrix(target_frame(lines), train, index_obs, model.spec)
    encoded = model.encode(lines, HistoryLookup(train), IndexLookup(index_obs))
    np.testing.assert_array_equal(encoded, _lightgbm_input(model, matrix))
    pd.testing.assert_frame_equal(
        model.predict_matrix(encoded, num_threads=1),
        model.predict_matrix(matrix).reset_index(drop=True),
        check_exact=True,
    )
    assert model.drivers(encoded[:20]) == model.drivers(matrix.iloc[:20])


@pytest.mark.parametrize(
    ("item_attributes", "line_attributes"),
    [
        ({}, {}),
        ({"grade": "60", "coating": "plain"}, {"region": "5"}),
        ({"grade": 60.0, "coating": 5}, {"region": 5}),
        ({"grade": None, "coating": None}, {"region": None}),
        ({"grade": True, "coating": True}, {"region": "nowhere"}),
        ({"grade": [1, 2], "coating": ["epoxy"]}, {"region": {"nested": 1}}),
        ({"grade": "sixty", "Coating": "epoxy", "bid rank": 3}, {"bid_rank": 2}),
        ({"grade": float("nan")}, {"region": ""}),
    ],
)
def test_encoder_converts_odd_attribute_values_as_a_one_line_frame_does(
    small_model: tuple[PriceModel, pd.DataFrame],
    item_attributes: dict[str, Any],
    line_attributes: dict[str, Any],
) -> None:
    model, train = small_model
    line = TargetLine(
        quote_date=dt.date(2025, 2, 3),
        item_id=int(train["item_id"].iloc[0]),
        item_code=str(train["item_code"].iloc[0]),
        category=str(train["category"].iloc[0]),
        unit=str(train["unit"].iloc[0]),
        quantity=123.0,
        currency="USD",
        supplier_id=int(train["supplier_id"].iloc[0]),
        item_attributes=item_attributes,
        line_attributes=line_attributes,
    )
    matrix = build_matrix(target_frame([line]), train, indot_index(), model.spec)
    for _ in range(2):  # the second time from the encoder's memory
        encoded = model.encode([line], HistoryLookup(train), IndexLookup(indot_index()))
        np.testing.assert_array_equal(encoded, _lightgbm_input(model, matrix))


def test_encoder_without_booster_categories_uses_the_spec_levels(
    small_model: tuple[PriceModel, pd.DataFrame],
) -> None:
    model, train = small_model
    lines = _lines(train.tail(50))
    history, index = HistoryLookup(train), IndexLookup(indot_index())
    np.testing.assert_array_equal(
        LineEncoder(model.spec).encode(lines, history, index), model.encode(lines, history, index)
    )
