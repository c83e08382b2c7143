"""Who speaks in a conversation: the bot, the queue, or an agent. The only place it changes.

``Conversation.owner`` decides what happens to a customer's message
(bot/conversation/turns.py): the bot answers it, or it is kept for a person.
The router hands a conversation to the queue; the desk's operations
(bot/desk/operations.py) give it to an agent and back to the bot. Every such
change is one of these functions, in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from bot.store.models import Conversation, Owner


def to_queue(conversation: Conversation, now: datetime) -> None:
    """A handover: the bot stops answering; the people's queue owns the conversation."""
    conversation.owner = Owner.QUEUE
    conversation.updated_at = now


def to_agent(conversation: Conversation, agent: str) -> None:
    """An agent claimed the conversation's ticket: they answer the customer now."""
    conversation.owner = Owner.AGENT
    conversation.agent_id = agent


def to_bot(conversation: Conversation, ticket_id: int) -> None:
    """The ticket was handed back: the bot answers again, once the assistant has heard
    of it (marked here, in the same transaction: bot/conversation/handbacks.py)."""
    conversation.owner, conversation.agent_id = Owner.BOT, None
    conversation.handback_owed = ticket_id


def ticket_resolved(conversation: Conversation) -> None:
    """A resolved ticket leaves the conversation with people (queue, or an agent) until
    an agent hands it back: the bot does not pick up a thread a person was handling."""
    conversation.owner = Owner.QUEUE if conversation.owner == Owner.QUEUE else Owner.AGENT
