"""The parts of a Telegram update the gateway reads, with strict types (Bot API 7+).

python-telegram-bot builds its objects from whatever JSON it is given and
checks no types: a ``text`` that is an object, a username that is a list or a
user id of 70 bits would reach the store as they came, and the database
driver would refuse them there. An update is checked against these models
first; one that does not fit cannot be read, and is set aside (with its raw
payload) rather than answered.

Telegram's own bounds: user and chat ids have at most 52 significant bits
(group and supergroup chats are negative), message ids and dates fit in 32
bits. Text bounds are sanity caps, not Telegram's limits: longer text than
the assistant can read is the core's decision (bot/own_answers.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    ConstrainedInt,
    ConstrainedStr,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
)

from bot.edge import Refusal, Strict, short_reason


class TelegramId(ConstrainedInt):
    """A user or chat id: at most 52 significant bits, negative for groups."""

    strict = True
    ge = -(2**52 - 1)
    le = 2**52 - 1


class Counter(ConstrainedInt):
    """An update id, message id or Unix time: not negative, 32 bits (52 allowed)."""

    strict = True
    ge = 0
    le = 2**52 - 1


class Text(ConstrainedStr):
    """Message text or a caption (Telegram allows 4,096 characters; kept up to 64k)."""

    strict = True
    max_length = 65_536


class Name(ConstrainedStr):
    """A name or username (Telegram allows 64 and 32 characters)."""

    strict = True
    max_length = 256


class User(Strict):
    """``User``: who wrote."""

    id: TelegramId
    is_bot: StrictBool
    first_name: Name
    last_name: Name | None = None
    username: Name | None = None


class Chat(Strict):
    """``Chat``: where."""

    id: TelegramId
    type: StrictStr


class Message(Strict):
    """``Message``: the fields the gateway reads (others are python-telegram-bot's)."""

    message_id: Counter
    date: Counter
    chat: Chat
    from_: User | None = Field(None, alias="from")
    text: Text | None = None
    caption: Text | None = None
    reply_to_message: Message | None = None


Message.update_forward_refs()


class CallbackQuery(Strict):
    """``CallbackQuery``: a tap on a button of one of the bot's messages (a rating's).

    ``message`` is the message with the button (Telegram sends an inaccessible one,
    with ``date`` 0, when it is too old); ``data`` is the button's (64 bytes at most
    as Telegram sends it; longer is read, and refused, by bot/channels/telegram_rating.py).
    """

    id: Name
    from_: User = Field(alias="from")
    message: Message | None = None
    data: Name | None = None


class Update(Strict):
    """``Update``: kinds the gateway does not read pass unchecked (they are ignored)."""

    update_id: Counter
    message: Message | None = None
    edited_message: Message | None = None
    callback_query: CallbackQuery | None = None


def check(data: Any) -> Update:
    """The update, checked; ValueError naming the first fields that do not fit, if any."""
    try:
        return Update.parse_obj(data)
    except ValidationError as error:
        raise ValueError(f"not a readable update: {short_reason(error)}") from None


def update_id(data: Any) -> int:
    """The update's id; a 400 :class:`Refusal` when the body is not an update at all."""
    value = data.get("update_id") if isinstance(data, dict) else None
    if type(value) is not int or not 0 <= value <= Counter.le:
        raise Refusal(400, "not a Telegram update")
    return value
