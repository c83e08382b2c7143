"""Service levels: when a ticket has waited past its first- or next-response target."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store.models import Ticket


def breach(ticket: Ticket, targets: dict[str, int], now: datetime) -> tuple[str, str] | None:
    """The ticket's breach not yet announced, if any: its mark (``first``, or ``next:``
    and when the customer started waiting) and the notice for the agents."""
    priority = ticket.priority.value
    if ticket.first_response_at is None:
        limit = timedelta(minutes=targets.get("first", 120))
        if now - ticket.created_at > limit and ticket.sla_breached != "first":
            return "first", (
                f"⏰ Ticket #{ticket.id} ({priority}) has waited "
                f"{_minutes(now - ticket.created_at)} "
                f"for a first response (target {targets.get('first')} min)."
            )
        return None
    waiting_since = ticket.last_customer_at
    if waiting_since is None or (ticket.last_agent_at and ticket.last_agent_at >= waiting_since):
        return None
    mark = f"next:{waiting_since.isoformat(timespec='seconds')}"
    limit = timedelta(minutes=targets.get("next", 60))
    if now - waiting_since > limit and ticket.sla_breached != mark:
        return mark, (
            f"⏰ Ticket #{ticket.id} ({priority}): the customer has waited "
            f"{_minutes(now - waiting_since)} for a reply (target {targets.get('next')} min)."
        )
    return None


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"
