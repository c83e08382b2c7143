"""What agents do with tickets, independent of Slack: claim, reply, note, resolve, hand back.

Every operation is one transaction that checks the ticket's state, changes
it, queues what must be sent (to the customer, or to the desk), and writes
the audit trail. Who owns the conversation changes only through
bot/conversation/ownership.py. The Slack layer (bot/desk/slack.py) only
translates clicks and thread messages into these calls, and supplies what is
its own: the channel name its items go out on, and how a person or a code
word is written (:class:`Markup`). Links to a customer's post come from the
channels (``links``); corrections go to the trainers through the small
:class:`Trainers` interface (the review inbox, built lazily by the gateway:
the live gateway never reads training files to start).

A little over 400 lines: :class:`CareDesk` is the one API the agents' desks
(Slack, the web desk) are written against, and its operations read best
side by side; the views and service levels live in their own modules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.assistant import Assistant, AssistantUnavailable
from bot.brand import Brand
from bot.conversation import handbacks, ownership, unanswered
from bot.conversation.csat import Ratings
from bot.conversation.replies import send_text
from bot.desk import views
from bot.desk.cards import PRIORITIES, TicketView, UnderstoodMessage
from bot.desk.ports import Markup, PlainMarkup, Trainers
from bot.desk.service_levels import breach
from bot.store.models import (
    Author,
    Message,
    Priority,
    ProcessedEvent,
    Ticket,
    TicketStatus,
)
from bot.store.records import audit, enqueue, utcnow

logger = logging.getLogger(__name__)

ACTIVE = views.ACTIVE
RELABEL_CHOICES = 5


class Refused(Exception):
    """The agent may not do this; the message says why, politely."""


@dataclass(frozen=True)
class Outcome:
    """What an operation did, in words for the agent."""

    message: str


def handed_back(ticket_id: int) -> str:
    """What the agent is told once a ticket is back with the bot."""
    return f"Ticket #{ticket_id} is back with the bot."


class CareDesk:
    """The agents' side of the conversation ownership."""

    def __init__(
        self,
        sessions: sessionmaker,
        assistant: Assistant,
        brand: Brand,
        *,
        channel: str | None,
        review: Trainers,
        markup: Markup | None = None,
        links: views.Links | None = None,
        clock: Callable[[], datetime] = utcnow,
        ratings: Ratings | None = None,
    ) -> None:
        self.sessions = sessions
        self.assistant = assistant
        self.brand = brand
        self.clock = clock
        self.ratings = ratings  # the customer's satisfaction, asked once a ticket is resolved
        # The channel the desk's own items (cards, thread messages) go out on; None
        # without Slack: the web desk (bot/desk/web.py) reads tickets from the store.
        self.name = channel
        # Agents' corrections of what the bot understood go to the trainers.
        self.review = review
        self.markup = markup or PlainMarkup()
        # Per channel: (customer's handle, post id) -> a link to the post, if any.
        self.links = dict(links or {})

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

    def ticket_given_back(self, session: Session, ticket: Ticket, now: datetime) -> None:
        """No one took the ticket in time and the bot has it back: the card says so."""
        self.refresh_card(session, ticket, now)

    def _to_desk(
        self, session: Session, ticket: Ticket, key: str, payload: dict[str, Any], now: datetime
    ) -> None:
        if self.name is None:
            return
        conversation = ticket.conversation
        enqueue(
            session,
            key,
            conversation.id,
            self.name,
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
                        f"Ticket #{ticket_id} is already claimed by {self._who(ticket.agent_id)}."
                    )
                raise Refused(f"Ticket #{ticket_id} is {ticket.status.value}.")
            self._claimed(session, ticket, agent, now)
            return Outcome(f"You own ticket #{ticket_id}: your replies go to the customer.")

    def _claimed(
        self, session: Session, ticket: Ticket, agent: str, now: datetime, **how: Any
    ) -> None:
        """The ticket is ``agent``'s now: so is its conversation (and the card says so)."""
        ownership.to_agent(ticket.conversation, agent)
        audit(session, agent, "claimed", now, ticket.conversation_id, ticket.id, **how)
        self.refresh_card(session, ticket, now)

    def reply(self, ticket_id: int, agent: str, text: str, event_id: str) -> Outcome:
        """Sends an agent's thread message to the customer, once per Slack event."""
        now = self.clock()
        try:
            with self.sessions.begin() as session:
                session.add(
                    ProcessedEvent(source=self.name or "web", event_id=event_id, created_at=now)
                )
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
                    self._claimed(session, ticket, agent, now, by="reply")
                elif ticket.agent_id != agent:
                    raise Refused(
                        f"Ticket #{ticket_id} belongs to {self._who(ticket.agent_id)}: "
                        "your message was not sent to the customer."
                    )
                send_text(
                    session,
                    ticket.conversation,
                    f"agent:{event_id}",
                    Author.AGENT,
                    text,
                    now,
                    agent_id=agent,
                )
                unanswered.agent_replied(ticket, now)
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
                    "text": f"🔒 Internal note by {self._who(agent)}: {text}",
                    "author": "note",
                },
                now,
            )
        return Outcome("Note added (agents only).")

    def relabel_choices(self, ticket_id: int) -> list[UnderstoodMessage]:
        """The ticket's customer messages that the bot classified, oldest first."""
        with self.sessions() as session:
            ticket = self._ticket(session, ticket_id)
            return views.understood(session, ticket.conversation_id, RELABEL_CHOICES)

    def relabel(self, ticket_id: int, agent: str, message_id: int, intent: str) -> Outcome:
        """An agent says the bot misread a customer message; it goes to the trainers' inbox."""
        choices = {m.message_id: m for m in self.relabel_choices(ticket_id)}
        chosen = choices.get(message_id)
        if chosen is None:
            raise Refused("That message is not one of this ticket's customer messages.")
        try:
            self.review.add_relabel(message_id, intent, agent)
        except ValueError as refused:  # the review inbox's ReviewError
            raise Refused(str(refused)) from None
        now = self.clock()
        code = self.markup.code
        with self.sessions.begin() as session:
            ticket = self._ticket(session, ticket_id)
            said = " ".join(chosen.text.split())[:80]
            self._to_desk(
                session,
                ticket,
                f"relabel:{ticket_id}:{message_id}:{intent}:{agent}",
                {
                    "kind": "thread",
                    "text": f"🏷️ {self._who(agent)}: “{said}” was {code(intent)}, "
                    f"not {code(chosen.intent or '')} (sent to the trainers' review inbox)",
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
                raise Refused(f"Ticket #{ticket_id} belongs to {self._who(ticket.agent_id)}.")
            ticket.status, ticket.agent_id, ticket.resolved_at = status, agent, now
            conversation = ticket.conversation
            if status == TicketStatus.HANDED_BACK:
                ownership.to_bot(conversation, ticket.id)
            else:
                ownership.ticket_resolved(conversation)
                if self.ratings is not None:
                    self.ratings.after_ticket(session, ticket, now)
            audit(session, agent, status.value, now, conversation.id, ticket.id)
            self.refresh_card(session, ticket, now)
            return conversation.rasa_sender_id

    async def hand_back(self, ticket_id: int, agent: str) -> Outcome:
        """The bot takes over again, and knows it: Rasa clears the handover and greets.

        Both steps in one call; a desk that must answer quickly (Slack: 3 s) calls
        :meth:`give_back` before its acknowledgement and :meth:`greet_again` after.
        """
        await asyncio.to_thread(self.give_back, ticket_id, agent)
        unavailable = await self.greet_again(ticket_id)
        return Outcome(f"{handed_back(ticket_id)} {unavailable or ''}".strip())

    def give_back(self, ticket_id: int, agent: str) -> str:
        """The ticket closes and the conversation is the bot's (one short transaction);
        returns the conversation's id at the assistant."""
        return self._close(ticket_id, agent, TicketStatus.HANDED_BACK)

    async def greet_again(self, ticket_id: int) -> str | None:
        """Rasa clears the handover and greets the customer; returns what to tell the
        agent when it could not (the assistant then hears of the hand-back before the
        customer's next message, bot/conversation/handbacks.py, and answers that)."""
        try:
            greeting = await handbacks.tell(self.assistant, self.sessions, ticket_id)
        except AssistantUnavailable as error:
            logger.warning("hand back: the assistant did not answer: %s", error)
            return "(The bot was unavailable and will answer the next message.)"
        if greeting is None:  # told already: the customer wrote, and the bot answered that
            return None
        await asyncio.to_thread(
            self._send_greeting, ticket_id, [m.text for m in greeting if m.text]
        )
        return None

    def _send_greeting(self, ticket_id: int, texts: list[str | None]) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            ticket = self._ticket(session, ticket_id)
            for index, text in enumerate(texts):
                send_text(
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
        return views.ticket_view(session, ticket, self.links)

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
            # Every gateway worker runs this loop (docs/scaling.md): each takes the tickets
            # no other is announcing right now, so two never queue the same notice.
            active = select(Ticket).where(Ticket.status.in_(ACTIVE))
            for ticket in session.scalars(
                active.with_for_update(skip_locked=True, of=Ticket)
            ).all():
                targets = self.brand.service_levels.get(ticket.priority.value) or {}
                notice = breach(ticket, targets, now)
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

    def _who(self, agent: str | None) -> str:
        return self.markup.mention(agent or "")
