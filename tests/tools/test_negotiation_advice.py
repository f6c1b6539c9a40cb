"""negotiation_advice on real INDOT bids: ordered numbers inside the band, cited arguments."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from core.errors import InvalidInputError, NotFoundError
from tests.tools.test_compare_quotes import _agreeing_line, _bids
from tools.compare_quotes import CompareQuotesInput, compare_quotes
from tools.negotiation_advice import (
    OPENING_DISCOUNT,
    NegotiationAdviceInput,
    NegotiationAdviceOutput,
    negotiation_advice,
)

REBAR = "703-06029"
MILESTONE = "MILESTONE CONTRACTORS, L.P."


def _assert_sane(out: NegotiationAdviceOutput) -> None:
    opening, target, walk = (
        out.opening_offer.amount,
        out.target_price.amount,
        out.walk_away_price.amount,
    )
    assert opening <= target <= walk
    assert opening >= target * (1 - OPENING_DISCOUNT) - Decimal("0.0001")
    if out.p90 is not None:
        assert walk <= out.p90.amount
    for money in (out.opening_offer, out.target_price, out.walk_away_price):
        assert (money.currency, money.unit) == (out.currency, out.unit)
    assert 0 <= out.confidence <= 1
    assert out.confidence_label in {"low", "medium", "high"}
    assert out.confidence_reason
    for line in out.leverage + out.talking_points:
        assert re.search(r"\d", line), line  # every argument cites a number
    assert NegotiationAdviceOutput.model_validate_json(out.model_dump_json()) == out


def test_rfq_line_uses_the_next_best_bid_as_batna(ctx):
    rfq, line_code, line_id = _agreeing_line(ctx)
    bids = _bids(ctx, line_id)
    out = negotiation_advice(ctx, NegotiationAdviceInput(rfq=rfq, line=line_code))
    _assert_sane(out)
    # Default counterpart: the recommended (cheapest clean) bid; BATNA: the runner-up.
    assert out.supplier == bids[0].name
    assert out.batna.kind == "next_best_bid"
    assert out.batna.quote_line_id == bids[1].id
    leveled = compare_quotes(ctx, CompareQuotesInput(rfq=rfq, line=line_code)).lines[0]
    assert out.batna.price == leveled.quotes[1].landed_per_unit
    assert out.current_offer == leveled.quotes[0].unit_price
    assert out.bids == len(bids)
    assert out.peer_median is not None
    assert out.peer_median.amount > 0
    assert out.model_version == 1
    assert any(e.kind == "model" for e in out.evidence)
    assert out.walk_away_rule.startswith("min(P90")
    assert "BATNA" in out.walk_away_rule
    assert out.talking_points


def test_negotiating_with_a_dearer_bidder_targets_the_cheaper_bid(ctx):
    rfq, line_code, line_id = _agreeing_line(ctx)
    bids = _bids(ctx, line_id)
    dear = bids[-1]
    out = negotiation_advice(
        ctx, NegotiationAdviceInput(rfq=rfq, line=line_code, supplier=dear.name.lower())
    )
    _assert_sane(out)
    assert out.supplier == dear.name
    assert out.batna.quote_line_id == bids[0].id
    assert out.current_offer is not None
    assert out.target_price.amount <= out.current_offer.amount
    assert out.potential_saving is not None
    assert out.potential_saving > 0


def test_quote_line_id_negotiates_that_bid(ctx):
    row = ctx.session.execute(
        text(
            "SELECT ql.id, ql.unit_price, s.name FROM quote_lines ql "
            "JOIN suppliers s ON s.org_id = ql.org_id AND s.id = ql.supplier_id "
            "JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id "
            "WHERE i.code = :code AND ql.quote_date = '2025-09-10' ORDER BY ql.unit_price DESC "
            "LIMIT 1"
        ),
        {"code": REBAR},
    ).one()
    out = negotiation_advice(ctx, NegotiationAdviceInput(quote_line_id=row.id))
    _assert_sane(out)
    assert out.supplier == row.name
    assert out.current_offer is not None
    assert out.current_offer.amount == row.unit_price
    assert out.should_cost is not None  # rebar has a template
    assert out.history_count > 0
    with pytest.raises(NotFoundError):
        negotiation_advice(ctx, NegotiationAdviceInput(quote_line_id=-1))


def test_item_and_supplier_without_bids_fall_back_to_should_cost_or_p50(ctx):
    out = negotiation_advice(
        ctx,
        NegotiationAdviceInput(
            item=REBAR, quantity=Decimal(20000), supplier="Milestone Contractors LP"
        ),
    )
    _assert_sane(out)
    assert out.batna.kind in {"should_cost", "model_p50"}
    assert out.bids == 0
    last = ctx.session.execute(
        text(
            "SELECT ql.unit_price FROM quote_lines ql "
            "JOIN items i ON i.org_id = ql.org_id AND i.id = ql.item_id "
            "JOIN suppliers s ON s.org_id = ql.org_id AND s.id = ql.supplier_id "
            "WHERE i.code = :code AND s.name = :s AND ql.quote_date <= :d "
            "ORDER BY ql.quote_date DESC, ql.id DESC LIMIT 1"
        ),
        {"code": REBAR, "s": MILESTONE, "d": ctx.as_of},
    ).scalar_one()
    assert out.current_offer is not None
    assert out.current_offer.amount == last
    assert out.p50 is not None
    # Without a bid the walk-away is the market (re-tendering), never below the P50.
    assert out.walk_away_price.amount >= min(out.p50.amount, out.p90.amount if out.p90 else 0)
    assert out.confidence_label in {"low", "medium"}  # no competition to lean on


def test_counter_offer_call_shape_without_quantity(ctx):
    out = negotiation_advice(
        ctx,
        NegotiationAdviceInput(item="203-02000", quantity=None, unit="yd3", currency="USD"),
    )
    _assert_sane(out)
    assert out.batna.kind == "model_p50"  # earthwork: no should-cost template
    assert out.quantity > 0
    assert any("median quote quantity" in c for c in out.caveats)
    assert any("no should-cost" in c for c in out.caveats)


def test_bad_requests(ctx):
    with pytest.raises(InvalidInputError, match="say which"):
        negotiation_advice(ctx, NegotiationAdviceInput(rfq="B -43801-A"))
    with pytest.raises(NotFoundError):
        negotiation_advice(ctx, NegotiationAdviceInput(rfq="NO-SUCH-RFQ", line="x"))
    with pytest.raises(NotFoundError, match="did not bid"):
        negotiation_advice(
            ctx, NegotiationAdviceInput(rfq="B -43801-A", line=REBAR, supplier="Nobody At All")
        )
    with pytest.raises(ValidationError):
        NegotiationAdviceInput(item=REBAR, rfq="B -43801-A")
    with pytest.raises(ValidationError):
        NegotiationAdviceInput()
