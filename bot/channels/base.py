"""The plain objects at the boundary between channels and the conversation core.

The core never imports a platform SDK: adapters build :class:`InboundMessage`
from a platform payload (keeping the payload beside it) and send
:class:`OutboundReply` with their platform's client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.contract import Visibility
from bot.text import clean_text


@dataclass(frozen=True)
class CustomerRef:
    """Who wrote, as the platform knows them."""

    platform_user_id: str
    handle: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A customer message as the core sees it, whatever the channel."""

    channel: str
    platform_message_id: str  # unique per channel: redelivery is recognised by it
    place: str  # the conversation's key on the channel: chat, DM thread, public thread
    visibility: Visibility
    customer: CustomerRef
    text: str
    kind: str = "text"  # text, photo, sticker, voice, location, other
    reply_to_platform_id: str | None = None  # where a public reply should attach
    sent_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unreadable:
    """Something a platform sent that cannot be turned into a message (a payload of
    another shape): never answered, kept with its raw payload in the audit trail."""

    channel: str
    platform_id: str | None  # the platform's id of the item, when it has one
    raw: Any
    why: str


def display(value: str | None, limit: int = 255) -> str | None:
    """A name or handle as the store keeps it: cleaned text, at most ``limit`` characters."""
    if value is None:
        return None
    return clean_text(value)[:limit] or None


@dataclass(frozen=True)
class OutboundReply:
    """A reply to send on the conversation's channel."""

    channel: str
    place: str
    visibility: Visibility
    text: str
    customer_platform_id: str
    reply_to_platform_id: str | None = None
    invite_private: bool = False  # add the channel's link to a private message
    extra: dict[str, Any] = field(default_factory=dict)  # the whole outbox payload


class SendError(Exception):
    """Sending failed.

    ``permanent``: the platform refused for good (blocked by the user, bad
    request): do not retry. Otherwise retry after ``retry_after`` seconds when
    the platform said when (429), else with back-off.
    """

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        permanent: bool = False,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        # The request may have reached the platform (a timeout, a 5xx): look
        # before sending again.
        self.maybe_sent = maybe_sent


class Sender(Protocol):
    """What the outbox needs from a channel."""

    name: str

    async def send(self, reply: OutboundReply) -> str:
        """Sends ``reply``; returns the platform's id of the sent message.

        Raises :class:`SendError` when the platform refuses or cannot be reached.
        """

    async def find_sent(self, reply: OutboundReply, after: datetime) -> str | bool | None:
        """After a crash in mid-send: the id of ``reply`` if the platform has it,
        None if it certainly does not, or False if the platform cannot tell."""
