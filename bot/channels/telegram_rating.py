"""Satisfaction ratings on Telegram: the question's inline keyboard, and the taps on it.

The question (bot/conversation/csat.py) goes out with one button per score,
its ``callback_data`` ``rate:<rating id>:<score>`` (Telegram allows 64 bytes).
A tap comes back as a ``callback_query`` update, checked against the strict
models of bot/channels/telegram_update.py first, then read here into a
:class:`~bot.conversation.csat.Tap` from the chat and the user that Telegram
says tapped: data of another shape, or a tap outside a private chat, is
ignored on purpose, and the core finds no rating of another conversation
through it. Once recorded, the tap is answered (``answerCallbackQuery``, with
the brand's thanks) and the keyboard replaced by the choice, marked. Those two
calls are the tap's acknowledgement, not a message: a failure is logged (the
rating is stored, and tapping again changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.channels.telegram_update import CallbackQuery
from bot.conversation.csat import LABELS_KEY, RATING_KEY, Outcome, Ratings, Recorded, Tap

logger = logging.getLogger(__name__)

# A rating id as the store makes them (no leading zero, within a signed 64-bit integer),
# and a score of one digit: the core checks the scale.
_DATA = re.compile(r"rate:([1-9][0-9]{0,17}):([1-9])\Z")
CHOSEN = "✓"


def data(rating_id: int, score: int) -> str:
    """A button's ``callback_data``."""
    return f"rate:{rating_id}:{score}"


def keyboard(payload: Mapping[str, Any]) -> InlineKeyboardMarkup | None:
    """The question's buttons, from its outbox payload; None for any other message."""
    rating_id, labels = payload.get(RATING_KEY), payload.get(LABELS_KEY)
    if not isinstance(rating_id, int) or not isinstance(labels, list):
        return None
    buttons = [
        InlineKeyboardButton(str(label), callback_data=data(rating_id, score))
        for score, label in enumerate(labels, start=1)
    ]
    return InlineKeyboardMarkup([buttons])


def marked(rating_id: int, score: int, labels: tuple[str, ...]) -> InlineKeyboardMarkup:
    """The keyboard once rated: the choice alone, marked (tapping it again changes nothing)."""
    label = f"{CHOSEN} {labels[score - 1]}" if 1 <= score <= len(labels) else CHOSEN
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data(rating_id, score))]]
    )


@dataclass(frozen=True)
class Tapped:
    """A ``callback_query`` as read: its id (to answer it), and the tap, or None when it is
    ignored on purpose."""

    query_id: str
    tap: Tap | None
    chat_id: int | None = None
    message_id: int | None = None


def read(query: CallbackQuery, channel: str) -> Tapped:
    """A checked callback query as a tap of the user Telegram names, in their private chat."""
    found = _DATA.match(query.data or "")
    message = query.message
    if found is None or message is None or message.chat.type != "private":
        return Tapped(query.id, None)
    user = query.from_.id
    if message.chat.id != user:  # a private chat's id is its user's
        return Tapped(query.id, None)
    tap = Tap(channel, f"chat:{user}", str(user), int(found.group(1)), int(found.group(2)))
    return Tapped(query.id, tap, message.chat.id, message.message_id)


async def record(ratings: Ratings, tapped: Tapped) -> Outcome:
    """Records the tap (in a thread); an ignored one changes nothing. Raises
    :class:`bot.conversation.ingest.StoreUnavailable` when the store fails."""
    if tapped.tap is None:
        return Outcome(Recorded.UNKNOWN)
    return await asyncio.to_thread(ratings.record, tapped.tap)


async def acknowledge(bot: Bot, tapped: Tapped, outcome: Outcome, ratings: Ratings) -> None:
    """Answers the tap (any tap: the customer's button stops spinning), with thanks and
    the choice marked when it is a rating of theirs; a failure is only logged."""
    rated = outcome.score is not None and tapped.tap is not None
    try:
        await bot.answer_callback_query(tapped.query_id, text=ratings.thanks() if rated else None)
        if rated and tapped.tap is not None and outcome.score is not None:
            await bot.edit_message_reply_markup(
                tapped.chat_id,
                tapped.message_id,
                reply_markup=marked(tapped.tap.rating_id, outcome.score, ratings.labels),
            )
    except TelegramError as error:
        # "message is not modified" after a double tap, a query too old to answer...
        logger.info("telegram: tap %s not acknowledged: %s", tapped.query_id, error)
