"""What the assistant says to the programs that read its output.

The Rasa assistant (custom actions, responses in ``domain.yml``) and the
gateway agree on these names; neither imports the other's code.

* A bot message whose ``custom`` payload has a ``handover`` key asks for a
  person: ``{"handover": {"reason": "complaint", "intent": ..., "confidence": ...}}``.
* A response's ``metadata.visibility`` is ``private`` when it carries personal
  data (names, record locators, emails, phone numbers); such a message must
  only go to a private channel. ``metadata.invite_private`` marks a public
  reply that asks the customer to continue in a private message; a channel
  adds its deep link to it.
* The parse of a customer message may name a second intent the message carries
  besides its own (``intent_also: {"name", "confidence"}``, from
  in_rasa/nlu/second_intent.py): "NW881 delayed AGAIN, ridiculous" is a delay and
  a complaint. A handover payload repeats it as ``also``.
* The gateway sends ``metadata.visibility`` (``public`` or ``private``) with
  each customer message; the assistant's ``visibility`` slot follows it.
* It sends ``metadata.desk`` too: false when no agents' desk runs (no Slack,
  no web desk), so that no one can take a handover. The assistant's ``desk``
  slot follows it, and its replies then offer no person (what the customer
  can do instead); the gateway answers a handover itself (brand.yml
  ``no_desk``).
* The assistant reads a message of 1 to :data:`MAX_TEXT_CHARS` characters,
  not only spaces; the gateway answers others itself (bot/own_answers.py).
* A turn is taken once per ``message_id``: the care channel answers a message
  it has taken before (the answer was lost on the way back) from the tracker,
  without taking it again. When it could not start the turn (the lock store is
  away) it answers :data:`TURN_NOT_TAKEN` with ``{NOT_TAKEN_KEY: true}``: nothing
  happened, send it again later. (A bare 503, from a load balancer with no
  replica, says nothing of the kind.)
"""

from __future__ import annotations

import enum

HANDOVER_KEY = "handover"
VISIBILITY_KEY = "visibility"
INVITE_PRIVATE_KEY = "invite_private"
#: Metadata key and slot: whether an agents' desk runs, so a person can be offered.
DESK_KEY = "desk"
INTENT_ALSO = "intent_also"
# Every looked-for second intent's likelihood (evaluation only; nothing acts on it).
INTENT_ALSO_RANKING = "intent_also_ranking"
#: The longest customer message the care channel takes (in_rasa/bridge.py).
MAX_TEXT_CHARS = 4096
#: The care channel's status for a turn it did not start (503 Service Unavailable), with
#: ``{NOT_TAKEN_KEY: true}`` in the body.
TURN_NOT_TAKEN = 503
NOT_TAKEN_KEY = "not_taken"
#: The assistant's intents that ask for nothing: the analytics measure no containment on
#: them (bot/analytics/metrics.py), and a "request" is any other intent.
SMALL_TALK = ("greet", "goodbye", "thank", "affirm", "deny", "praise", "bot_challenge")
#: The customer closing a conversation: said after the bot answered a request, the bot
#: resolved it, and a rating is offered (bot/conversation/csat.py).
CLOSING = ("thank", "goodbye")
#: Satisfaction ratings run from 1 (worst) to this (best): the brand labels each step.
RATING_SCALE = 5


class Visibility(str, enum.Enum):
    """Who can read a conversation."""

    PUBLIC = "public"
    PRIVATE = "private"


class HandoverReason(str, enum.Enum):
    """Why a conversation went to a person."""

    REQUESTED = "requested"  # the customer asked for a person
    COMPLAINT = "complaint"  # a complaint deserves a person's apology and follow-up
    REPEATED_MISUNDERSTANDING = "repeated_misunderstanding"  # the customer said we got it wrong
    LOW_CONFIDENCE = "low_confidence"  # the NLU was unsure twice in a row
    OUT_OF_SCOPE = "out_of_scope"  # not something the assistant handles
    POLICY = "policy"  # a person must decide (refunds, compensation)
    BOT_UNAVAILABLE = "bot_unavailable"  # set by the gateway: Rasa or the action server is down
    UNREADABLE = "unreadable"  # set by the gateway: a message the assistant cannot take

    @property
    def label(self) -> str:
        """A short, human label for cards and reports."""
        return _LABELS[self]


def reason_label(reason: str) -> str:
    """The label of a stored reason; a reason this version does not know, as it is."""
    try:
        return HandoverReason(reason).label
    except ValueError:
        return reason


_LABELS = {
    HandoverReason.REQUESTED: "Customer asked for a person",
    HandoverReason.COMPLAINT: "Complaint",
    HandoverReason.REPEATED_MISUNDERSTANDING: "Bot misunderstood repeatedly",
    HandoverReason.LOW_CONFIDENCE: "Bot was unsure what the customer meant",
    HandoverReason.OUT_OF_SCOPE: "Out of scope for the bot",
    HandoverReason.POLICY: "Needs a decision by a person (policy)",
    HandoverReason.BOT_UNAVAILABLE: "Bot unavailable",
    HandoverReason.UNREADABLE: "Message the bot cannot read (too long, or refused)",
}
