"""Should-cost: exact build-ups, index linkage, quantity effects, calibration, templates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.errors import InvalidInputError
from ml.should_cost import (
    IndexTable,
    build_up,
    calibrate,
    index_values_from_wide,
    load_template,
    parse_template,
    shipped_categories,
    shipped_template,
    template_to_yaml,
)
from ml.should_cost.engine import index_ratios, unit_cost_vector

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _template(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "category": "widget",
        "unit": "lb",
        "currency": "USD",
        "material": [
            {
                "name": "steel",
                "quantity_per_unit": 1.0,
                "price": {
                    "base": 0.5,
                    "unit_note": "USD/lb",
                    "index": "STEEL",
                    "index_base_date": "2022-01",
                },
            }
        ],
        "conversion": [{"name": "press", "hours_per_unit": 0.01, "rate": 50}],
        "overhead_pct": 10,
        "sga_pct": 5,
        "margin_pct": 8,
    }
    data.update(overrides)
    return data


def _index(code: str, values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": [code] * len(values),
            "obs_date": pd.to_datetime(list(values)),
            "value": list(values.values()),
        }
    )


STEEL = _index("STEEL", {"2022-01-01": 100.0, "2022-06-01": 150.0, "2023-01-01": 200.0})


@pytest.fixture(scope="module")
def real_index() -> IndexTable:
    """The sample FRED PPI and World Bank files, as one index table."""
    frames = [
        index_values_from_wide(pd.read_csv(SAMPLE / name))
        for name in (
            "fred_ppi_construction_inputs_1947-01_2023-11.csv.gz",
            "wb_pinksheet_construction_subset_1960-01_2024-11.csv.gz",
        )
    ]
    return IndexTable(pd.concat(frames, ignore_index=True))


# --- the build-up ---------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [1, 7, Decimal("333.3"), 12345.678, 10**7])
def test_breakdown_sums_exactly_to_its_total(quantity):
    template = parse_template(
        _template(setup_cost=1234.5, price_breaks=[{"min_quantity": 1000, "discount_pct": 3}])
    )
    result = build_up(template, quantity=quantity, on=date(2022, 9, 14), index_values=STEEL)
    assert sum((line.amount for line in result.lines), Decimal(0)) == result.unit_total
    assert result.total == result.unit_total * Decimal(str(quantity))
    assert all(isinstance(line.amount, Decimal) for line in result.lines)
    assert {(line.currency, line.unit) for line in result.lines} == {("USD", "lb")}
    assert result.unit_price.amount == result.unit_total
    assert result.unit_price.currency == "USD"
    assert result.unit_price.unit == "lb"


def test_index_linkage_moves_material_cost_proportionally():
    template = parse_template(_template())
    at_base = build_up(template, quantity=1, on=date(2022, 3, 1), index_values=STEEL)
    doubled = build_up(template, quantity=1, on=date(2023, 5, 1), index_values=STEEL)
    halfway = build_up(template, quantity=1, on=date(2022, 6, 1), index_values=STEEL)
    material = {r: r.lines[0].amount for r in (at_base, doubled, halfway)}
    assert material[at_base] == Decimal("0.5000")
    assert material[doubled] == Decimal("1.0000")
    assert material[halfway] == Decimal("0.7500")
    # Conversion does not follow the index.
    assert at_base.lines[1].amount == doubled.lines[1].amount == Decimal("0.5000")
    assert doubled.lines[0].source.startswith("STEEL at 2023-01 = 200 vs base 2022-01 = 100")


def test_latest_observation_on_or_before_the_date_is_used():
    template = parse_template(_template())
    # 2022-05-31 is before the 2022-06 observation: the 2022-01 value still applies.
    result = build_up(template, quantity=1, on=date(2022, 5, 31), index_values=STEEL)
    assert result.lines[0].amount == Decimal("0.5000")
    assert "STEEL at 2022-01" in result.lines[0].source


@pytest.mark.parametrize(
    ("index_values", "on", "says"),
    [
        (STEEL, date(2021, 6, 1), "no STEEL value on or before 2021-06-01"),
        (_index("OTHER", {"2022-01-01": 1.0}), date(2022, 6, 1), "no STEEL value"),
        (_index("STEEL", {"2022-06-01": 150.0}), date(2022, 9, 1), "for base 2022-01"),
    ],
)
def test_missing_index_falls_back_to_base_and_says_so(index_values, on, says):
    template = parse_template(_template())
    result = build_up(template, quantity=1, on=on, index_values=index_values)
    line = result.lines[0]
    assert line.amount == Decimal("0.5000")
    assert says in line.source
    assert "base price used" in line.source
    assert any("base price used" in w for w in result.warnings)


def test_stale_index_is_flagged():
    template = parse_template(_template())
    result = build_up(template, quantity=1, on=date(2024, 2, 1), index_values=STEEL)
    assert result.lines[0].amount == Decimal("1.0000")
    assert "13 months before 2024-02-01" in result.lines[0].source
    assert result.warnings


def test_overhead_then_sga_then_margin():
    template = parse_template(
        _template(
            material=[{"name": "stock", "quantity_per_unit": 2, "price": {"base": 30}}],
            conversion=[{"name": "mill", "hours_per_unit": 0.5, "rate": 80}],
            overhead_pct=10,
            sga_pct=20,
            margin_pct=50,
        )
    )
    result = build_up(template, quantity=1, on=date(2024, 1, 1), index_values=STEEL)
    amounts = {line.group: line.amount for line in result.lines}
    # direct 60 + 40 = 100; overhead 10 % of 100; SG&A 20 % of 110; margin 50 % of 132.
    assert amounts == {
        "material": Decimal("60.0000"),
        "conversion": Decimal("40.0000"),
        "overhead": Decimal("10.0000"),
        "sga": Decimal("22.0000"),
        "margin": Decimal("66.0000"),
    }
    assert result.unit_total == Decimal("198.0000")
    assert [line.group for line in result.lines][-3:] == ["overhead", "sga", "margin"]
    assert "fixed template price" in result.lines[0].source


def test_setup_cost_makes_small_orders_dearer_per_unit():
    template = parse_template(_template(setup_cost=500))
    small = build_up(template, quantity=10, on=date(2022, 3, 1), index_values=STEEL)
    large = build_up(template, quantity=10_000, on=date(2022, 3, 1), index_values=STEEL)
    assert small.unit_total > large.unit_total
    setup = {r.quantity: r.by_group()["setup"] for r in (small, large)}
    assert setup == {Decimal(10): Decimal("50.0000"), Decimal(10_000): Decimal("0.0500")}


def test_price_break_applies_from_its_quantity():
    template = parse_template(_template(price_breaks=[{"min_quantity": 1000, "discount_pct": 10}]))
    below = build_up(template, quantity=999, on=date(2022, 3, 1), index_values=STEEL)
    at = build_up(template, quantity=1000, on=date(2022, 3, 1), index_values=STEEL)
    assert "price_break" not in below.by_group()
    # 10 % off the variable cost of 0.5 + 0.5.
    assert at.by_group()["price_break"] == Decimal("-0.1000")
    assert at.unit_total < below.unit_total


def test_params_override_and_say_so():
    template = parse_template(_template())
    result = build_up(
        template,
        quantity=1,
        on=date(2022, 3, 1),
        index_values=STEEL,
        params={"conversion.hours_per_unit": 0.02, "margin_pct": 0},
    )
    amounts = {line.group: line for line in result.lines}
    assert amounts["conversion"].amount == Decimal("1.0000")
    assert "set by caller" in amounts["conversion"].source
    assert amounts["margin"].amount == 0
    with pytest.raises(InvalidInputError, match="no conversion line named 'lathe'"):
        build_up(
            template,
            quantity=1,
            on=date(2022, 3, 1),
            index_values=STEEL,
            params={"conversion.lathe.rate": 1},
        )


@pytest.mark.parametrize("quantity", [0, -5, float("nan")])
def test_quantity_must_be_positive(quantity):
    with pytest.raises(InvalidInputError, match="quantity"):
        build_up(
            parse_template(_template()), quantity=quantity, on=date(2022, 1, 1), index_values=STEEL
        )


def test_float_model_matches_the_decimal_build_up():
    template = parse_template(
        _template(setup_cost=750, price_breaks=[{"min_quantity": 100, "discount_pct": 4}])
    )
    dates = np.array(["2022-02-01", "2022-07-15", "2023-03-01"], dtype="datetime64[D]")
    quantity = np.array([5.0, 150.0, 2000.0])
    floats = unit_cost_vector(template, index_ratios(template, IndexTable(STEEL), dates), quantity)
    for d, q, f in zip(dates, quantity, floats, strict=True):
        exact = build_up(template, quantity=q, on=d.item(), index_values=STEEL).unit_total
        assert float(exact) == pytest.approx(f, abs=1e-3)


# --- templates ------------------------------------------------------------------------


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    return path


GOOD_YAML = """
category: widget
unit: lb
currency: USD
material:
  - name: steel
    quantity_per_unit: 1
    price: {base: 0.5, index: STEEL, index_base_date: "2022-01"}
