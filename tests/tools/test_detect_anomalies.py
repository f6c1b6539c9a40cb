"""detect_anomalies on real bids, with one bid tripled inside the test's transaction."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from core.errors import NotFoundError
from tools.detect_anomalies import DetectAnomaliesInput, detect_anomalies


def _rfq_line_with_peers(ctx) -> tuple[str, int, list[int]]:
    """An RFQ line with at least four bids that agree within 20% of their median."""
    row = ctx.session.execute(
        text(
            """
            WITH lines AS (
                SELECT ql.rfq_line_id, r.code,
                       array_agg(ql.id ORDER BY ql.id) AS ids,
                       max(ql.unit_price) / min(ql.unit_price) AS spread
                FROM quote_lines ql
                JOIN quotes q ON q.org_id = ql.org_id AND q.id = ql.quote_id
                JOIN rfqs r ON r.org_id = q.org_id AND r.id = q.rfq_id
                WHERE ql.quote_date < '2026-01-01' AND ql.unit_price > 0
                GROUP BY ql.rfq_line_id, r.code
                HAVING count(*) >= 4
            )
            SELECT code, ids FROM lines WHERE spread < 1.2 ORDER BY rfq_line_id LIMIT 1
            """
        )
    ).one()
    return row.code, row.ids[0], list(row.ids[1:])


def test_a_tripled_bid_is_flagged_and_its_fair_peers_are_not(ctx):
    rfq, target, peers = _rfq_line_with_peers(ctx)
    ctx.session.execute(
        text("UPDATE quote_lines SET unit_price = unit_price * 3 WHERE id = :id"), {"id": target}
    )
    out = detect_anomalies(ctx, DetectAnomaliesInput(rfq=rfq))
    by_id = {line.quote_line_id: line for line in out.lines}
    tripled = by_id[target]
    assert tripled.severity in {"warning", "critical"}
    assert any(f.kind == "far_from_peers" and f.side == "high" for f in tripled.flags)
    assert any("above" in f.reason for f in tripled.flags)
    for peer in peers:
        assert not any(f.side == "high" and f.severity != "info" for f in by_id[peer].flags), by_id[
            peer
        ].flags
    assert out.model_version == 1
    assert tripled.p10 is not None
    assert tripled.p90 is not None
    assert tripled.p10.amount <= tripled.p90.amount
    assert out.lines[0].severity in {"warning", "critical"}  # worst first

    single = detect_anomalies(ctx, DetectAnomaliesInput(quote_line_id=target))
    assert single.checked == 1
    assert single.lines[0].severity == tripled.severity


def test_supplier_view_and_bad_requests(ctx):
    out = detect_anomalies(ctx, DetectAnomaliesInput(supplier="MILESTONE CONTRACTORS LP", days=90))
    assert out.checked > 0
    assert {line.supplier for line in out.lines} == {"MILESTONE CONTRACTORS, L.P."}
    with pytest.raises(NotFoundError):
        detect_anomalies(ctx, DetectAnomaliesInput(rfq="NO-SUCH-RFQ"))
    with pytest.raises(ValidationError):
        DetectAnomaliesInput(rfq="A", supplier="B")
