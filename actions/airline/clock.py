"""The airline's clock."""

from __future__ import annotations

import os
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo


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


def local_date(moment: datetime, timezone_name: str) -> date:
    """The calendar day at a place at a naive UTC ``moment``: "today" at the airport.

    At 20:00 in Boston it is already tomorrow in UTC; a customer there still
    calls the 20:15 departure "today's".
    """
    return moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(timezone_name)).date()