conversion:
  - {name: press, hours_per_unit: 0.01, rate: 50}
overhead_pct: 10
sga_pct: 5
margin_pct: 8
free:
  scale: [0.5, 2]
"""


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('index_base_date: "2022-01"', 'index_base_date: "2022-13"', "index_base_date"),
        ("unit: lb", "unit: pounds", "unit"),
        ("currency: USD", "currency: dollars", "currency"),
        ("base: 0.5", "base: -1", "material[0].price.base"),
        ("rate: 50", "rate: fast", "conversion[0].rate"),
        ("margin_pct: 8", "margin_pct: 120", "margin_pct"),
        ("margin_pct: 8", "margin_pct: 8\nmarkup: 3", "markup"),
        ("scale: [0.5, 2]", "labour.hours_per_unit: [0.1, 1]", "free"),
        ("scale: [0.5, 2]", "scale: [2, 3]", "free.scale"),
        ("scale: [0.5, 2]", "margin_pct: [0, 150]", "free.margin_pct"),
        ("category: widget\n", "", "category"),
        ("name: press", "name: press.1", "conversion[0].name"),
    ],
)
def test_bad_template_names_file_and_field(tmp_path, old, new, field):
    assert old in GOOD_YAML
    path = _write(tmp_path, GOOD_YAML.replace(old, new))
    with pytest.raises(InvalidInputError) as caught:
        load_template(path)
    assert str(path) in caught.value.message
    assert field in caught.value.message


def test_good_template_loads(tmp_path):
    template = load_template(_write(tmp_path, GOOD_YAML))
    assert template.free == {"scale": (0.5, 2.0)}
    assert template.material[0].index_base_date == date(2022, 1, 1)


def test_unreadable_yaml_and_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_template(_write(tmp_path, "category: [unclosed"))
    with pytest.raises(InvalidInputError, match="cannot read template"):
        load_template(tmp_path / "nope.yaml")
    with pytest.raises(InvalidInputError, match="no shipped should-cost template for 'gold'"):
        shipped_template("gold")


def test_template_round_trips_through_yaml(tmp_path):
    template = shipped_template("asphalt")
    path = tmp_path / "asphalt.yaml"
    path.write_text(template_to_yaml(template))
    again = load_template(path)
    assert again.material == template.material
    assert again.process_lines == template.process_lines
    assert again.free == template.free
    assert (again.setup_cost, again.margin_pct) == (template.setup_cost, template.margin_pct)


def test_shipped_categories():
    assert shipped_categories() == [
        "aggregate",
        "asphalt",
        "ready_mix_concrete",
        "rebar",
        "structural_steel",
    ]


@pytest.mark.parametrize("category", shipped_categories())
def test_every_shipped_template_prices_positive_with_real_indices(category, real_index):
    template = shipped_template(category)
    assert template.free, "shipped templates say what calibration may move"
    for on in (date(2022, 1, 15), date(2023, 11, 30)):
        result = build_up(template, quantity=500, on=on, index_values=real_index)
        assert result.unit_total > 0
        assert all(line.amount >= 0 for line in result.lines if line.group != "price_break")
        assert result.warnings == (), "every linked index has data for these dates"
        indexed = [m for m in template.material if m.index]
        assert indexed, "each shipped template links at least one market index"
        for m in indexed:
            line = next(x for x in result.lines if x.name == m.name)
            assert line.source.startswith(f"{m.index} at ")


# --- calibration ----------------------------------------------------------------------


TRUE = {"scale": 1.6, "setup_cost": 4000.0, "material.steel.base": 0.8}


def _synthetic(n: int, *, outliers: float, seed: int = 7) -> tuple[Any, pd.DataFrame, Any]:
    """Quotes generated from the template at TRUE params, with 5 % noise and gross outliers."""
    template = parse_template(
        _template(
            free={
                "scale": [0.2, 5],
                "setup_cost": [0, 20000],
                "material.steel.base": [0.1, 3],
            },
            setup_cost=1000,
        )
    )
    rng = np.random.default_rng(seed)
    months = pd.date_range("2020-01-01", "2024-12-01", freq="MS")
    index = pd.DataFrame(
        {
            "code": "STEEL",
            "obs_date": months,
            "value": 100 * np.exp(np.cumsum(rng.normal(0, 0.04, len(months)))),
        }
    )
    dates = pd.to_datetime("2020-03-01") + pd.to_timedelta(rng.integers(0, 1700, n), unit="D")
    quantity = np.exp(rng.uniform(np.log(50), np.log(200_000), n))
    truth = template.with_params(TRUE, note="truth")
    day = dates.to_numpy(dtype="datetime64[D]")
    clean = unit_cost_vector(truth, index_ratios(truth, IndexTable(index), day), quantity)
    price = clean * np.exp(rng.normal(0, 0.05, n))
    gross = rng.random(n) < outliers
    price[gross] *= rng.choice([0.1, 0.25, 4.0, 10.0], gross.sum())
    history = pd.DataFrame({"quote_date": dates, "quantity": quantity, "unit_price": price})
    return template, history, index


def _close(params: dict[str, float], rel: float) -> bool:
    return all(abs(params[k] / v - 1) < rel for k, v in TRUE.items())


def test_calibration_recovers_known_parameters():
    template, history, index = _synthetic(600, outliers=0)
    result = calibrate(template, history, index)
    assert _close(result.params, 0.05), result.params
    assert _close(result.train_params, 0.10), result.train_params
    assert result.calibrated_held_out.mdape < 0.06
    assert abs(result.calibrated_held_out.bias) < 0.02
    assert result.uncalibrated_held_out.mdape > 0.2
    assert result.at_bounds == ()
    assert result.n_train + result.n_test == result.n_quotes == 600
    assert result.converged


def test_calibration_is_robust_to_ten_percent_gross_outliers():
    template, history, index = _synthetic(600, outliers=0.10)
    robust = calibrate(template, history, index)
    assert _close(robust.params, 0.08), robust.params
    assert robust.calibrated_held_out.mdape < 0.08
    # A squared loss on the same data is pulled off by the outliers.
    plain = calibrate(template, history, index, loss="linear")
    plain_miss = max(abs(plain.params[k] / v - 1) for k, v in TRUE.items())
    robust_miss = max(abs(robust.params[k] / v - 1) for k, v in TRUE.items())
    assert plain_miss > 2 * robust_miss


def test_calibration_splits_by_date_and_labels_the_template():
    template, history, index = _synthetic(300, outliers=0)
    # Duplicate a day's quotes so several share the cutoff date.
    history = pd.concat([history, history.iloc[:20]], ignore_index=True)
    result = calibrate(template, history, index)
    dates = pd.to_datetime(history["quote_date"]).dt.date
    assert result.n_train == int((dates < result.cutoff).sum())
    assert result.n_test == int((dates >= result.cutoff).sum())
    assert 0.15 < result.n_test / result.n_quotes < 0.25
    assert set(result.summary().index) == {"uncalibrated", "calibrated"}
    priced = build_up(result.template, quantity=100, on=date(2024, 6, 1), index_values=index)
    assert "calibrated on 320 quotes" in priced.lines[1].source
    again = build_up(
        template, quantity=100, on=date(2024, 6, 1), index_values=index, params=result.params
    )
    assert again.unit_total == priced.unit_total


def test_calibration_drops_unusable_rows_and_checks_inputs():
    template, history, index = _synthetic(200, outliers=0)
    history.loc[:4, "unit_price"] = 0
    history.loc[5, "quantity"] = np.nan
    result = calibrate(template, history, index)
    assert result.n_dropped == 6
    with pytest.raises(InvalidInputError, match="missing column"):
        calibrate(template, history.drop(columns="quantity"), index)
    with pytest.raises(InvalidInputError, match="unit 'kg' differs"):
        calibrate(template, history.assign(unit="kg"), index)
    with pytest.raises(InvalidInputError, match="no free parameters"):
        calibrate(parse_template(_template()), history, index)
    with pytest.raises(InvalidInputError, match="at least 10 quotes"):
        calibrate(template, history.iloc[:8], index)


def test_calibration_reports_parameters_stuck_on_a_bound():
    _, history, index = _synthetic(300, outliers=0)
    narrow = parse_template(
        _template(
            setup_cost=1000,
            free={"scale": [0.2, 1.2], "setup_cost": [0, 20000], "material.steel.base": [0.1, 3]},
        )
    )
    result = calibrate(narrow, history, index)
    assert result.at_bounds == ("scale",)
    assert result.params["scale"] == 1.2
