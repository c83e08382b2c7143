"""A stand-in for a team of agents who watch the queue, for gateway tests about routing.

The router promises a person only when someone can see the handover (a desk:
Slack, or the web desk). Tests of handover mechanics that are not about a
desk's platform run with this one: it records what it is shown, like a
screen nobody needs to click. ``start_gateway(..., desk=False)`` has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.store.models import Message, Ticket


@dataclass
class WatchingDesk:
    """Implements the router's ``Desk`` protocol; sends nothing anywhere."""

    opened: list[int] = field(default_factory=list)
    written: list[int] = field(default_factory=list)
    senders: dict[str, Any] = field(default_factory=dict)

    def ticket_opened(self, session: Session, ticket: Ticket, now: datetime) -> None:
        self.opened.append(ticket.id)

    def customer_wrote(
        self, session: Session, ticket: Ticket, message: Message, now: datetime
    ) -> None:
        self.written.append(message.id)
