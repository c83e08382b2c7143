"""What X allows: requests per 15-minute window, characters per post; and links to posts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

WINDOW_SECONDS = 15 * 60
TWEET_LIMIT = 280


def split_for_tweets(text: str, limit: int = TWEET_LIMIT) -> list[str]:
    """Splits text into tweet-sized parts at sentence or word boundaries."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = max(
            rest.rfind(". ", 0, limit - 1),
            rest.rfind("! ", 0, limit - 1),
            rest.rfind("? ", 0, limit - 1),
        )
        cut = cut + 1 if cut > limit // 3 else rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


class Budget:
    """Spreads a request budget per 15-minute window evenly over time."""

    def __init__(
        self, requests_per_window: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = WINDOW_SECONDS / max(1, requests_per_window)
        self.clock = clock
        self._next = 0.0
        self._blocked_until = 0.0

    def block_until(self, moment: float) -> None:
        """The platform said no more requests before ``moment`` (monotonic clock)."""
        self._blocked_until = max(self._blocked_until, moment)

    async def take(self) -> None:
        """Waits for the next request slot."""
        now = self.clock()
        start = max(now, self._next, self._blocked_until)
        self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


def post_link(handle: str | None, post_id: str | None) -> str | None:
    """A link to the customer's post ``post_id`` (for the agents' desk)."""
    if handle and post_id:
        return f"https://twitter.com/{handle}/status/{post_id}"
    return None
