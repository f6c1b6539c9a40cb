"""The seam every market feed sits behind: fetch one body of observations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class FeedBody:
    """What the endpoint returned."""

    url: str
    content: bytes
    content_type: str
    attempts: int = 1


@runtime_checkable
class MarketFeed(Protocol):
    """A provider's price endpoint; the body is JSON or CSV as ``FeedSettings.format`` says."""

    def fetch(self) -> FeedBody:
        """Fetch the current body."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
