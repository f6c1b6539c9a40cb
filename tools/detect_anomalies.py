"""detect_anomalies: flags on a quote line, a whole RFQ, or a supplier's recent quotes."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from core.errors import NotFoundError
from ml import anomaly
from ml.anomaly import SEVERITY_RANK, score_quotes
from store import history
from store.models import Rfq, Supplier
from tools.base import Evidence, Money, ToolContext
from tools.suppliers import resolve_supplier
from tools.training import load_price_model


class DetectAnomaliesInput(BaseModel):
    """What to check: exactly one of a quote line, an RFQ, or a supplier."""

    quote_line_id: int | None = Field(default=None, description="One quote line's id.")
    rfq: str | None = Field(default=None, description="RFQ code: every bid on it.")
    supplier: str | None = Field(default=None, description="A supplier: its recent quotes.")
    days: int = Field(default=180, ge=1, le=3650, description="With supplier: how far back.")
    min_severity: str = Field(default="info", description="info, warning or critical.")

    @model_validator(mode="after")
    def _one_target(self) -> DetectAnomaliesInput:
        given = [v for v in (self.quote_line_id, self.rfq, self.supplier) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of quote_line_id, rfq, supplier")
        if self.min_severity not in SEVERITY_RANK:
            raise ValueError("min_severity must be info, warning or critical")
        return self


class Flag(BaseModel):
    """One reason a line looks wrong."""

    kind: str
    severity: str
    side: str
    reason: str


class CheckedLine(BaseModel):
    """A quote line with its band, its peers' median and its flags."""

    quote_line_id: int
    date: dt.date
    item_code: str
    supplier: str
    rfq: str | None
    price: Money
    p10: Money | None
    p50: Money | None
    p90: Money | None
    peer_median: Money | None
    severity: str | None
    flags: list[Flag]


class DetectAnomaliesOutput(BaseModel):
    """Flagged lines first (worst first), with counts and the model used."""

    checked: int
    flagged: int
    lines: list[CheckedLine]
    model_version: int | None
    evidence: list[Evidence]


def _money(value: Any, currency: str, unit: str) -> Money | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return Money.from_float(float(value), currency=currency, unit=unit)


def detect_anomalies(ctx: ToolContext, args: DetectAnomaliesInput) -> DetectAnomaliesOutput:
    """Check quotes for prices that look wrong: outside the model's 80% band, far from the
    other bids on the same RFQ line, far from the item's own recent prices, or part of an
    unbalanced bid (cheap on some lines, dear on others). Each flag has a severity and a
    plain reason.

    Use it for "is this quote fair?", "anything odd in RFQ X?", "check supplier Y's quotes".
    """
    frame = history.quote_history(session=ctx.session, org_id=ctx.org_id, until=None)
    frame = frame[frame["quote_date"] <= pd.Timestamp(ctx.as_of)]
    if args.quote_line_id is not None:
        targets = frame[frame["line_id"] == args.quote_line_id]
        if targets.empty:
            raise NotFoundError(f"no quote line {args.quote_line_id}")
    elif args.rfq is not None:
        rfq_id = ctx.session.scalar(
            select(Rfq.id).where(Rfq.org_id == ctx.org_id, Rfq.code == args.rfq.strip())
        )
        if rfq_id is None:
            raise NotFoundError(f"no RFQ {args.rfq!r}")
        targets = frame[frame["rfq_id"] == rfq_id]
    else:
        supplier = resolve_supplier(ctx, args.supplier or "")
        since = pd.Timestamp(ctx.as_of - dt.timedelta(days=args.days))
        targets = frame[(frame["supplier_id"] == supplier.id) & (frame["quote_date"] >= since)]
    # Peers are the other bids on the same RFQ lines, so score whole RFQs.
    rfq_ids = set(targets["rfq_id"].dropna())
    context = frame[frame["rfq_id"].isin(rfq_ids) | frame["line_id"].isin(targets["line_id"])]
    context = context.set_index("line_id", drop=False)

    version: int | None = None
    band = None
    try:
        model, version = load_price_model(session=ctx.session, org_id=ctx.org_id)
        index_obs = history.index_observations(session=ctx.session, org_id=ctx.org_id)
        band = model.predict(context, frame, index_obs)
    except NotFoundError:
        pass  # no model yet: peers and history still speak
    scores = score_quotes(context, frame, band=band)
    names: dict[int, str] = {
        int(r[0]): str(r[1])
        for r in ctx.session.execute(
            select(Supplier.id, Supplier.name).where(Supplier.org_id == ctx.org_id)
        )
    }
    codes: dict[int, str] = {
        int(r[0]): str(r[1])
        for r in ctx.session.execute(select(Rfq.id, Rfq.code).where(Rfq.org_id == ctx.org_id))
    }
    floor = SEVERITY_RANK[args.min_severity]
    lines: list[CheckedLine] = []
    for line_id in targets["line_id"]:
        row = context.loc[line_id]
        score = scores.loc[line_id]
        currency, unit = str(row["currency"]), str(row["unit"])
        flags = [
            Flag(kind=f["kind"], severity=f["severity"], side=f["side"], reason=f["reason"])
            for f in score["flags"]
            if SEVERITY_RANK[f["severity"]] >= floor
        ]
        lines.append(
            CheckedLine(
                quote_line_id=int(line_id),
                date=row["quote_date"].date(),
                item_code=str(row["item_code"]),
                supplier=names.get(int(row["supplier_id"]), "?"),
                rfq=codes.get(int(row["rfq_id"])) if pd.notna(row["rfq_id"]) else None,
                price=Money.from_float(float(row["unit_price"]), currency=currency, unit=unit),
                p10=_money(band.loc[line_id, "p10"], currency, unit) if band is not None else None,
                p50=_money(band.loc[line_id, "p50"], currency, unit) if band is not None else None,
                p90=_money(band.loc[line_id, "p90"], currency, unit) if band is not None else None,
                peer_median=_money(score["peer_median"], currency, unit),
                severity=flags[0].severity if flags else None,
                flags=flags,
            )
        )
    lines.sort(key=lambda c: (-(SEVERITY_RANK[c.severity] if c.severity else -1), c.quote_line_id))
    flagged = sum(1 for c in lines if c.flags)
    return DetectAnomaliesOutput(
        checked=len(lines),
        flagged=flagged,
        lines=lines,
        model_version=version,
        evidence=[
            Evidence(
                kind="quotes",
                detail=f"{len(lines)} quote lines checked",
                ids=[c.quote_line_id for c in lines][:50],
            ),
            Evidence(kind="model", detail=f"price model v{version}" if version else "no model"),
        ],
    )


def band_severity(price: Decimal, p10: Decimal, p50: Decimal, p90: Decimal) -> str | None:
    """How far one price sits outside its model band: info, warning, critical or None."""
    return anomaly.band_severity(float(price), float(p10), float(p50), float(p90))
