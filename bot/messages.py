"""The plain objects at the boundary between channels and the conversation core.

The core never imports a platform SDK, a channel or the desk: adapters build
:class:`InboundMessage` from a platform payload (keeping the payload beside it)
and send :class:`OutboundReply` with their platform's client. What the gateway
asks of a channel is the :class:`Channel` protocol, and of anything that sends
queued items (a channel, the agents' desk) the :class:`Sender` protocol.
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

    async def find_sent(self, reply: OutboundReply, after: datetime) -> SentLookup:
        """After a crash in mid-send: whether the platform has ``reply`` (see
        :class:`SentLookup`)."""


@dataclass(frozen=True)
class SentLookup:
    """What a platform says about a reply that may have reached it before a crash.

    ``platform_id``: the reply is there, with this id. Otherwise ``can_tell``
    says whether the platform certainly does not have it (send again quietly)
    or cannot tell (send again, and record the possible duplicate).
    """

    platform_id: str | None = None
    can_tell: bool = True


#: The platform certainly does not have the reply.
NOT_SENT = SentLookup()
#: The platform cannot tell whether it has the reply.
CANNOT_TELL = SentLookup(can_tell=False)


def found(platform_id: str) -> SentLookup:
    """The platform has the reply, with id ``platform_id``."""
    return SentLookup(platform_id=platform_id)


class Channel(Sender, Protocol):
    """A platform adapter as the gateway runs it: started with the app, stopped with it,
    and the outbox's sender for its platform."""

    async def start(self) -> None:
        """Starts reading the platform (a poll task, a webhook registration); may raise
        :class:`bot.settings.ConfigError` when the platform refuses a credential."""

    async def stop(self) -> None:
        """Stops reading and closes the platform's client."""
