"""check_price_increase on the real sample, with POs, contracts, index values and FX rates
added inside the test's transaction; numbers checked against direct SQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from core.errors import NotFoundError
from tests import factories
from tools.check_price_increase import CheckPriceIncreaseInput, check_price_increase

REBAR = "703-06029"  # REINFORCING BARS, EPOXY COATED, category rebar -> WPU101704, per lb
MILESTONE = "MILESTONE CONTRACTORS, L.P."


def _id(ctx, table: str, column: str, value: str) -> int:
    return ctx.session.execute(
        text(f"SELECT id FROM {table} WHERE {column} = :v"), {"v": value}
    ).scalar_one()


def _add_index(ctx, code: str, values: dict[dt.date, str]) -> None:
    series_id = _id(ctx, "index_series", "code", code)
    for day, value in values.items():
        factories.index_observation(
            ctx.session, ctx.org_id, series_id=series_id, obs_date=day, value=Decimal(value)
        )


def _known_by_sql(ctx, code: str, on: dt.date) -> tuple[dt.date, Decimal]:
    """The index value published by ``on``: its month plus 45 days is on or before it."""
    row = ctx.session.execute(
        text(
            "SELECT o.obs_date, o.value FROM index_observations o "
            "JOIN index_series s ON s.org_id = o.org_id AND s.id = o.series_id "
            "WHERE s.code = :code AND o.obs_date + 45 <= :on ORDER BY o.obs_date DESC LIMIT 1"
        ),
        {"code": code, "on": on},
    ).one()
    return row[0], row[1]


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    out, day = [], first
    while day <= last:
        out.append(day)
        day = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


def test_a_ten_percent_request_is_split_into_index_share_and_remainder(ctx):
    supplier_id = _id(ctx, "suppliers", "name", MILESTONE)
    item_id = _id(ctx, "items", "code", REBAR)
    order = factories.purchase_order(
        ctx.session,
        ctx.org_id,
        supplier_id=supplier_id,
        po_number="4500012345",
        order_date=dt.date(2026, 5, 10),
    )
    line = factories.purchase_order_line(
        ctx.session,
        ctx.org_id,
        purchase_order_id=order.id,
        item_id=item_id,
        supplier_id=supplier_id,
        order_date=dt.date(2026, 5, 10),
        quantity=Decimal(50000),
        unit="lb",
        unit_price=Decimal("1.80"),
    )
    # The steel index is flat from the end of the sample to March 2026, then +8% in April.
    values = dict.fromkeys(_months(dt.date(2023, 12, 1), dt.date(2026, 3, 1)), "300")
    values[dt.date(2026, 4, 1)] = "324"
    _add_index(ctx, "WPU101704", values)

    out = check_price_increase(
        ctx,
        CheckPriceIncreaseInput(
            supplier="Milestone Contractors LP", item=REBAR, requested_increase_pct=Decimal(10)
        ),
    )
    assert out.last_price.source == "purchase_order"
    assert out.last_price.id == line.id
    assert out.last_price.source_system == "SAP"
    assert out.last_price.document.startswith("4500012345")
    assert out.last_price.price.amount == Decimal("1.80")
    assert (out.last_price.price.currency, out.last_price.price.unit) == ("USD", "lb")

    # Index values as published on the PO date (March: April is not out until mid-May) and
    # on the as-of date (April), read by SQL.
    then = _known_by_sql(ctx, "WPU101704", dt.date(2026, 5, 10))
    now = _known_by_sql(ctx, "WPU101704", ctx.as_of)
    assert then == (dt.date(2026, 3, 1), Decimal(300))
    assert now == (dt.date(2026, 4, 1), Decimal(324))
    index = out.index
    assert index is not None
    assert (index.from_month, index.from_value) == then
    assert (index.to_month, index.to_value) == now
    assert index.change_pct == ((now[1] / then[1] - 1) * 100).quantize(Decimal("0.01"))
    assert index.change_pct == Decimal("8.00")
    assert not index.stale

    # Rebar has a should-cost template: only its material share moves with the index.
    assert Decimal("0.05") < out.material_share < Decimal("0.95")
    assert "rebar" in out.material_share_source
    parts = {c.driver: c.pct for c in out.components}
    assert abs(parts["index"] - out.material_share * Decimal(8)) <= Decimal("0.01")
    assert parts["currency"] == 0
    assert parts["index"] + parts["currency"] + parts["unexplained"] == Decimal("10.00")
    assert out.supported_increase_pct == parts["index"]
    assert out.verdict == "partly justified"
    expected = Decimal("1.80") * (1 + out.supported_increase_pct / 100)
    assert out.counter_proposal.amount == expected.quantize(Decimal("0.0001"))
    assert out.counter_proposal.unit == "lb"
    assert out.requested_price.amount == Decimal("1.9800")
    assert {e.kind for e in out.evidence} >= {"purchase_orders", "index", "template"}
    assert line.id in out.evidence[0].ids

    # The same request named as a new price per ton.
    per_ton = check_price_increase(
        ctx,
        CheckPriceIncreaseInput(
            supplier=MILESTONE, item=REBAR, new_unit_price=Decimal(3960), unit="TON"
        ),
    )
    assert per_ton.requested_increase_pct == Decimal("10.00")
    assert per_ton.components == out.components


def test_a_euro_supplier_is_credited_with_the_currency_move(ctx):
    supplier = factories.supplier(ctx.session, ctx.org_id, code="EUROSTAHL GMBH", country="DE")
    # Earthwork is linked to WPUSI012011 and has no should-cost template: full pass-through.
    item = factories.item(ctx.session, ctx.org_id, category="earthwork", unit="ton")
    contract = factories.contract(
        ctx.session, ctx.org_id, supplier_id=supplier.id, currency="EUR", contract_number="K-77"
    )
    price = factories.contract_price(
        ctx.session,
        ctx.org_id,
        contract_id=contract.id,
        item_id=item.id,
        unit_price=Decimal("100.00"),
        currency="EUR",
        unit="ton",
        min_quantity=Decimal(0),
        valid_from=dt.date(2026, 2, 2),
    )
    values = dict.fromkeys(_months(dt.date(2023, 12, 1), dt.date(2026, 3, 1)), "205")
    values[dt.date(2025, 12, 1)] = "200"
    values[dt.date(2026, 4, 1)] = "210"
    _add_index(ctx, "WPUSI012011", values)
    # One euro buys 1.10 dollars when the price was agreed, 1.00 now.
    factories.fx_rate(
        ctx.session, ctx.org_id, base="EUR", quote="USD", rate="1.10", on=dt.date(2026, 2, 2)
    )
    factories.fx_rate(
        ctx.session, ctx.org_id, base="EUR", quote="USD", rate="1.00", on=dt.date(2026, 5, 29)
    )

    out = check_price_increase(
        ctx,
        CheckPriceIncreaseInput(
            supplier="Eurostahl", item=item.code, requested_increase_pct=Decimal(20)
        ),
    )
    assert out.last_price.source == "contract"
    assert out.last_price.id == price.id
    assert out.last_price.document == "K-77"
    assert out.material_share == 1
    assert "full pass-through" in out.material_share_source
    assert out.index is not None
    assert (out.index.from_value, out.index.to_value) == (Decimal(200), Decimal(210))
    currency = out.currency
    assert currency is not None
    assert (currency.rate_then, currency.rate_now) == (Decimal("1.1"), Decimal("1.0"))
    assert (currency.rate_then_date, currency.rate_now_date) == (
        dt.date(2026, 2, 2),
        dt.date(2026, 5, 29),
    )
    assert currency.supplier_currency_change_pct == Decimal("-9.09")
    parts = {c.driver: c.pct for c in out.components}
    # Index +5%; dollar-priced costs re-priced in weaker euros: 1.05 x (1.10 / 1.00 - 1).
    assert parts == {
        "index": Decimal("5.00"),
        "currency": Decimal("10.50"),
        "unexplained": Decimal("4.50"),
    }
    assert out.supported_increase_pct == Decimal("15.50")
    assert out.verdict == "partly justified"
    assert out.counter_proposal.amount == Decimal("115.5000")
    assert out.counter_proposal.currency == "EUR"
    assert any(e.kind == "fx" for e in out.evidence)

    within = check_price_increase(
        ctx,
        CheckPriceIncreaseInput(supplier="Eurostahl", item=item.code, requested_increase_pct=15),
    )
    assert within.verdict == "justified"
    assert within.counter_proposal.amount == Decimal("115.0000")


def test_no_previous_price_is_a_clear_not_found(ctx):
    factories.supplier(ctx.session, ctx.org_id, code="NEWCOMER STEEL LLC")
    with pytest.raises(NotFoundError) as caught:
        check_price_increase(
            ctx,
            CheckPriceIncreaseInput(
                supplier="NEWCOMER STEEL", item=REBAR, requested_increase_pct=Decimal(5)
            ),
        )
    message = caught.value.message
    assert "no purchase order, contract price or quote" in message
    assert REBAR in message
    assert "price_history" in message


def test_without_a_linked_index_all_of_it_is_unexplained(ctx):
    supplier_id = _id(ctx, "suppliers", "name", MILESTONE)
    item = factories.item(ctx.session, ctx.org_id, category="paving", unit="yd2")
    order = factories.purchase_order(ctx.session, ctx.org_id, supplier_id=supplier_id)
    factories.purchase_order_line(
        ctx.session,
        ctx.org_id,
        purchase_order_id=order.id,
        item_id=item.id,
        supplier_id=supplier_id,
        order_date=dt.date(2025, 11, 3),
        unit_price=Decimal("40.00"),
    )
    out = check_price_increase(
        ctx, CheckPriceIncreaseInput(supplier=MILESTONE, item=item.code, requested_increase_pct=6)
    )
    assert out.index is None
    assert out.material_share == 0
    assert {c.driver: c.pct for c in out.components}["unexplained"] == Decimal("6.00")
    assert out.verdict == "not justified"
    assert out.counter_proposal.amount == Decimal("40.0000")
    assert any("no market index is linked to category 'paving'" in w for w in out.warnings)


def test_a_stale_index_is_flagged_with_the_last_month_used(ctx):
    out = check_price_increase(
        ctx, CheckPriceIncreaseInput(supplier=MILESTONE, item=REBAR, requested_increase_pct=10)
    )
    latest_quote = ctx.session.execute(
        text(
            "SELECT ql.id, ql.unit_price FROM quote_lines ql "
            "JOIN suppliers s ON s.org_id = ql.org_id AND s.id = ql.supplier_id "
            "JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id "
            "WHERE s.name = :s AND i.code = :i AND ql.quote_date <= :on "
            "ORDER BY ql.quote_date DESC, ql.id DESC LIMIT 1"
        ),
        {"s": MILESTONE, "i": REBAR, "on": ctx.as_of},
    ).one()
    assert out.last_price.source == "quote"
    assert (out.last_price.id, out.last_price.price.amount) == tuple(latest_quote)
    last_month = ctx.session.execute(
        text(
            "SELECT max(o.obs_date) FROM index_observations o JOIN index_series s "
            "ON s.org_id = o.org_id AND s.id = o.series_id WHERE s.code = 'WPU101704'"
        )
    ).scalar_one()
    assert out.index is not None
    assert out.index.stale
    assert out.index.to_month == last_month == dt.date(2023, 11, 1)
    assert any("stale" in w and "2023-11" in w for w in out.warnings)
    assert out.verdict == "not justified"
    assert out.supported_increase_pct == 0


def test_the_request_is_one_of_a_percentage_or_a_price():
    with pytest.raises(ValidationError):
        CheckPriceIncreaseInput(supplier="a", item="b")
    with pytest.raises(ValidationError):
        CheckPriceIncreaseInput(
            supplier="a", item="b", requested_increase_pct=5, new_unit_price=Decimal(2)
        )
