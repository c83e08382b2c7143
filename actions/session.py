"""Session start: remember whether the conversation is public or private."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.contract import VISIBILITY_KEY, Visibility


class ActionSessionStart(Action):
    """Starts a session with the ``visibility`` the gateway sent in the message metadata.

    A public thread and a private chat are different conversations, so the
    visibility of one never changes; without metadata (``rasa shell``, the REST
    channel) the conversation is private.
    """

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        metadata = tracker.get_slot("session_started_metadata") or {}
        visibility = (
            Visibility.PUBLIC
            if isinstance(metadata, dict)
            and metadata.get(VISIBILITY_KEY) == Visibility.PUBLIC.value
            else Visibility.PRIVATE
        )
        return [
            SessionStarted(),
            SlotSet("visibility", visibility.value),
            ActionExecuted("action_listen"),
        ]
