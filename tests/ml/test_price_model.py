"""The quote-price model: no leakage, a band that holds on real data, honest drivers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInputError
from evals.datasets.indot import indot_history, indot_index, indot_links
from ml.price.features import MAX_LEVELS, build_matrix, fit_spec
from ml.price.model import PriceModel, train_price_model


def _line(
    day: str,
    price: float | None,
    *,
    item: int = 1,
    supplier: int = 10,
    category: str = "rebar",
    **attrs: object,
) -> dict[str, object]:
    return {
        "line_id": 0,
        "quote_date": pd.Timestamp(day),
        "item_id": item,
        "item_code": f"I{item}",
        "category": category,
        "item_unit": "lb",
        "item_attributes": {},
        "supplier_id": supplier,
        "rfq_id": pd.NA,
        "rfq_line_id": pd.NA,
        "quantity": 100.0,
        "unit": "lb",
        "unit_price": price,
        "currency": "USD",
        "line_attributes": dict(attrs),
    }


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["rfq_id"] = frame["rfq_id"].astype("Int64")
    frame["rfq_line_id"] = frame["rfq_line_id"].astype("Int64")
    return frame


INDEX = pd.DataFrame(
    {
        "code": ["STEEL"] * 3,
        "obs_date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
        "value": [100.0, 110.0, 150.0],
    }
)


def test_history_features_use_only_earlier_reference_quotes():
    reference = _frame(
        [
            _line("2024-01-10", 1.0),
            _line("2024-02-10", 3.0, supplier=11),
            _line("2024-03-15", 1000.0),  # same day as the target: must not count
            _line("2024-06-01", 5000.0),  # after the target: must not count
        ]
    )
    target = _frame([_line("2024-03-15", None)])
    spec = fit_spec(reference, {"rebar": "STEEL"})
    features = build_matrix(target, reference, INDEX, spec).iloc[0]
    assert features["item_prior_n"] == 2
    assert features["item_prior_mean"] == pytest.approx(np.log(3.0) / 2)  # mean of log 1, log 3

    # Changing the same-day and later prices changes nothing; an earlier price does.
    later_changed = reference.copy()
    later_changed.loc[2:, "unit_price"] = [1.0, 2.0]
    again = build_matrix(target, later_changed, INDEX, spec).iloc[0]
    pd.testing.assert_series_equal(features, again)
    earlier_changed = reference.copy()
    earlier_changed.loc[0, "unit_price"] = 2.0
    assert (
        build_matrix(target, earlier_changed, INDEX, spec).iloc[0]["item_prior_mean"]
        != (features["item_prior_mean"])
    )


def test_supplier_premium_is_built_from_earlier_levels_only():
    reference = _frame(
        [
            _line("2024-01-01", 10.0, supplier=1),
            _line("2024-01-02", 20.0, supplier=2),  # 2 quotes twice item level so far
            _line("2024-01-03", 10.0, supplier=1),
        ]
    )
    target = _frame([_line("2024-01-04", None, supplier=2)])
    spec = fit_spec(reference, {})
    row = build_matrix(target, reference, INDEX, spec).iloc[0]
    assert row["supplier_prior_n"] == 1
    assert row["supplier_prior_premium"] == pytest.approx(np.log(2.0))
    # A later quote of supplier 2 at a wild price leaves the feature as it was.
    later = pd.concat([reference, _frame([_line("2024-01-05", 900.0, supplier=2)])])
    assert build_matrix(target, later, INDEX, spec).iloc[0]["supplier_prior_premium"] == (
        pytest.approx(np.log(2.0))
    )


def test_index_values_count_only_once_published():
    spec = fit_spec(_frame([_line("2024-01-01", 1.0)]), {"rebar": "STEEL"})
    nothing = _frame([_line("2024-01-01", 1.0)]).iloc[0:0]
    early = build_matrix(_frame([_line("2024-03-20", None)]), nothing, INDEX, spec).iloc[0]
    late = build_matrix(_frame([_line("2024-04-20", None)]), nothing, INDEX, spec).iloc[0]
    # The March value (dated 03-01) is published mid-April: unknown on 03-20.
    assert early["index_level"] == 110.0
    assert late["index_level"] == 150.0
    assert early["index_change_3m"] != early["index_change_3m"]  # NaN: no 3 months yet


def test_test_fold_prices_never_reach_test_features():
    history = indot_history().head(6000)
    train, test = history.iloc[:4000], history.iloc[4000:]
    spec = fit_spec(train, indot_links())
    before = build_matrix(test, train, indot_index(), spec)
    shuffled = test.assign(unit_price=test["unit_price"].sample(frac=1, random_state=1).values)
    after = build_matrix(shuffled, train, indot_index(), spec)
    pd.testing.assert_frame_equal(before, after)


def test_outcome_attributes_are_not_features():
    spec = fit_spec(indot_history().head(2000), {})
    assert "line_attr__region" in spec.columns
    assert not any("bid_rank" in c for c in spec.columns)


def test_categorical_levels_are_capped_whatever_the_cardinality():
    rows = [_line("2024-01-01", 1.0 + i % 7, part_no=f"P{i}") for i in range(3 * MAX_LEVELS)]
    spec = fit_spec(_frame(rows), {})
    assert len(spec.categorical_levels["line_attr__part_no"]) == MAX_LEVELS


@pytest.fixture(scope="module")
def trained() -> tuple[PriceModel, pd.DataFrame, pd.DataFrame]:
    history = indot_history()
    cutoff = pd.Timestamp("2025-01-01")
    train = history[(history["quote_date"] < cutoff) & (history["quote_date"] >= "2023-07-01")]
    test = history[(history["quote_date"] >= cutoff) & (history["quote_date"] < "2025-04-01")]
    return train_price_model(train, indot_index(), indot_links(), rounds=200), train, test


def test_band_contains_the_median_of_held_out_bids_for_most_lines(trained):
    model, train, test = trained
    band = model.predict(test, train, indot_index())
    joined = test.assign(**band)
    per_line = joined.groupby("rfq_line_id").agg(
        median=("unit_price", "median"),
        p10=("p10", "first"),
        p90=("p90", "first"),
        bids=("unit_price", "size"),
    )
    inside = (per_line["median"] >= per_line["p10"]) & (per_line["median"] <= per_line["p90"])
    assert len(per_line) > 1000
    assert inside.mean() > 0.75
    coverage = (joined["unit_price"] >= joined["p10"]) & (joined["unit_price"] <= joined["p90"])
    assert 0.65 < coverage.mean() < 0.92  # about 80% on lines the model never saw


def test_round_trip_and_drivers(trained):
    model, train, test = trained
    sample = test.head(5)
    matrix = model.matrix(sample, train, indot_index())
    restored = PriceModel.from_bytes(model.to_bytes())
    pd.testing.assert_frame_equal(model.predict_matrix(matrix), restored.predict_matrix(matrix))
    drivers = model.drivers(matrix)
    assert len(drivers) == 5
    assert 1 <= len(drivers[0]) <= 5
    assert all(isinstance(d["driver"], str) and "_" not in d["driver"] for d in drivers[0])
    assert {d["direction"] for row in drivers for d in row} <= {"raises", "lowers"}


def test_too_little_history_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="at least"):
        train_price_model(indot_history().head(50), indot_index(), indot_links())
