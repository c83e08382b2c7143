"""Pacing sends per place, as a platform asks (Telegram: one message a second per chat)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Pace:
    """A token bucket per place: ``burst`` messages at once, then one per ``interval``."""

    interval: float
    burst: int = 3
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    def delay(self, key: str) -> float:
        """Takes a token for ``key``; returns how long to wait before using it."""
        if self.interval <= 0:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) / self.interval)
        wait = 0.0 if tokens >= 1 else (1 - tokens) * self.interval
        self._buckets[key] = (tokens - 1, now)
        return wait
