"""Data generations: one token per organisation that changes whenever its prediction data does.

Triggers (migration 0007) give an organisation a fresh value after every statement that
writes its rows of ``TRACKED_TABLES``. Values come from a sequence and are never reused,
not even by a transaction that rolls back, so equal values mean equal data: a cache
keyed by (organisation, generation) never serves data of another state. A transaction
sees its own uncommitted writes' value, which no other transaction will ever see.

An organisation without a row has never written a tracked table since the migration
(which seeded every organisation that existed then); ``current`` then returns 0.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from store.models import DataGeneration

TRACKED_TABLES = ("items", "quote_lines", "index_series", "index_observations")
"""The tables whose writes move the generation: what a prediction snapshot reads (quote
lines with their items' units, the items themselves, index series and observations)."""


def current(*, session: Session, org_id: uuid.UUID) -> int:
    """Return the organisation's data generation as this transaction sees it."""
    value = session.scalar(select(DataGeneration.generation).where(DataGeneration.org_id == org_id))
    return int(value) if value is not None else 0


@dataclass(frozen=True, slots=True)
class Reading:
    """The data generation and the active model of one kind, read together."""

    generation: int
    model_id: int | None
    model_version: int | None


_READ = text(
    """
    SELECT coalesce((SELECT generation FROM data_generations WHERE org_id = :org), 0)
             AS generation,
           m.id AS model_id, m.version AS model_version
    FROM (SELECT 1) AS one
    LEFT JOIN model_versions m ON m.org_id = :org AND m.kind = :kind AND m.status = 'active'
    """
)


def read(*, session: Session, org_id: uuid.UUID, model_kind: str) -> Reading:
    """Return the generation and the active ``model_kind`` model's row id and version.

    One round trip: a prediction needs both before it can reuse anything it cached.
    """
    row = session.execute(_READ, {"org": org_id, "kind": model_kind}).one()
    return Reading(
        generation=int(row.generation),
        model_id=None if row.model_id is None else int(row.model_id),
        model_version=None if row.model_version is None else int(row.model_version),
    )
