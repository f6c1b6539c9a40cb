"""What every capability shares: the run context, money in API form, and evidence.

A tool is a typed function ``tool(ctx, args) -> result`` with pydantic input and output
models. ``ctx`` carries the organisation's session (row-level security applies), the
date the question is asked "as of", and who is asking.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from core.errors import ConflictError, InvalidInputError
from core.money import Price
from store import audit

EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2200, 12, 31)
"""The dates a question may be about: models count time in nanoseconds (to 2262)."""


@dataclass
class ToolContext:
    """The organisation-scoped world a tool runs in."""

    session: Session
    org_id: uuid.UUID
    as_of: dt.date = field(default_factory=dt.date.today)
    actor: str = "agent"
    thread_id: str | None = None


class Money(BaseModel):
    """A unit price: ``amount`` of ``currency`` per one ``unit`` (Decimal, never float)."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal = Field(description="Price per one unit, exact decimal.")
    currency: str = Field(description="ISO 4217 code.", examples=["USD"])
    unit: str = Field(description="Unit of measure code.", examples=["lb"])

    @classmethod
    def of(cls, price: Price) -> Money:
        """From the domain's Price."""
        return cls(amount=price.amount, currency=price.currency, unit=price.unit)

    @classmethod
    def from_float(cls, value: float, *, currency: str, unit: str, places: int = 4) -> Money:
        """Round a model's float output to a Decimal money amount."""
        return cls(amount=money_amount(value, places), currency=currency, unit=unit)

    def __str__(self) -> str:
        return f"{self.currency} {self.amount:,.2f}/{self.unit}"


def money_amount(value: float, places: int = 4) -> Decimal:
    """A model's float output rounded to a Decimal amount (``Money.from_float``'s rounding)."""
    quantum = Decimal(1).scaleb(-places)
    return Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_EVEN)


class ApprovalDecision(BaseModel):
    """A person's decision on an action the agent drafted."""

    approved: bool
    by: str = Field(min_length=1)
    note: str | None = None
    outcome: Literal["approved", "rejected", "abandoned"] | None = None

    @property
    def status(self) -> Literal["approved", "rejected", "abandoned"]:
        """The action's new status; an approval can only be "approved"."""
        outcome = self.outcome or ("approved" if self.approved else "rejected")
        if self.approved != (outcome == "approved"):
            said = "an approval" if self.approved else "a rejection"
            raise InvalidInputError(f"{said} cannot have the outcome {outcome}")
        return outcome


class Decidable(Protocol):
    """A drafted row a person decides on (a counter-offer, an ERP write)."""

    id: int
    status: str
    thread_id: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None


def record_decision(
    ctx: ToolContext,
    row: Decidable,
    decision: ApprovalDecision,
    *,
    table: str,
    label: str,
    what: str,
) -> None:
    """Record a person's decision on a drafted row and audit it as ``<label>.<status>``.

    Only a row still ``pending_approval`` can be decided: a second decision is a conflict
    (``what`` names the row in that message).
    """
    if row.status != "pending_approval":
        raise ConflictError(f"{what} {row.id} was already {row.status}")
    row.status = decision.status
    row.decided_by = decision.by
    row.decided_at = dt.datetime.now(dt.UTC)
    row.decision_note = decision.note
    audit.record(
        session=ctx.session,
        org_id=ctx.org_id,
        actor=decision.by,
        action=f"{label}.{row.status}",
        entity=table,
        entity_ids=[row.id],
        details={"note": decision.note, "thread_id": row.thread_id},
    )
    ctx.session.flush()


class Evidence(BaseModel):
    """What a number rests on: quotes, index values, a model version."""

    kind: str = Field(description="quotes | purchase_orders | index | model | template")
    detail: str
    ids: list[int] = Field(default_factory=list, description="Row ids in the store.")
