"""Messages the gateway answers itself, because the assistant cannot take them.

The care channel reads text of 1 to 4,096 characters (``MAX_TEXT_CHARS``):
Rasa fails on empty or blank text (500) and the channel refuses longer text
(400). Sent anyway, such a message failed its turn, and the gateway took the
failure for "the assistant is down", handing the next customers to a person
too. These are recognised before the assistant is asked:

* **A photo, sticker, voice note...** without words: "text only, please".
* **Empty text**: in a Telegram group, a message that is only the bot's
  @handle becomes empty once the handle (addressing, not words) is removed.
  The customer called for the bot without saying what they need: a friendly
  "how can I help?", and the bot stays theirs.
* **Text too long for the assistant**: an X DM can be 10,000 characters, a
  long post 25,000. Cut, it would be misread; split, each part answered out
  of context. A person reads it: a handover with reason ``unreadable``, for
  that conversation only, and the customer is told a person will read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.contract import MAX_TEXT_CHARS, HandoverReason


@dataclass(frozen=True)
class OwnAnswer:
    """What the gateway says instead of the assistant, and whether a person takes over."""

    reply: str  # the name of one of the brand's gateway messages (brand.yml)
    handover: HandoverReason | None = None
    why: str | None = None  # for the ticket


UNSUPPORTED_MEDIA = OwnAnswer("unsupported_media")
EMPTY = OwnAnswer("empty_message")
TOO_LONG = OwnAnswer(
    "unreadable",
    HandoverReason.UNREADABLE,
    f"longer than the assistant reads ({MAX_TEXT_CHARS} characters)",
)


def own_answer(kind: str, text: str) -> OwnAnswer | None:
    """The gateway's own answer to a customer message, or None when the assistant reads it."""
    if not text.strip():
        return UNSUPPORTED_MEDIA if kind != "text" else EMPTY
    if len(text) > MAX_TEXT_CHARS:
        return TOO_LONG
    return None
