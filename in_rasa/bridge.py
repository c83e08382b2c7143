"""The gateway's input channel inside the Rasa server (listed in credentials.yml).

Rasa's REST channel returns only the bot's texts. The gateway needs more from
every turn, and one round trip should bring it all:

* each bot message with the marks of the response it came from
  (``metadata.visibility``, ``metadata.invite_private``, the response name);
* the parse of the customer's message (intent, confidence, ranking, entities),
  for handover tickets and the trainers' review inbox;
* the slots after the turn (flight, record locator...), for the agent's card.

Routes (under ``/webhooks/care``):

* ``POST /webhook`` ``{"sender", "message", "message_id"?, "metadata"?}``, taken
  once per ``message_id`` (:func:`take_once`); 503 when it could not start.
* ``POST /handback`` ``{"sender"}``: an agent handed the conversation back;
  runs ``action_handback`` (clears the handover, says the bot is back).
* ``GET /`` health.

This module runs inside the Rasa process; the gateway only speaks HTTP to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.contract import INTENT_ALSO, MAX_TEXT_CHARS, NOT_TAKEN_KEY, TURN_NOT_TAKEN

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = MAX_TEXT_CHARS
MAX_SENDER_CHARS = 128
# Slots that are Rasa's own bookkeeping, not something an agent needs to see.
INTERNAL_SLOTS = {"session_started_metadata", "requested_slot", "desk"}
# Clears the handover slots and tells the customer the bot is back (actions/handover.py).
HANDBACK_ACTION = "action_handback"


class CareOutput(CollectingOutputChannel):
    """Collects bot messages, keeping the response marks that Rasa's collector drops."""

    @classmethod
    def name(cls) -> str:
        return "care"

    @staticmethod
    def _marks(kwargs: dict[str, Any]) -> dict[str, Any]:
        marks: dict[str, Any] = {"metadata": kwargs.get("metadata") or {}}
        if kwargs.get("utter_action"):
            marks["response"] = kwargs["utter_action"]
        return marks

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._persist_message(
            {"recipient_id": recipient_id, "text": text, **self._marks(kwargs)}
        )

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._persist_message(
            {"recipient_id": recipient_id, "text": text, "buttons": buttons, **self._marks(kwargs)}
        )

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._persist_message(
            {"recipient_id": recipient_id, "image": image, **self._marks(kwargs)}
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._persist_message(
            {"recipient_id": recipient_id, "custom": json_message, **self._marks(kwargs)}
        )


class BadTurn(ValueError):
    """The request body is not a turn the channel can process."""


def _turn(body: Any) -> tuple[str, str, str | None, dict[str, Any]]:
    if not isinstance(body, dict):
        raise BadTurn("body must be a JSON object")
    sender, text = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender or len(sender) > MAX_SENDER_CHARS:
        raise BadTurn(f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} chars")
    if not isinstance(text, str) or len(text) > MAX_MESSAGE_CHARS:
        raise BadTurn(f"'message' must be a string of at most {MAX_MESSAGE_CHARS} chars")
    message_id = body.get("message_id")
    if message_id is not None and not isinstance(message_id, str):
        raise BadTurn("'message_id' must be a string")
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise BadTurn("'metadata' must be an object")
    return sender, text, message_id, metadata


def _parse_of(tracker: DialogueStateTracker | None, message_id: str | None) -> dict[str, Any]:
    """The parse of the customer message ``message_id`` (or the latest one)."""
    for event in reversed(tracker.events if tracker else []):
        if not isinstance(event, UserUttered):
            continue
        if message_id is not None and event.message_id != message_id:
            continue
        parse = event.parse_data or {}
        return {
            "text": event.text,
            "intent": parse.get("intent") or {},
            "intent_ranking": list(parse.get("intent_ranking") or [])[:5],
            INTENT_ALSO: parse.get(INTENT_ALSO),
            "entities": [
                {k: e.get(k) for k in ("entity", "value", "start", "end", "extractor")}
                for e in parse.get("entities") or []
            ],
            "response_selector": {
                name: (selector.get("response") or {}).get("intent_response_key")
                for name, selector in (parse.get("response_selector") or {}).items()
                if name != "all_retrieval_intents"
            },
        }
    return {}


class SavedTrackers:
    """The tracker a care turn ends with, taken as Rasa saves it.

    Reading it back from the tracker store after the turn would cost a second
    retrieval on every turn: with the in-memory store a deserialisation that
    replays every event of the conversation, with a shared store (Redis, SQL)
    a round trip too. That was about 2 ms of the gateway's overhead on a
    turn of ~70 ms (docs/gateway.md). Only turns of this channel are kept,
    each only until its request takes it; anything unexpected (a second turn
    of the same sender at the same time, a store that did not save) reads
    the tracker back as before.
    """

    def __init__(self, store: TrackerStore) -> None:
        self.store = store
        self._waiting: dict[str, DialogueStateTracker | None] = {}
        save = store.save

        async def save_and_keep(tracker: DialogueStateTracker, *args: Any, **kwargs: Any) -> None:
            await save(tracker, *args, **kwargs)
            if tracker.sender_id in self._waiting:
                self._waiting[tracker.sender_id] = tracker

        store.save = save_and_keep

    @classmethod
    def of(cls, app: Any, store: TrackerStore) -> SavedTrackers:
        """The app's keeper for ``store`` (a new one if the agent's store changed)."""
        kept = getattr(app.ctx, "care_trackers", None)
        if kept is None or kept.store is not store:
            kept = app.ctx.care_trackers = cls(store)
        return kept

    async def turn(
        self, sender: str, run: Callable[[], Awaitable[Any]]
    ) -> DialogueStateTracker | None:
        """Runs one turn of ``sender``; returns the tracker it ended with."""
        if sender in self._waiting:
            await run()
            return await self.store.retrieve(sender)
        self._waiting[sender] = None
        try:
            await run()
            tracker = self._waiting[sender]
        finally:
            self._waiting.pop(sender, None)
        return tracker if tracker is not None else await self.store.retrieve(sender)


class NotTaken(Exception):
    """The turn could not start: the conversation's lock could not be taken (the lock
    store is away). Nothing was done; the gateway sends the message again later."""


def _answered(tracker: DialogueStateTracker | None, message_id: str) -> list[BotUttered] | None:
    """What the bot said after the customer message ``message_id``, if the tracker has it."""
    answer: list[BotUttered] | None = None
    for event in tracker.events if tracker else []:
        if isinstance(event, UserUttered):
            if answer is not None:
                break
            if event.message_id == message_id:
                answer = []
        elif answer is not None and isinstance(event, BotUttered):
            answer.append(event)
    return answer


async def take_once(agent: Any, message: UserMessage) -> None:
    """Rasa's turn (``Agent.handle_message``), once per message id.

    A turn whose answer was lost on the way back (a replica killed after saving
    the tracker, a connection cut) is sent again by the gateway, to any replica:
    under the conversation's lock, a message the tracker already has is answered
    with what the bot said then, not taken twice.
    """
    started = done = False
    try:
        async with agent.lock_store.lock(message.sender_id):
            started = True
            tracker = await agent.tracker_store.retrieve(message.sender_id)
            earlier = _answered(tracker, message.message_id)
            if earlier is None:
                await agent.processor.handle_message(message)
            for said in earlier or []:
                await message.output_channel.send_response(message.sender_id, said.message())
            done = True
    except Exception as error:
        if not started:  # the lock was not taken: nothing happened
            raise NotTaken(f"{type(error).__name__}: {error}") from error
        if not done:
            raise
        # Taken and saved; only freeing the lock failed (it expires on its own).
        logger.warning("care channel: the lock of %s was not freed: %s", message.sender_id, error)


class CareInput(InputChannel):
    """Input channel for the gateway: the bot's messages plus the turn's NLU and slots."""

    @classmethod
    def name(cls) -> str:
        return "care"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        care = Blueprint("care_webhook", __name__)

        @care.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @care.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                sender, text, message_id, metadata = _turn(request.json)
            except BadTurn as error:
                return response.json({"error": str(error)}, status=400)
            except Exception:  # sanic raises on a body that is not JSON
                return response.json({"error": "body must be JSON"}, status=400)
            collector = CareOutput()
            message = UserMessage(
                text,
                collector,
                sender,
                input_channel=self.name(),
                metadata=metadata,
                **({"message_id": message_id} if message_id else {}),
            )
            agent = request.app.ctx.agent
            trackers = SavedTrackers.of(request.app, agent.tracker_store)
            try:
                tracker = await trackers.turn(sender, lambda: take_once(agent, message))
            except asyncio.CancelledError:
                raise
            except NotTaken as error:
                logger.warning("care channel: turn of %s not taken: %s", sender, error)
                return response.json(
                    {"error": "not taken, send it again", NOT_TAKEN_KEY: True},
                    status=TURN_NOT_TAKEN,
                )
            except Exception:
                logger.exception("care channel: turn of %s failed", sender)
                return response.json({"error": "the assistant failed on this turn"}, status=500)
            state = tracker.current_state() if tracker else {}
            return response.json(
                {
                    "messages": collector.messages,
                    "parse": _parse_of(tracker, message.message_id),
                    "slots": {
                        k: v
                        for k, v in (state.get("slots") or {}).items()
                        if k not in INTERNAL_SLOTS and v is not None
                    },
                    "active_loop": (state.get("active_loop") or {}).get("name"),
                }
            )

        @care.route("/handback", methods=["POST"])
        async def handback(request: Request) -> HTTPResponse:
            body = request.json if isinstance(request.json, dict) else {}
            sender = body.get("sender")
            if not isinstance(sender, str) or not sender or len(sender) > MAX_SENDER_CHARS:
                return response.json({"error": "'sender' must be a non-empty string"}, status=400)
            agent = request.app.ctx.agent
            collector = CareOutput()
            processor = agent.processor
            async with agent.lock_store.lock(sender):
                await processor.execute_action(
                    sender,
                    HANDBACK_ACTION,
                    collector,
                    processor.nlg,
                    PolicyPrediction.for_action_name(processor.domain, HANDBACK_ACTION),
                )
            return response.json({"messages": collector.messages})

        return care
