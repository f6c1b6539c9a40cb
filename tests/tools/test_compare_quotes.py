"""compare_quotes on real INDOT bids and on quotes built here, checked against direct SQL."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from core.errors import InvalidInputError, NotFoundError
from store.units import UnitCatalog
from tests import factories
from tools.compare_quotes import (
    CompareQuotesInput,
    CompareQuotesOutput,
    Freight,
    PriceBreakIn,
    QuoteOffer,
    compare_quotes,
    parse_payment_terms,
)

REBAR = "703-06029"  # REINFORCING BARS, EPOXY COATED, per lb; has a should-cost template
REBAR_RFQ = "B -43801-A"  # 34 lines, two bidders; BROOKS bid lowest in total (bid_rank 1)
WIDGET = "ZZ-WIDGET-NOT-IN-CATALOGUE"


def q4(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)


def q2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _agreeing_line(ctx) -> tuple[str, str, int]:
    """An RFQ line with at least four bids within 20% of each other: (rfq, line, line id)."""
    row = ctx.session.execute(
        text(
            """
            SELECT r.code, rl.line_code, rl.id
            FROM quote_lines ql
            JOIN quotes q ON q.org_id = ql.org_id AND q.id = ql.quote_id
            JOIN rfqs r ON r.org_id = q.org_id AND r.id = q.rfq_id
            JOIN rfq_lines rl ON rl.org_id = ql.org_id AND rl.id = ql.rfq_line_id
            WHERE ql.quote_date < '2026-01-01' AND ql.unit_price > 0
            GROUP BY r.code, rl.line_code, rl.id
            HAVING count(*) >= 4 AND max(ql.unit_price) / min(ql.unit_price) < 1.2
            ORDER BY rl.id
            LIMIT 1
            """
        )
    ).one()
    return row.code, row.line_code, row.id


def _bids(ctx, rfq_line_id: int) -> list:
    return ctx.session.execute(
        text(
            """
            SELECT ql.id, ql.unit_price, ql.unit, i.unit AS item_unit, s.name, ql.supplier_id,
                   rl.quantity, rl.unit AS line_unit
            FROM quote_lines ql
            JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id
            JOIN suppliers s ON s.org_id = ql.org_id AND s.id = ql.supplier_id
            JOIN rfq_lines rl ON rl.org_id = ql.org_id AND rl.id = ql.rfq_line_id
            WHERE ql.rfq_line_id = :line
            ORDER BY ql.unit_price, s.name
            """
        ),
        {"line": rfq_line_id},
    ).all()


# --------------------------------------------------------------------------- store RFQs


def test_rfq_line_ranking_prices_and_medians_match_sql(ctx):
    rfq, line_code, line_id = _agreeing_line(ctx)
    out = compare_quotes(ctx, CompareQuotesInput(rfq=rfq, line=line_code))
    assert out.rfq == rfq
    assert out.bid_totals == []
    [line] = out.lines
    bids = _bids(ctx, line_id)
    catalog = UnitCatalog.load(ctx.session)
    factor = catalog.factor(bids[0].unit, bids[0].item_unit)
    assert [q.quote_line_id for q in line.quotes] == [b.id for b in bids]
    assert [q.rank for q in line.quotes] == list(range(1, len(bids) + 1))
    quantity = catalog.convert_quantity(bids[0].quantity, bids[0].line_unit, bids[0].item_unit)
    for quote, bid in zip(line.quotes, bids, strict=True):
        assert quote.unit_price.amount == q4(bid.unit_price / factor)
        assert quote.unit_price.unit == bid.item_unit
        # No Incoterm, no terms, no MOQ in the sample: landed is the price itself.
        assert quote.landed_per_unit.amount == quote.unit_price.amount
        assert quote.landed_total == q2(quantity * bid.unit_price / factor)
        assert quote.landed_cost_complete
        assert quote.payment_adjustment == 0
        assert isinstance(quote.landed_total, Decimal)
    sql_median = ctx.session.execute(
        text(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY unit_price)::numeric "
            "FROM quote_lines WHERE rfq_line_id = :line"
        ),
        {"line": line_id},
    ).scalar_one()
    assert line.peer_median is not None
    assert line.peer_median.amount == q4(sql_median / factor)
    first = line.quotes[0]
    others_median = ctx.session.execute(
        text(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY unit_price)::numeric "
            "FROM quote_lines WHERE rfq_line_id = :line AND supplier_id <> :supplier"
        ),
        {"line": line_id, "supplier": bids[0].supplier_id},
    ).scalar_one()
    assert first.peer_median is not None
    assert first.peer_median.amount == q4(others_median / factor)
    # The cheapest fair bid is the recommendation, with the model band around it.
    assert line.recommended_quote_line_id == bids[0].id
    assert line.recommendation.startswith(f"Award to {bids[0].name}")
    assert line.p10 is not None
    assert line.p90 is not None
    assert line.p10.amount <= line.p90.amount
    assert line.model_version == 1
    assert all(q.band_position for q in line.quotes)
    kinds = {e.kind for e in line.evidence}
    assert {"quotes", "model"} <= kinds
    # A landscaping item: no should-cost template, skipped with a caveat.
    assert line.should_cost is None
    assert any("no should-cost" in c for c in line.caveats)


def test_another_answer_unit_converts_exactly_and_should_cost_is_used(ctx):
    per_lb = compare_quotes(ctx, CompareQuotesInput(rfq=REBAR_RFQ, line=REBAR)).lines[0]
    per_ton = compare_quotes(ctx, CompareQuotesInput(rfq="b-43801-a", line=REBAR, unit="TON"))
    ton = per_ton.lines[0]
    assert ton.unit == "ton"
    assert ton.quantity * 2000 == per_lb.quantity == Decimal(55210)
    for a, b in zip(per_lb.quotes, ton.quotes, strict=True):
        assert b.unit_price.amount == a.unit_price.amount * 2000
        assert b.landed_total == a.landed_total
    assert per_lb.should_cost_template == "rebar"
    assert per_lb.should_cost is not None
    assert all(q.vs_should_cost_pct is not None for q in per_lb.quotes)
    assert any(e.kind == "template" for e in per_lb.evidence)
    assert per_lb.pricing_date == dt.date(2025, 9, 10)  # the letting, not the as-of date


def test_whole_rfq_totals_match_sql_and_the_letting(ctx):
    out = compare_quotes(ctx, CompareQuotesInput(rfq=REBAR_RFQ, max_lines=1))
    totals = ctx.session.execute(
        text(
            """
            SELECT s.name, sum(ql.quantity * ql.unit_price) AS total,
                   min((ql.attributes ->> 'bid_rank')::int) AS bid_rank
            FROM quote_lines ql
            JOIN quotes q ON q.org_id = ql.org_id AND q.id = ql.quote_id
            JOIN rfqs r ON r.org_id = q.org_id AND r.id = q.rfq_id
            JOIN suppliers s ON s.org_id = ql.org_id AND s.id = ql.supplier_id
            WHERE r.code = :rfq
            GROUP BY s.name
            ORDER BY total
            """
        ),
        {"rfq": REBAR_RFQ},
    ).all()
    assert [b.supplier for b in out.bid_totals] == [t.name for t in totals]
    assert [b.landed_total for b in out.bid_totals] == [q2(t.total) for t in totals]
    assert totals[0].bid_rank == 1  # the lowest total is the bidder INDOT ranked first
    assert all(b.complete for b in out.bid_totals)
    assert out.bid_recommendation is not None
    assert out.bid_recommendation.startswith(f"Lowest complete bid: {totals[0].name}")
    assert len(out.lines) == 1
    assert len(out.lines_not_detailed) == 20 + 1  # 33 more lines: 20 listed, then a count
    assert out.lines_not_detailed[-1] == "... and 13 more"


def test_a_tripled_bid_is_flagged_and_never_recommended(ctx):
    rfq, line_code, line_id = _agreeing_line(ctx)
    cheapest = _bids(ctx, line_id)[0]
    ctx.session.execute(
        text("UPDATE quote_lines SET unit_price = unit_price * 3 WHERE id = :id"),
        {"id": cheapest.id},
    )
    line = compare_quotes(ctx, CompareQuotesInput(rfq=rfq, line=line_code)).lines[0]
    tripled = next(q for q in line.quotes if q.quote_line_id == cheapest.id)
    assert tripled.rank == len(line.quotes)
    assert any(
        f.kind == "far_from_peers" and f.side == "high" and f.severity in {"warning", "critical"}
        for f in tripled.flags
    )
    assert line.recommended_quote_line_id not in {None, cheapest.id}


def test_a_suspiciously_low_bid_is_passed_over_with_the_reason(ctx):
    rfq, line_code, line_id = _agreeing_line(ctx)
    cheapest = _bids(ctx, line_id)[0]
    ctx.session.execute(
        text("UPDATE quote_lines SET unit_price = unit_price / 3 WHERE id = :id"),
        {"id": cheapest.id},
    )
    line = compare_quotes(ctx, CompareQuotesInput(rfq=rfq, line=line_code)).lines[0]
    low = line.quotes[0]
    assert low.quote_line_id == cheapest.id  # still the cheapest landed cost...
    assert any(f.side == "low" and f.severity in {"warning", "critical"} for f in low.flags)
    assert line.recommended_quote_line_id != cheapest.id  # ...but not the award
    assert "Passed over" in line.recommendation
    assert cheapest.name in line.recommendation


def test_an_unbalanced_bidder_is_passed_over(ctx):
    # MILESTONE bid R -44737-A far below the others on some lines and far above on others.
    line = compare_quotes(ctx, CompareQuotesInput(rfq="R -44737-A", line="207-08264")).lines[0]
    cheapest = line.quotes[0]
    assert cheapest.supplier == "MILESTONE CONTRACTORS, L.P."
    assert any(f.kind == "unbalanced_bid" for f in cheapest.flags)
    assert line.recommended_supplier not in {None, cheapest.supplier}
    assert "Passed over" in line.recommendation


# --------------------------------------------------------------------------- ad-hoc quotes


def _need(**kw) -> dict:
    """A need for 20,000 lb of an item outside the catalogue: pure leveling arithmetic, fast
    (no model band or should-cost to compute)."""
    return {"item": WIDGET, "quantity": Decimal(20000), "quantity_unit": "lb", **kw}


def test_quotes_in_other_units_and_currencies_convert_exactly(ctx):
    factories.fx_rate(
        ctx.session, ctx.org_id, base="EUR", quote="USD", rate="1.10", on=dt.date(2026, 5, 29)
    )
    out = compare_quotes(
        ctx,
        CompareQuotesInput(
            **_need(item=REBAR, quantity=Decimal(10), quantity_unit="TON"),
            quotes=[
                QuoteOffer(supplier="Acme", unit_price=Decimal("1.80"), unit="lb", incoterm="DDP"),
                QuoteOffer(
                    supplier="Bolt",
                    unit_price=Decimal(3200),
                    currency="EUR",
                    unit="TON",
                    incoterm="DAP Indianapolis",
                ),
            ],
        ),
    )
    line = out.lines[0]
    assert line.unit == "lb"  # the item's unit
    assert line.quantity == Decimal(20000)
    bolt, acme = line.quotes  # 1.76 USD/lb before 1.80
    assert bolt.supplier == "Bolt"
    assert bolt.unit_price.amount == Decimal("1.7600")  # 3200 EUR/ton * 1.10 / 2000 lb
    assert bolt.landed_total == Decimal("35200.00")
    assert bolt.quoted_price.currency == "EUR"
    assert acme.landed_total == Decimal("36000.00")
    assert line.recommended_supplier == "Bolt"
    assert any(e.kind == "fx" and "EUR->USD" in e.detail for e in line.evidence)
    assert line.p50 is not None  # band and should-cost come with a catalogue item
    assert line.should_cost is not None
    assert bolt.band_position is not None
    in_eur = compare_quotes(
        ctx,
        CompareQuotesInput(
            **_need(),
            currency="EUR",
            quotes=[QuoteOffer(supplier="Acme", unit_price=Decimal("1.65"), unit="lb")],
        ),
    )
    assert in_eur.lines[0].quotes[0].unit_price.amount == q4(Decimal("1.65") / Decimal("1.10"))


def test_price_breaks_and_moq_excess(ctx):
    breaks = [
        PriceBreakIn(min_quantity=Decimal(10000), unit_price=Decimal("1.70")),
        PriceBreakIn(min_quantity=Decimal(50000), unit_price=Decimal("1.50")),
    ]
    out = compare_quotes(
        ctx,
        CompareQuotesInput(
            **_need(),
            quotes=[
                QuoteOffer(
                    supplier="Breaks", unit_price=Decimal("1.95"), unit="lb", price_breaks=breaks
                ),
                QuoteOffer(
                    supplier="Moq", unit_price=Decimal("1.60"), unit="lb", moq=Decimal(25000)
                ),
                QuoteOffer(
                    supplier="NextBreak",
                    unit_price=Decimal("2.00"),
                    unit="lb",
                    price_breaks=[
                        PriceBreakIn(min_quantity=Decimal(25000), unit_price=Decimal("1.50"))
                    ],
                ),
            ],
        ),
    )
    by = {q.supplier: q for q in out.lines[0].quotes}
    assert by["Breaks"].unit_price.amount == Decimal("1.7000")
    assert by["Breaks"].price_break is not None
    assert by["Breaks"].landed_total == Decimal("34000.00")
    moq = by["Moq"]
    assert moq.order_quantity == Decimal(25000)
    assert moq.excess_quantity == Decimal(5000)
    assert moq.excess_cost == Decimal("8000.00")
    assert moq.landed_total == Decimal("40000.00")  # pays for the MOQ
    assert moq.landed_per_unit.amount == Decimal("2.0000")  # 40,000 over the 20,000 needed
    assert any("MOQ 25,000 lb" in n for n in moq.notes)
    nxt = by["NextBreak"]
    assert nxt.landed_total == Decimal("40000.00")
    assert any("next price break" in n for n in nxt.notes)  # 25,000 x 1.50 < 20,000 x 2.00
    assert out.lines[0].quotes[0].supplier == "Breaks"


def test_payment_terms_are_valued_and_later_payment_ranks_first(ctx):
    terms = {
        "receipt": "due on receipt",
        "n30": "net 30",
        "n60": "Net 60",
        "disc": "2/10 net 30",
        "split": "50% advance, 50% net 30",
    }
    out = compare_quotes(
        ctx,
        CompareQuotesInput(
            **_need(),
            quotes=[
                QuoteOffer(
                    supplier=name,
                    unit_price=Decimal("1.80"),
                    unit="lb",
                    payment_terms=text_,
                    lead_time_days=30,
                )
                for name, text_ in terms.items()
            ],
        ),
    )
    by = {q.supplier: q for q in out.lines[0].quotes}
    goods = Decimal(36000)
    assert by["n30"].landed_total == goods  # the standard terms: no adjustment
    expected_n60 = q2(goods * Decimal("1.08") ** (Decimal(-30) / 365))
    assert by["n60"].landed_total == expected_n60
    assert by["n60"].landed_total < by["n30"].landed_total < by["receipt"].landed_total
    assert by["disc"].landed_total < by["n30"].landed_total  # 2% for 20 days beats 8% a year
    assert "discount" in by["disc"].payment_reading
    assert by["split"].landed_total > by["receipt"].landed_total  # half paid 30 days early
    assert [q.supplier for q in out.lines[0].quotes][:2] == ["disc", "n60"]
    # At an absurd cost of money the early-payment discount is no longer worth taking.
    dear = compare_quotes(
        ctx,
        CompareQuotesInput(
            **_need(),
            discount_rate=Decimal("0.99"),
            quotes=[
                QuoteOffer(
                    supplier="d", unit_price=Decimal(1), unit="lb", payment_terms="1/10 net 30"
                )
            ],
        ),
    )
    assert dear.lines[0].quotes[0].payment_reading.startswith("net 30")


def test_freight_follows_the_incoterm(ctx):
    out = compare_quotes(
        ctx,
        CompareQuotesInput(
            **_need(),
            quotes=[
                QuoteOffer(supplier="Exw", unit_price=Decimal("1.60"), unit="lb", incoterm="EXW"),
                QuoteOffer(
                    supplier="Fca",
                    unit_price=Decimal("1.65"),
                    unit="lb",
                    incoterm="FCA",
                    freight=Freight(amount=Decimal("0.05"), basis="per_unit", unit="lb"),
                ),
                QuoteOffer(supplier="Ddp", unit_price=Decimal("1.80"), unit="lb", incoterm="DDP"),
            ],
        ),
    )
    line = out.lines[0]
    by = {q.supplier: q for q in line.quotes}
    exw = by["Exw"]
    assert not exw.landed_cost_complete
    assert exw.freight is None
    assert any(f.kind == "freight_not_quoted" for f in exw.flags)
    assert exw.rank == 3  # cheapest on paper, but its landed cost is only a lower bound
    fca = by["Fca"]
    assert fca.landed_cost_complete
    assert fca.freight == Decimal("1000.00")  # 0.05/lb on 20,000 lb
    assert fca.landed_total == Decimal("34000.00")
    ddp = by["Ddp"]
    assert ddp.freight == 0
    assert "includes the main carriage" in ddp.delivery
    assert line.recommended_supplier == "Fca"
    assert any("Exw" in c and "freight costs less than 2,000.00 USD" in c for c in line.caveats)


def test_payment_terms_parser():
    assert parse_payment_terms("Net 60").options == parse_payment_terms("net60").options
    split = parse_payment_terms("30% with order; 70% on delivery").options[0]
    assert [(p.share, p.days, p.at_order) for p in split] == [
        (Decimal("0.3"), 0, True),
        (Decimal("0.7"), 0, False),
    ]
    assert len(parse_payment_terms("2/10, n/30").options) == 2
    assert parse_payment_terms("net 30 EOM").options[0][0].days == 45
    for bad in ("whenever", "50% advance, 40% net 30", "net 400", "advance, net 30", ""):
        with pytest.raises(InvalidInputError):
            parse_payment_terms(bad)


# --------------------------------------------------------------------------- refusals


def test_bad_requests_are_refused_clearly(ctx):
    with pytest.raises(NotFoundError, match="no RFQ"):
        compare_quotes(ctx, CompareQuotesInput(rfq="NO-SUCH-RFQ"))
    with pytest.raises(NotFoundError, match="has no line matching"):
        compare_quotes(ctx, CompareQuotesInput(rfq=REBAR_RFQ, line="unobtainium"))
    offer = QuoteOffer(supplier="X", unit_price=Decimal(1), unit="lb", payment_terms="pay later")
    with pytest.raises(InvalidInputError, match="cannot read payment terms 'pay later'"):
        compare_quotes(ctx, CompareQuotesInput(**_need(), quotes=[offer]))
    odd = QuoteOffer(supplier="X", unit_price=Decimal(1), unit="lb", incoterm="XYZ")
    with pytest.raises(InvalidInputError, match="unknown Incoterm"):
        compare_quotes(ctx, CompareQuotesInput(**_need(), quotes=[odd]))
    plain = QuoteOffer(supplier="X", unit_price=Decimal(1), unit="lb")
    with pytest.raises(InvalidInputError, match="quantity"):
        compare_quotes(ctx, CompareQuotesInput(item=REBAR, quotes=[plain]))
    yen = QuoteOffer(supplier="Y", unit_price=Decimal(300), currency="JPY", unit="lb")
    with pytest.raises(InvalidInputError, match="no exchange rate"):
        compare_quotes(ctx, CompareQuotesInput(**_need(), quotes=[yen]))
    with pytest.raises(ValidationError):
        CompareQuotesInput(rfq=REBAR_RFQ, quotes=[plain])
    with pytest.raises(ValidationError):
        CompareQuotesInput(line="x", quotes=[plain])


def test_output_round_trips_through_json(ctx):
    out = compare_quotes(
        ctx,
        CompareQuotesInput(
            **_need(),
            quotes=[
                QuoteOffer(supplier="A", unit_price=Decimal("1.80"), unit="lb", moq=Decimal(30000)),
                QuoteOffer(supplier="B", unit_price=Decimal("1.70"), unit="lb", incoterm="FOB"),
            ],
        ),
    )
    again = CompareQuotesOutput.model_validate_json(out.model_dump_json())
    assert again == out
    assert CompareQuotesOutput.model_json_schema()["properties"]["lines"]
