"""An in-memory market feed for tests of the faces: the bodies you give it, in order."""

from __future__ import annotations

from dataclasses import dataclass, field

from integrations.feeds.base import FeedBody


@dataclass
class FakeMarketFeed:
    """Serve ``bodies`` one per fetch (the last one again once they run out)."""

    bodies: list[bytes]
    url: str = "fake://market-feed"
    content_type: str = "application/json"
    fetches: int = field(default=0, init=False)
    closed: bool = field(default=False, init=False)

    def fetch(self) -> FeedBody:
        """Return the next scripted body."""
        body = self.bodies[min(self.fetches, len(self.bodies) - 1)]
        self.fetches += 1
        return FeedBody(url=self.url, content=body, content_type=self.content_type)

    def close(self) -> None:
        """Mark the feed closed."""
        self.closed = True
