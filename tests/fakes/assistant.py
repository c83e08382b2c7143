"""A fake of the assistant's care channel, for gateway tests that need control over Rasa.

It answers by rules on the text, records every turn, and can be slowed down,
broken, or silenced. End-to-end tests use the real trained model instead.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.contract import MAX_TEXT_CHARS, NOT_TAKEN_KEY, TURN_NOT_TAKEN


@dataclass
class FakeAssistant:
    """Rules: "human" -> handover; "private" -> a private reply; "pii" -> a reply with an
    unmarked record locator; "silent" -> no messages; "garbled" -> not a turn; "unsure" ->
    the NLU fell back (refund_request 0.31 was its best guess); "explode" -> 500 for that
    turn; anything else -> an echo. As Rasa reads "/intent", a message starting with one
    is understood as that intent ("/thank thanks!": thank), and echoed. Like the real care
    channel, text that is empty or only spaces fails the turn (500) and text over 4,096
    characters is refused (400). A hand-back is answered with a greeting, or with
    ``status`` when that is not 200, as Rasa down or broken fails everything."""

    turns: list[dict[str, Any]] = field(default_factory=list)
    handbacks: list[str] = field(default_factory=list)  # every hand-back asked
    # What the assistant took, in order: (sender, message text), "/handback" for a
    # hand-back it answered.
    heard: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    status: int = 200  # answer every turn with this status (500: broken)
    action_server_up: bool = True
    # Like Rasa, whose NLU runs on its event loop: one turn's ``delay`` at a time.
    one_at_a_time: bool = False
    in_flight: int = 0
    most_in_flight: int = 0
    health_delay: float = 0.0  # a health check that takes this long (longer: no answer)
    # False: like the care channel with its Redis lock store away, every turn is answered
    # 503 "not taken" (bot.contract), nothing done; the senders refused so go to ``not_taken``.
    lock_store_up: bool = True
    not_taken: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._busy = asyncio.Lock()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/webhooks/care/", self._health)
        app.router.add_post("/webhooks/care/webhook", self._turn)
        app.router.add_post("/webhooks/care/handback", self._handback)
        app.router.add_get("/health", self._action_health)
        return app

    async def _health(self, _request: web.Request) -> web.Response:
        if self.health_delay:
            await asyncio.sleep(self.health_delay)
        return web.json_response({"status": "ok"}, status=200 if self.status == 200 else 503)

    async def _action_health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, status=200 if self.action_server_up else 503)

    async def _turn(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not self.lock_store_up:
            self.not_taken.append(body["sender"])
            return web.json_response(
                {"error": "not taken", NOT_TAKEN_KEY: True}, status=TURN_NOT_TAKEN
            )
        self.turns.append(body)
        if self.one_at_a_time:
            async with self._busy:
                await asyncio.sleep(self.delay)
        elif self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response({"error": "broken"}, status=self.status)
        text = body["message"]
        if len(text) > MAX_TEXT_CHARS:  # in_rasa/bridge.py refuses it
            return web.json_response({"error": "'message' too long"}, status=400)
        if not text.strip():  # Rasa's pipeline fails on it
            return web.json_response({"error": "the assistant failed on this turn"}, status=500)
        lowered = text.lower()
        if "explode" in lowered:
            return web.json_response({"error": "the assistant failed on this turn"}, status=500)
        self.heard.append((body["sender"], text))
        intent, messages = "greet", [{"text": f"echo: {text}", "metadata": {}, "response": "echo"}]
        if "human" in lowered:
            intent = "request_human"
            messages = [
                {
                    "text": "A colleague will reply here.",
                    "metadata": {},
                    "response": "handover_requested",
                },
                {
                    "custom": {
                        "handover": {"reason": "requested", "intent": intent, "confidence": 0.97}
                    },
                    "metadata": {},
                },
            ]
        elif "private" in lowered:
            intent = "booking_change"
            messages = [
                {
                    "text": "Found it, Jane: booking QX7K2P.",
                    "response": "booking_summary",
                    "metadata": {"visibility": "private"},
                }
            ]
        elif "pii" in lowered:
            messages = [{"text": "Your booking is QX7K2P, mail jane@example.com", "metadata": {}}]
        elif "invite" in lowered:
            messages = [
                {
                    "text": "Please send us a DM.",
                    "metadata": {"invite_private": True},
                    "response": "utter_move_to_private",
                }
            ]
        elif "silent" in lowered:
            messages = []
        elif "garbled" in lowered:  # a Rasa that answers in another shape
            return web.json_response(
                {"messages": {"text": "hi"}, "parse": {"intent": {"name": 7, "confidence": "x"}}}
            )
        named = re.match(r"/([a-z_]+)", text)
        if named:
            intent = named.group(1)
        ranking = [{"name": intent, "confidence": 0.91}]
        if "unsure" in lowered:
            ranking = [
                {"name": "nlu_fallback", "confidence": 0.4},
                {"name": "refund_request", "confidence": 0.31},
                {"name": "complaint", "confidence": 0.22},
            ]
            messages = [{"text": "Sorry, could you rephrase?", "metadata": {}}]
        return web.json_response(
            {
                "messages": messages,
                "parse": {
                    "text": text,
                    "intent": ranking[0],
                    "intent_ranking": ranking,
                    "entities": [],
                },
                "slots": {"visibility": body.get("metadata", {}).get("visibility", "private")},
                "active_loop": None,
            }
        )

    async def _handback(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.handbacks.append(body["sender"])
        if self.delay:  # a busy Rasa is slow at everything
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.json_response({"error": "broken"}, status=self.status)
        self.heard.append((body["sender"], "/handback"))
        return web.json_response(
            {"messages": [{"text": "I'm back!", "metadata": {}, "response": "back_from_handover"}]}
        )

    def texts(self) -> list[str]:
        return [t["message"] for t in self.turns]
