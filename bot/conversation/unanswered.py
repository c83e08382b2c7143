"""Who a ticket waits on: the customer's unanswered messages, and the agents' replies that
answer them. The only place a ticket's message times change.

The service levels (bot/desk/service_levels.py) count the customer's wait from
``customer_waiting_since``: the FIRST message of theirs the agents have not answered,
as care tools count a requester's wait. Counting from their latest message instead would
understate the wait of a customer who writes twice, and restart the next-response target
with every message (one who writes every 50 minutes would never pass a 60-minute target).
The router (bot/conversation/turns.py) and the handover call :func:`customer_wrote`;
the desk's reply (bot/desk/operations.py) calls :func:`agent_replied`; each in the
caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from bot.store.models import Ticket


def customer_wrote(ticket: Ticket, at: datetime) -> None:
    """A customer message on the ticket, written ``at``: it starts their wait for the
    agents' reply, unless they are waiting already (then the wait runs on from its start)."""
    ticket.last_customer_at = at
    if ticket.customer_waiting_since is None:
        ticket.customer_waiting_since = at


def agent_replied(ticket: Ticket, at: datetime) -> None:
    """An agent's reply went to the customer ``at``: whatever they wrote is answered."""
    ticket.first_response_at = ticket.first_response_at or at
    ticket.last_agent_at = at
    ticket.customer_waiting_since = None
