"""Market-feed pull as a capability for the faces (the CLI and scheduled jobs).

The work is ``integrations.feeds.http_feed``; this module reads the ``FEED_*`` settings,
fetches outside any transaction, imports in one organisation-scoped transaction, and
reports the run with each rejected line traced back to the feed body.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from integrations.feeds.base import MarketFeed
from integrations.feeds.http_feed import HttpMarketFeed, import_body
from integrations.feeds.settings import FeedSettings, load_feed_settings
from store.db import Database


@dataclass(frozen=True, slots=True)
class FeedRejection:
    """One refused import line, why, and where its observations were in the feed body."""

    line_no: int
    reason: str
    positions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FeedPullReport:
    """What one pull did: the import run, counts in observations, and the rejections."""

    run_id: int
    source: str
    series: tuple[str, ...]
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    seconds: float
    attempts: int
    rejections: tuple[FeedRejection, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    rejected_file: Path | None = None

    @property
    def rejected(self) -> int:
        """Number of rejected lines."""
        return len(self.rejections)

    @property
    def imported(self) -> int:
        """Observations now in the store from this pull (new, changed or already there)."""
        return self.inserted + self.updated + self.unchanged

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{self.source}: {len(self.series)} series, imported {self.imported:,} observations "
            f"({self.inserted:,} new, {self.updated:,} updated, {self.unchanged:,} unchanged), "
            f"rejected {self.rejected:,}, import run {self.run_id}"
        )


def pull_feed(
    *,
    database: Database,
    org_id: uuid.UUID,
    settings: FeedSettings | None = None,
    actor: str,
    feed: MarketFeed | None = None,
    rejected_dir: Path | None = None,
) -> FeedPullReport:
    """Fetch the configured market feed and store its observations as index series.

    ``feed`` replaces the HTTP endpoint (a ``FakeMarketFeed`` in tests); ``settings``
    still say how to read its body.
    """
    # Settings from FEED_* when not given; a bad or placeholder key is a ConfigurationError.
    config = settings or load_feed_settings()
    # Fetch first: no transaction stays open while the provider is slow or retried.
    source = feed or HttpMarketFeed(config)
    try:
        body = source.fetch()
    finally:
        if feed is None:
            source.close()
    with database.session_scope(org_id) as session:
        done = import_body(
            session=session,
            org_id=org_id,
            body=body,
            settings=config,
            actor=actor,
            rejected_dir=rejected_dir,
        )
    result = done.result
    return FeedPullReport(
        run_id=result.run_id,
        source=result.source_name,
        series=tuple(done.series),
        rows_read=result.rows_read,
        inserted=result.inserted,
        updated=result.updated,
        unchanged=result.unchanged,
        seconds=result.seconds,
        attempts=done.attempts,
        rejections=tuple(
            FeedRejection(r.line_no, r.reason, tuple(done.positions_of(r.line_no, r.reason)))
            for r in result.rejections
        ),
        notes=tuple(result.notes),
        rejected_file=result.rejected_file,
    )
