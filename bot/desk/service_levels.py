"""Service levels: when a ticket has waited past its first- or next-response target."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store.models import Ticket


def waiting_since(ticket: Ticket) -> datetime | None:
    """Since when the customer has waited for the agents' reply: the handover until the
    first response, then their first message the agents have not answered (however many
    followed it: bot/conversation/unanswered.py); None when the agents answered last.
    The service levels' measure, and what the desks show."""
    if ticket.first_response_at is None:
        return ticket.created_at
    return ticket.customer_waiting_since


def breach(ticket: Ticket, targets: dict[str, int], now: datetime) -> tuple[str, str] | None:
    """The ticket's breach not yet announced, if any: its mark (``first``, or ``next:``
    and when the customer started waiting) and the notice for the agents. The mark
    names the unanswered stretch, which the customer's further messages do not move:
    one notice per stretch."""
    priority = ticket.priority.value
    since = waiting_since(ticket)
    if since is None:
        return None
    if ticket.first_response_at is None:
        limit = timedelta(minutes=targets.get("first", 120))
        if now - since > limit and ticket.sla_breached != "first":
            return "first", (
                f"⏰ Ticket #{ticket.id} ({priority}) has waited {_minutes(now - since)} "
                f"for a first response (target {targets.get('first')} min)."
            )
        return None
    mark = f"next:{since.isoformat(timespec='seconds')}"
    limit = timedelta(minutes=targets.get("next", 60))
    if now - since > limit and ticket.sla_breached != mark:
        return mark, (
            f"⏰ Ticket #{ticket.id} ({priority}): the customer has waited "
            f"{_minutes(now - since)} for a reply (target {targets.get('next')} min)."
        )
    return None


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"
