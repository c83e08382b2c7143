"""Session start: remember whether the conversation is public or private, and whether a
person can be offered."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.contract import DESK_KEY, VISIBILITY_KEY, Visibility


class ActionSessionStart(Action):
    """Starts a session with the ``visibility`` the gateway sent in the message metadata.

    A public thread and a private chat are different conversations, so the
    visibility of one never changes; without metadata (``rasa shell``, the REST
    channel) the conversation is private.

    ``desk`` is false only when the gateway says no agents' desk runs: the
    replies then offer no person (their ``desk: false`` variations). A session
    keeps it for its length (domain.yml ``session_expiration_time``); a
    handover asked for in the meantime is answered by the gateway, which knows.
    """

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        metadata = tracker.get_slot("session_started_metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        visibility = (
            Visibility.PUBLIC
            if metadata.get(VISIBILITY_KEY) == Visibility.PUBLIC.value
            else Visibility.PRIVATE
        )
        return [
            SessionStarted(),
            SlotSet("visibility", visibility.value),
            SlotSet(DESK_KEY, metadata.get(DESK_KEY) is not False),
            ActionExecuted("action_listen"),
        ]
