"""supplier_scorecard on the real bid tabs, checked against direct SQL; delivery from POs
added inside the test's transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from core.errors import NotFoundError
from tests import factories
from tools.supplier_scorecard import SupplierScorecardInput, supplier_scorecard

MILESTONE = "MILESTONE CONTRACTORS, L.P."
RAGLE = "RAGLE, INC."
REBAR = "703-06029"

_MINE = """
    FROM quote_lines ql
    JOIN suppliers s ON s.org_id = ql.org_id AND s.id = ql.supplier_id
    JOIN quotes q ON q.org_id = ql.org_id AND q.id = ql.quote_id
    JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id
    WHERE s.name = :supplier AND ql.quote_date BETWEEN :since AND :until
      AND (CAST(:item AS text) IS NULL OR i.code = :item)
"""


def _sql_counts(ctx, supplier: str, since, until, item=None):
    return ctx.session.execute(
        text(
            "SELECT count(*) AS lines, count(DISTINCT q.rfq_id) AS rfqs, "
            "count(DISTINCT ql.item_id) AS items, sum(ql.quantity * ql.unit_price) AS value, "
            "count(*) FILTER (WHERE (ql.attributes->>'bid_rank')::int = 1) AS lines_won, "
            "count(DISTINCT q.rfq_id) FILTER (WHERE (ql.attributes->>'bid_rank')::int = 1) "
            "AS rfqs_won" + _MINE
        ),
        {"supplier": supplier, "since": since, "until": until, "item": item},
    ).one()


def _sql_peers(ctx, supplier: str, since, until, item=None):
    return ctx.session.execute(
        text(
            "WITH mine AS (SELECT ql.rfq_line_id, ql.supplier_id, ql.unit_price"
            + _MINE
            + "), cmp AS ("
            "  SELECT m.rfq_line_id, m.unit_price,"
            "         percentile_cont(0.5) WITHIN GROUP (ORDER BY o.unit_price) AS med,"
            "         min(o.unit_price) AS low"
            "  FROM mine m JOIN quote_lines o ON o.org_id = :org"
            "   AND o.rfq_line_id = m.rfq_line_id AND o.supplier_id <> m.supplier_id"
            "  GROUP BY m.rfq_line_id, m.unit_price)"
            " SELECT count(*) AS n,"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY unit_price / med) AS median_ratio,"
            " count(*) FILTER (WHERE unit_price <= low) AS lowest"
            " FROM cmp WHERE med > 0"
        ),
        {"supplier": supplier, "since": since, "until": until, "item": item, "org": ctx.org_id},
    ).one()


def test_scorecard_volume_wins_and_competitiveness_match_sql(ctx):
    out = supplier_scorecard(ctx, SupplierScorecardInput(supplier="Milestone Contractors"))
    assert out.supplier == MILESTONE
    assert out.until == ctx.as_of
    assert out.since == dt.date(2024, 6, 2)  # the 24 months to the as-of date

    sql = _sql_counts(ctx, MILESTONE, out.since, out.until)
    assert out.volume.lines == sql.lines > 1000
    assert out.volume.rfqs == sql.rfqs
    assert out.volume.items == sql.items
    assert out.volume.total_quoted_value == sql.value.quantize(Decimal("0.01"))
    assert out.volume.currency == "USD"
    # INDOT records no award flag: a win is bid rank 1 in the letting.
    assert out.win_rate.lines_known == sql.lines
    assert out.win_rate.lines_won == sql.lines_won
    assert out.win_rate.rfqs_won == sql.rfqs_won
    assert out.win_rate.rfq_win_rate == pytest.approx(sql.rfqs_won / sql.rfqs, abs=1e-4)

    peers = _sql_peers(ctx, MILESTONE, out.since, out.until)
    assert out.competitiveness.compared_lines == peers.n
    assert out.competitiveness.lowest_lines == peers.lowest
    assert out.competitiveness.median_ratio_to_peers == pytest.approx(
        float(peers.median_ratio), abs=1e-4
    )
    assert out.volatility.relative_price_dispersion is not None
    assert out.volatility.price_changes > 0
    assert out.delivery is None
    assert "no purchase orders" in out.delivery_note
    assert out.evidence[0].ids


def test_scorecard_for_one_item_cites_numbers(ctx):
    out = supplier_scorecard(ctx, SupplierScorecardInput(supplier=RAGLE, item=REBAR))
    sql = _sql_counts(ctx, RAGLE, out.since, out.until, REBAR)
    peers = _sql_peers(ctx, RAGLE, out.since, out.until, REBAR)
    assert out.scope == f"for item {REBAR}"
    assert out.volume.lines == sql.lines
    assert out.volume.items == 1
    assert out.win_rate.lines_won == sql.lines_won
    assert out.competitiveness.compared_lines == peers.n
    assert out.competitiveness.median_ratio_to_peers == pytest.approx(
        float(peers.median_ratio), abs=1e-4
    )
    # Each strength and concern quotes a number.
    assert out.strengths or out.concerns
    assert all(any(ch.isdigit() for ch in s) for s in out.strengths + out.concerns)


def test_delivery_performance_from_purchase_order_lines(ctx):
    supplier_id = ctx.session.execute(
        text("SELECT id FROM suppliers WHERE name = :n"), {"n": RAGLE}
    ).scalar_one()
    item_id = ctx.session.execute(
        text("SELECT id FROM items WHERE code = :c"), {"c": REBAR}
    ).scalar_one()
    order = factories.purchase_order(
        ctx.session, ctx.org_id, supplier_id=supplier_id, source_system="Oracle EBS"
    )
    day = dt.date

    def po_line(need_by, received_on, quantity, received):
        return factories.purchase_order_line(
            ctx.session,
            ctx.org_id,
            purchase_order_id=order.id,
            item_id=item_id,
            supplier_id=supplier_id,
            order_date=day(2026, 1, 15),
            unit="lb",
            quantity=Decimal(quantity),
            need_by_date=need_by,
            received_date=received_on,
            received_quantity=None if received is None else Decimal(received),
        )

    po_line(day(2026, 3, 1), day(2026, 2, 25), 100, 100)  # on time, full
    po_line(day(2026, 3, 1), day(2026, 3, 5), 100, 90)  # 4 days late, 90% filled
    po_line(day(2026, 4, 1), None, 50, None)  # overdue, nothing received
    po_line(day(2026, 7, 1), None, 80, None)  # not due yet: neither on time nor late
    po_line(None, day(2026, 2, 1), 10, 10)  # no need-by date: counts for fill only

    out = supplier_scorecard(ctx, SupplierScorecardInput(supplier=RAGLE, item=REBAR))
    delivery = out.delivery
    assert delivery is not None
    assert (delivery.purchase_orders, delivery.po_lines) == (1, 5)
    on_time_sql = ctx.session.execute(
        text(
            "SELECT count(*) FILTER (WHERE received_date <= need_by_date), "
            "count(*) FILTER (WHERE need_by_date IS NOT NULL AND "
            "(received_date IS NOT NULL OR need_by_date < :on)) "
            "FROM purchase_order_lines WHERE purchase_order_id = :po"
        ),
        {"po": order.id, "on": ctx.as_of},
    ).one()
    assert (delivery.on_time_lines, delivery.due_lines) == tuple(on_time_sql) == (1, 3)
    assert delivery.on_time_share == pytest.approx(1 / 3, abs=1e-4)
    assert delivery.late_received_lines == 1
    assert delivery.overdue_open_lines == 1
    assert delivery.average_days_late == 4
    assert delivery.fill_lines == 4
    assert delivery.fill_rate == pytest.approx((1 + 0.9 + 0 + 1) / 4)
    assert delivery.short_lines == 2
    assert "5 purchase order lines" in out.delivery_note
    assert any("33% of 3 due PO lines on time" in c for c in out.concerns)
    assert any("1 PO lines overdue" in c for c in out.concerns)
    assert any("fill rate" in c and "2 of 4 lines short" in c for c in out.concerns)
    assert len(out.evidence[1].ids) == 5


def test_scope_and_errors(ctx):
    asphalt = supplier_scorecard(
        ctx, SupplierScorecardInput(supplier="E & B PAVING", category="Asphalt")
    )
    items = ctx.session.execute(
        text(
            "SELECT count(DISTINCT ql.item_id) FROM quote_lines ql JOIN items i "
            "ON i.org_id = ql.org_id AND i.id = ql.item_id JOIN suppliers s "
            "ON s.org_id = ql.org_id AND s.id = ql.supplier_id "
            "WHERE s.name = 'E & B PAVING, INC.' AND i.category = 'asphalt' "
            "AND ql.quote_date BETWEEN :since AND :until"
        ),
        {"since": asphalt.since, "until": asphalt.until},
    ).scalar_one()
    assert asphalt.volume.items == items
    empty = supplier_scorecard(
        ctx,
        SupplierScorecardInput(
            supplier=RAGLE, since=dt.date(2020, 1, 1), until=dt.date(2020, 12, 31)
        ),
    )
    assert empty.volume.lines == 0
    assert empty.competitiveness.median_ratio_to_peers is None
    assert any("little evidence" in c for c in empty.concerns)
    with pytest.raises(NotFoundError):
        supplier_scorecard(ctx, SupplierScorecardInput(supplier="NO SUCH SUPPLIER XYZ"))
    with pytest.raises(NotFoundError):
        supplier_scorecard(ctx, SupplierScorecardInput(supplier=RAGLE, category="unobtainium"))
    with pytest.raises(ValidationError):
        SupplierScorecardInput(supplier=RAGLE, item=REBAR, category="rebar")
