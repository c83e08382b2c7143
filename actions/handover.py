"""Handing a conversation to a person, and the ways of getting there by misunderstanding."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import latest_intent, latest_topic, visibility
from actions.wording import Reply
from bot.brand import load_brand
from bot.contract import HANDOVER_KEY, HandoverReason, Visibility

# The reason follows from what the customer just said.
REASON_BY_INTENT = {
    "request_human": HandoverReason.REQUESTED,
    "affirm": HandoverReason.REQUESTED,  # accepting our offer of a colleague
    "complaint": HandoverReason.COMPLAINT,
    "out_of_scope": HandoverReason.OUT_OF_SCOPE,
    "nlu_fallback": HandoverReason.LOW_CONFIDENCE,
    "deny": HandoverReason.REPEATED_MISUNDERSTANDING,
    "refund_request": HandoverReason.POLICY,
}


def hand_over(reply: Reply, reason: HandoverReason, response: str | None = None) -> list[EventType]:
    """Tells the customer a person will reply, and tells the gateway why, in one turn.

    The gateway acts on the ``handover`` payload (see bot/contract.py); the
    customer only sees the text (``response``, by default the reason's own).
    The payload names the second intent of the request being handed over, if
    it had one, so the agent's card shows both ("cancelled, and wants a refund").
    """
    intent, confidence = latest_intent(reply.tracker)
    reply.say(response or f"handover_{reason.value}")
    payload = {"reason": reason.value, "intent": intent, "confidence": confidence}
    topic, also = latest_topic(reply.tracker)
    if also:
        payload.update(topic=topic, also=also)
    reply.payload({HANDOVER_KEY: payload})
    return [SlotSet("handover_reason", reason.value), SlotSet("pending_offer", None)]


class ActionHandover(Action):
    """Hands over for the reason the latest message implies."""

    def name(self) -> str:
        return "action_handover"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent, _confidence = latest_intent(tracker)
        reason = REASON_BY_INTENT.get(intent or "", HandoverReason.REQUESTED)
        return hand_over(Reply(dispatcher, tracker), reason)


class ActionHandback(Action):
    """An agent gave the conversation back to the bot: clear the handover and say so."""

    def name(self) -> str:
        return "action_handback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        Reply(dispatcher, tracker).say("back_from_handover")
        return [SlotSet("handover_reason", None), SlotSet("pending_offer", None)]


def _session_user_intents(tracker: Tracker) -> list[str]:
    """Intents of this session's customer messages, newest first."""
    intents = []
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        if event.get("event") == "user":
            intents.append((event.get("parse_data") or {}).get("intent", {}).get("name") or "")
    return intents


def _said_this_session(tracker: Tracker, response: str) -> bool:
    """Whether the bot already sent ``response`` in the current session."""
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            return False
        metadata = event.get("metadata") or {}
        if event.get("event") == "bot" and metadata.get("utter_action") == response:
            return True
    return False


class ActionHandleFallback(Action):
    """Asks once to rephrase; unsure twice in a row, hands over.

    Never in public: "could you rephrase?" under a customer's public post reads
    as a bot that did not listen. There brand.yml's ``unsure_in_public`` decides:
    a person takes it (``handover``), or a short human reply invites a DM
    (``invite_private``).
    """

    def name(self) -> str:
        return "action_handle_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        if visibility(tracker) == Visibility.PUBLIC:
            if load_brand().unsure_in_public == "invite_private":
                reply.say("unsure_in_public")
                return []
            return hand_over(reply, HandoverReason.LOW_CONFIDENCE, "handover_low_confidence_public")
        intents = _session_user_intents(tracker)
        if len(intents) >= 2 and intents[0] == intents[1] == "nlu_fallback":
            return hand_over(reply, HandoverReason.LOW_CONFIDENCE)
        reply.say("please_rephrase")
        return []


class ActionHandleAffirm(Action):
    """ "Yes": accepts our offer of a colleague, if we made one; otherwise just acknowledges."""

    def name(self) -> str:
        return "action_handle_affirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        if tracker.get_slot("pending_offer"):
            return hand_over(reply, HandoverReason.REQUESTED)
        reply.say("affirm_ack")
        return []


class ActionHandleDeny(Action):
    """ "No": declines our offer, or means we got it wrong (the second time: hand over)."""

    def name(self) -> str:
        return "action_handle_deny"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reply = Reply(dispatcher, tracker)
        if tracker.get_slot("pending_offer"):
            dispatcher.utter_message(response="utter_no_problem")
            return [SlotSet("pending_offer", None)]
        if _said_this_session(tracker, "sorry_misunderstood"):
            return hand_over(reply, HandoverReason.REPEATED_MISUNDERSTANDING)
        reply.say("sorry_misunderstood")
        return []


class ActionCoreFallback(Action):
    """When no rule or policy knows what to do next (RulePolicy's core fallback)."""

    def name(self) -> str:
        return "action_core_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        Reply(dispatcher, tracker).say("core_fallback")
        return []
