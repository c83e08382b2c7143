"""A stand-in for a team of agents who watch the queue, for gateway tests about routing.

The router promises a person only when someone can see the handover (a desk:
Slack, or the web desk). Tests of handover mechanics that are not about a
desk's platform run with this one: it records what it is shown, like a
screen nobody needs to click. ``start_gateway(..., watching_desk=False)`` has none; a gateway with
agents (the web desk) or Slack needs no stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot.messages import NOT_SENT, OutboundReply, SentLookup
from bot.store.models import Message, Ticket


@dataclass
class WatchingDesk:
    """Implements the gateway's ``RunningDesk`` protocol; queues and sends nothing."""

    name: str = "watching"
    opened: list[int] = field(default_factory=list)
    written: list[int] = field(default_factory=list)
    given_back: list[int] = field(default_factory=list)

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(self, reply: OutboundReply) -> str:
        raise AssertionError(f"the watching desk queues nothing, yet was asked to send {reply}")

    async def find_sent(self, reply: OutboundReply, after: datetime) -> SentLookup:
        return NOT_SENT

    def ticket_opened(self, session: Session, ticket: Ticket, now: datetime) -> None:
        self.opened.append(ticket.id)

    def customer_wrote(
        self, session: Session, ticket: Ticket, message: Message, now: datetime
    ) -> None:
        self.written.append(message.id)

    def ticket_given_back(self, session: Session, ticket: Ticket, now: datetime) -> None:
        self.given_back.append(ticket.id)
