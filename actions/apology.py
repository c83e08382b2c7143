"""Saying sorry first, when a customer's report of a problem is also a complaint."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.wording import Reply, responses
from bot.contract import INTENT_ALSO


class ActionAcknowledge(Action):
    """Apologises before the look-up when the message is also a complaint
    ("NW881 delayed AGAIN, this is ridiculous"); says nothing otherwise.

    Rules run it before the flow of a disruption, a bag or a refund, so the
    customer gets the apology and the facts in the same reply.
    """

    def name(self) -> str:
        return "action_acknowledge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = tracker.latest_message
        also = message.get(INTENT_ALSO) or {}
        if not isinstance(also, dict) or also.get("name") != "complaint":
            return []
        intent = (message.get("intent") or {}).get("name")
        known = f"apology_{intent}" in responses()
        Reply(dispatcher, tracker).say(f"apology_{intent}" if known else "apology")
        return []
