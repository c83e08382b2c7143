"""What agents do with tickets, independent of Slack: claim, reply, note, resolve, hand back.

Every operation is one transaction that checks the ticket's state, changes
it, queues what must be sent (to the customer, or to the desk), and writes
the audit trail. The Slack layer (bot/desk/slack.py) only translates clicks
and thread messages into these calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.assistant import Assistant, AssistantUnavailable
from bot.brand import Brand
from bot.desk.cards import PRIORITIES, TicketView, UnderstoodMessage
from bot.review.inbox import ReviewError, ReviewInbox
from bot.router import ConversationRouter
from bot.store.models import (
    Author,
    Conversation,
    Message,
    Owner,
    Priority,
    ProcessedEvent,
    Ticket,
    TicketStatus,
)
from bot.store.records import audit, enqueue, utcnow

logger = logging.getLogger(__name__)

DESK = "slack"
ACTIVE = (TicketStatus.OPEN, TicketStatus.CLAIMED)
RELABEL_CHOICES = 5


class Refused(Exception):
    """The agent may not do this; the message says why, politely."""


@dataclass(frozen=True)
class Outcome:
    """What an operation did, in words for the agent."""

    message: str


class CareDesk:
    """The agents' side of the conversation ownership."""

    def __init__(
        self,
        sessions: sessionmaker,
        router: ConversationRouter,
        assistant: Assistant,
        brand: Brand,
        clock: Callable[[], datetime] = utcnow,
        review: ReviewInbox | None = None,
        desk_channel: str | None = DESK,
    ) -> None:
        self.sessions = sessions
        # Where cards and thread messages are queued; None without Slack: the web
        # desk (bot/desk/web.py) reads tickets, messages and notes from the store.
        self.desk_channel = desk_channel
        self.router = router
        self.assistant = assistant
        self.brand = brand
        self.clock = clock
        # Agents' corrections of what the bot understood go to the trainers.
        self.review = review or ReviewInbox(sessions, clock=clock)

    # ------------------------------------------------------ router hooks
    def ticket_opened(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """A handover: put its card in front of the agents."""
        self._to_desk(session, ticket, f"card:{ticket.id}", {"kind": "card"}, now)

    def customer_wrote(
        self, session: Session, ticket: Ticket, message: Message, now: datetime
    ) -> None:
        """The customer wrote while a person owns the conversation: into the thread."""
        text = message.text or f"[{message.kind}]"
        self._to_desk(
            session,
            ticket,
            f"thread:in:{message.id}",
            {"kind": "thread", "text": f"👤 {text}", "author": "customer"},
            now,
        )

    def _to_desk(
        self, session: Session, ticket: Ticket, key: str, payload: dict[str, Any], now: datetime
    ) -> None:
        if self.desk_channel is None:
            return
        conversation = ticket.conversation
        enqueue(
            session,
            key,
            conversation.id,
            self.desk_channel,
            {
                "place": conversation.place,
                "visibility": conversation.visibility,
                "customer": conversation.customer.platform_user_id,
                "text": payload.get("text", ""),
                "ticket_id": ticket.id,
                **payload,
            },
            now,
        )

    def refresh_card(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """Queues an update of the card (its state changed)."""
        self._to_desk(
            session, ticket, f"update:{ticket.id}:{now.timestamp()}", {"kind": "update"}, now
        )

    # --------------------------------------------------------- operations
    def _ticket(self, session: Session, ticket_id: int) -> Ticket:
        # Only the ticket's row: a ticket loads its conversation and customer by outer
        # joins, and PostgreSQL refuses to lock the nullable side of one.
        ticket = session.get(Ticket, ticket_id, with_for_update={"of": Ticket})
        if ticket is None:
            raise Refused(f"There is no ticket #{ticket_id}.")
        return ticket

    def refuse(self, agent: str, action: str, ticket_id: int | None, why: str) -> None:
        """Records a refused attempt in the audit trail (the ticket it named, whether or
        not there is one: only a ticket that exists is referred to as such)."""
        with self.sessions.begin() as session:
            ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
            audit(
                session,
                agent,
                "refused",
                self.clock(),
                ticket.conversation_id if ticket else None,
                ticket.id if ticket else None,
                attempted=action,
                why=why,
                ticket=ticket_id,
            )

    def claim(self, ticket_id: int, agent: str) -> Outcome:
        """Makes ``agent`` the one owner of the ticket; the first of simultaneous claims wins."""
        now = self.clock()
        with self.sessions.begin() as session:
            won = (
                session.execute(
                    update(Ticket)
                    .where(Ticket.id == ticket_id, Ticket.status == TicketStatus.OPEN)
                    .values(status=TicketStatus.CLAIMED, agent_id=agent, claimed_at=now)
                ).rowcount
                == 1
            )
            ticket = self._ticket(session, ticket_id)
            if not won:
                if ticket.status == TicketStatus.CLAIMED and ticket.agent_id == agent:
                    return Outcome(f"Ticket #{ticket_id} is already yours.")
                if ticket.status == TicketStatus.CLAIMED:
                    raise Refused(
                        f"Ticket #{ticket_id} is already claimed by <@{ticket.agent_id}>."
                    )
                raise Refused(f"Ticket #{ticket_id} is {ticket.status.value}.")
            conversation = ticket.conversation
            conversation.owner = Owner.AGENT
            conversation.agent_id = agent
            audit(session, agent, "claimed", now, conversation.id, ticket.id)
            self.refresh_card(session, ticket, now)
            return Outcome(f"You own ticket #{ticket_id}: your replies go to the customer.")

    def reply(self, ticket_id: int, agent: str, text: str, event_id: str) -> Outcome:
        """Sends an agent's thread message to the customer, once per Slack event."""
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                session.add(ProcessedEvent(source=DESK, event_id=event_id, created_at=now))
                session.flush()
                ticket = self._ticket(session, ticket_id)
                if ticket.status not in ACTIVE:
                    raise Refused(
                        f"Ticket #{ticket_id} is {ticket.status.value.replace('_', ' ')}: "
                        "your message was not sent to the customer."
                    )
                if ticket.status == TicketStatus.OPEN:  # replying claims an open ticket
                    ticket.status, ticket.agent_id, ticket.claimed_at = (
                        TicketStatus.CLAIMED,
                        agent,
                        now,
                    )
                    ticket.conversation.owner = Owner.AGENT
                    ticket.conversation.agent_id = agent
                    audit(
                        session,
                        agent,
                        "claimed",
                        now,
                        ticket.conversation_id,
                        ticket.id,
                        by="reply",
                    )
                    self.refresh_card(session, ticket, now)
                elif ticket.agent_id != agent:
                    raise Refused(
                        f"Ticket #{ticket_id} belongs to <@{ticket.agent_id}>: your message was "
                        "not sent to the customer."
                    )
                self.router.send_text(
                    session,
                    ticket.conversation,
                    f"agent:{event_id}",
                    Author.AGENT,
                    text,
                    now,
                    agent_id=agent,
                )
                ticket.first_response_at = ticket.first_response_at or now
                ticket.last_agent_at = now
                audit(session, agent, "replied", now, ticket.conversation_id, ticket.id)
                return Outcome("Sent to the customer.")
        except IntegrityError:
            return Outcome("Already sent.")  # Slack delivered the same event again

    def note(self, ticket_id: int, agent: str, text: str) -> Outcome:
        """An internal note: in the thread and the audit trail, never to the customer."""
        now = self.clock()
        with self.sessions.begin() as session:
            ticket = self._ticket(session, ticket_id)
            audit(
                session, agent, "internal_note", now, ticket.conversation_id, ticket.id, text=text
            )
            self._to_desk(
                session,
                ticket,
                f"note:{ticket_id}:{now.timestamp()}:{agent}",
                {
                    "kind": "thread",
                    "text": f"🔒 Internal note by <@{agent}>: {text}",
                    "author": "note",
                },
                now,
            )
        return Outcome("Note added (agents only).")

    def relabel_choices(self, ticket_id: int) -> list[UnderstoodMessage]:
        """The ticket's customer messages that the bot classified, oldest first."""
        with self.sessions() as session:
            ticket = self._ticket(session, ticket_id)
            messages = session.scalars(
                select(Message)
                .where(
                    Message.conversation_id == ticket.conversation_id,
                    Message.author == Author.CUSTOMER,
                    Message.intent.is_not(None),
                )
                .order_by(Message.id.desc())
                .limit(RELABEL_CHOICES)
            ).all()
            return [
                UnderstoodMessage(int(m.id), m.text, m.intent, m.confidence)
                for m in reversed(messages)
            ]

    def relabel(self, ticket_id: int, agent: str, message_id: int, intent: str) -> Outcome:
        """An agent says the bot misread a customer message; it goes to the trainers' inbox."""
        choices = {m.message_id: m for m in self.relabel_choices(ticket_id)}
        chosen = choices.get(message_id)
        if chosen is None:
            raise Refused("That message is not one of this ticket's customer messages.")
        try:
            self.review.add_relabel(message_id, intent, agent)
        except ReviewError as refused:
            raise Refused(str(refused)) from None
        now = self.clock()
        with self.sessions.begin() as session:
            ticket = self._ticket(session, ticket_id)
            said = " ".join(chosen.text.split())[:80]
            self._to_desk(
                session,
                ticket,
                f"relabel:{ticket_id}:{message_id}:{intent}:{agent}",
                {
                    "kind": "thread",
                    "text": f"🏷️ <@{agent}>: “{said}” was `{intent}`, "
                    f"not `{chosen.intent}` (sent to the trainers' review inbox)",
                    "author": "note",
                },
                now,
            )
        return Outcome(f"Thanks: the trainers will see that it was {intent}.")

    def set_priority(self, ticket_id: int, agent: str, priority: str) -> Outcome:
        if priority not in PRIORITIES:
            raise Refused(f"Unknown priority {priority!r}.")
        now = self.clock()
        with self.sessions.begin() as session:
            ticket = self._ticket(session, ticket_id)
            if ticket.status not in ACTIVE:
                raise Refused(f"Ticket #{ticket_id} is {ticket.status.value}.")
            ticket.priority = Priority(priority)
            ticket.sla_breached = None  # targets changed: judge again
            audit(
                session,
                agent,
                "priority",
                now,
                ticket.conversation_id,
                ticket.id,
                priority=priority,
            )
            self.refresh_card(session, ticket, now)
        return Outcome(f"Priority of #{ticket_id}: {priority}.")

    def resolve(self, ticket_id: int, agent: str) -> Outcome:
        """Closes the ticket; the conversation stays with people until handed back."""
        self._close(ticket_id, agent, TicketStatus.RESOLVED)
        return Outcome(f"Ticket #{ticket_id} resolved.")

    def _close(self, ticket_id: int, agent: str, status: TicketStatus) -> str:
        """Closes the ticket as ``status``; returns the conversation's id at the assistant."""
        now = self.clock()
        with self.sessions.begin() as session:
            ticket = self._ticket(session, ticket_id)
            if ticket.status not in ACTIVE:
                raise Refused(
                    f"Ticket #{ticket_id} is already {ticket.status.value.replace('_', ' ')}."
                )
            if ticket.status == TicketStatus.CLAIMED and ticket.agent_id != agent:
                raise Refused(f"Ticket #{ticket_id} belongs to <@{ticket.agent_id}>.")
            ticket.status, ticket.agent_id, ticket.resolved_at = status, agent, now
            conversation = ticket.conversation
            if status == TicketStatus.HANDED_BACK:
                conversation.owner, conversation.agent_id = Owner.BOT, None
            else:
                conversation.owner = (
                    Owner.QUEUE if conversation.owner == Owner.QUEUE else Owner.AGENT
                )
            audit(session, agent, status.value, now, conversation.id, ticket.id)
            self.refresh_card(session, ticket, now)
            return conversation.rasa_sender_id

    async def hand_back(self, ticket_id: int, agent: str) -> Outcome:
        """The bot takes over again, and knows it: Rasa clears the handover and greets."""
        sender = await asyncio.to_thread(self._close, ticket_id, agent, TicketStatus.HANDED_BACK)
        message = f"Ticket #{ticket_id} is back with the bot."
        try:
            greeting = await self.assistant.handback(sender)
        except AssistantUnavailable as error:
            logger.warning("hand back: the assistant did not answer: %s", error)
            return Outcome(message + " (The bot was unavailable and will answer the next message.)")
        await asyncio.to_thread(
            self._send_greeting, ticket_id, [m.text for m in greeting if m.text]
        )
        return Outcome(message)

    def _send_greeting(self, ticket_id: int, texts: list[str | None]) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            ticket = self._ticket(session, ticket_id)
            for index, text in enumerate(texts):
                self.router.send_text(
                    session,
                    ticket.conversation,
                    f"handback:{ticket_id}:{index}",
                    Author.BOT,
                    text or "",
                    now,
                )

    # ------------------------------------------------------------- views
    def view(self, ticket_id: int) -> TicketView:
        """The card's data for a ticket."""
        with self.sessions() as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                raise Refused(f"There is no ticket #{ticket_id}.")
            return self._view(session, ticket)

    def _view(self, session: Session, ticket: Ticket) -> TicketView:
        conversation: Conversation = ticket.conversation
        customer = conversation.customer
        earlier = session.scalars(
            select(Ticket)
            .join(Conversation, Conversation.id == Ticket.conversation_id)
            .where(
                Conversation.customer_id == customer.id,
                Ticket.id != ticket.id,
                Ticket.created_at <= ticket.created_at,
            )
            .order_by(Ticket.id.desc())
            .limit(5)
        ).all()
        recent = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.id.desc())
            .limit(8)
        ).all()
        transcript = [
            {"author": m.author.value, "text": m.text, "kind": m.kind} for m in reversed(recent)
        ]
        understood = list(ticket.context.get("understood") or [])
        handover = ticket.context.get("handover") or {}
        request = tuple(str(i) for i in (handover.get("topic"), handover.get("also")) if i)
        return TicketView(
            ticket_id=ticket.id,
            reason=ticket.reason,
            status=ticket.status.value,
            priority=ticket.priority.value,
            agent_id=ticket.agent_id,
            created_at=ticket.created_at,
            channel=conversation.channel,
            visibility=conversation.visibility,
            customer_handle=customer.handle,
            customer_name=customer.display_name,
            customer_platform_id=customer.platform_user_id,
            link=_link(conversation, customer.handle),
            transcript=transcript,
            understood=understood,
            slots=dict(ticket.context.get("slots") or {}),
            earlier_tickets=[
                {"id": t.id, "reason": t.reason, "status": t.status.value} for t in earlier
            ],
            error=ticket.context.get("error"),
            request=request,
        )

    def queue(self) -> list[TicketView]:
        """Open and claimed tickets, most urgent and oldest first."""
        with self.sessions() as session:
            tickets = session.scalars(
                select(Ticket).where(Ticket.status.in_(ACTIVE)).order_by(Ticket.created_at)
            ).all()
            views = [self._view(session, t) for t in tickets]
        return sorted(views, key=lambda v: (PRIORITIES.index(v.priority), v.created_at))

    def ticket_for_thread(self, thread_ts: str) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(Ticket.id).where(Ticket.desk_thread == thread_ts))

    # ---------------------------------------------------- service levels
    def check_service_levels(self) -> list[int]:
        """Announces tickets past their first- or next-response target; returns their ids."""
        now = self.clock()
        breached = []
        with self.sessions.begin() as session:
            for ticket in session.scalars(select(Ticket).where(Ticket.status.in_(ACTIVE))).all():
                targets = self.brand.service_levels.get(ticket.priority.value) or {}
                notice = self._breach(ticket, targets, now)
                if notice is None:
                    continue
                mark, text = notice
                ticket.sla_breached = mark
                audit(
                    session,
                    "desk",
                    "sla_breached",
                    now,
                    ticket.conversation_id,
                    ticket.id,
                    which=mark,
                )
                self._to_desk(
                    session,
                    ticket,
                    f"sla:{ticket.id}:{mark}",
                    {"kind": "notice", "text": text},
                    now,
                )
                breached.append(ticket.id)
        return breached

    @staticmethod
    def _breach(ticket: Ticket, targets: dict[str, int], now: datetime) -> tuple[str, str] | None:
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
        if waiting_since is None or (
            ticket.last_agent_at and ticket.last_agent_at >= waiting_since
        ):
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


def _link(conversation: Conversation, handle: str | None) -> str | None:
    """A link to the customer's original post, where the platform has one."""
    if conversation.channel == "twitter" and conversation.reply_to_platform_id and handle:
        return f"https://twitter.com/{handle}/status/{conversation.reply_to_platform_id}"
    return None


def conversation_messages(session: Session, conversation_id: int) -> list[Message]:
    """All messages of a conversation, oldest first (for tests and exports)."""
    return list(
        session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
        ).all()
    )
