"""The airline's clock."""

from __future__ import annotations

import os
from datetime import datetime, timezone


def utc_now() -> datetime:
    """Now, as a naive UTC datetime like the airline database stores.

    ``AIRLINE_NOW`` (ISO 8601, UTC) freezes the demo airline's clock, so that a
    demo or a test sees the same flight phases whatever the time of day.
    """
    frozen = os.environ.get("AIRLINE_NOW")
    if frozen:
        moment = datetime.fromisoformat(frozen.replace("Z", "+00:00"))
        return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
    return datetime.now(timezone.utc).replace(tzinfo=None)
