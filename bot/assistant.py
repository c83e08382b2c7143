"""The gateway's client of the Rasa assistant (the ``care`` channel of in_rasa/bridge.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.analytics import counters
from bot.contract import (
    HANDOVER_KEY,
    INVITE_PRIVATE_KEY,
    NOT_TAKEN_KEY,
    TURN_NOT_TAKEN,
    VISIBILITY_KEY,
    Visibility,
)

logger = logging.getLogger(__name__)


class AssistantUnavailable(Exception):
    """Rasa or the action server did not answer a turn, or answered nothing."""


class AssistantRefused(AssistantUnavailable):
    """Rasa refused this message (a 4xx): the message's problem, not the assistant's."""


class AssistantBusy(AssistantUnavailable):
    """Rasa did not start the turn (its lock store is away, bot.contract.TURN_NOT_TAKEN):
    nothing happened there, and the message may be sent again later."""


@dataclass(frozen=True)
class BotMessage:
    """One message of the bot's answer, with the marks of the response it came from."""

    text: str | None
    response: str | None = None
    private: bool = False  # carries personal data
    invite_private: bool = False  # asks the customer to continue in a DM
    custom: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BotMessage:
        """One message of an answer; ValueError for one of another shape."""
        _of(dict, data, "message")
        metadata = _of(dict, data.get("metadata") or {}, "metadata")
        return cls(
            text=_of((str, type(None)), data.get("text"), "message text"),
            response=data.get("response"),
            private=metadata.get(VISIBILITY_KEY) == Visibility.PRIVATE.value,
            invite_private=bool(metadata.get(INVITE_PRIVATE_KEY)),
            custom=_of((dict, type(None)), data.get("custom"), "custom payload"),
        )


FALLBACK_INTENT = "nlu_fallback"
#: Pauses before each time a turn is asked (``Assistant._send_until_answered``): the first
#: at once, then again after each cut, 4 asks within 1.75 s. A killed Rasa's port closes
#: (and the balancer skips it) within that: tests/gateway/test_scaleout_rasa.py's turns
#: cut by the kill were all answered at the next ask.
CUT_PAUSES = (0.0, 0.25, 0.5, 1.0)
CUT_ATTEMPTS = len(CUT_PAUSES)


@dataclass(frozen=True)
class Turn:
    """What the assistant made of one customer message."""

    messages: list[BotMessage]
    intent: str | None = None
    confidence: float | None = None
    intent_ranking: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    active_loop: str | None = None

    @property
    def handover(self) -> dict[str, Any] | None:
        """The handover payload, if the assistant asked for a person."""
        for message in self.messages:
            if message.custom and isinstance(message.custom.get(HANDOVER_KEY), dict):
                return message.custom[HANDOVER_KEY]
        return None

    @property
    def best_guess(self) -> tuple[str | None, float | None]:
        """The intent the NLU found most likely and its confidence.

        When the fallback classifier stepped in, Rasa's top intent is
        ``nlu_fallback``; what it would have said instead is the next one in
        the ranking, which is what an agent and a trainer want to see.
        """
        if self.intent != FALLBACK_INTENT:
            return self.intent, self.confidence
        for entry in self.intent_ranking:
            if entry.get("name") and entry.get("name") != FALLBACK_INTENT:
                return str(entry["name"]), float(entry.get("confidence") or 0.0)
        return self.intent, self.confidence

    @property
    def texts(self) -> list[BotMessage]:
        """The messages a customer reads."""
        return [m for m in self.messages if m.text]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Turn:
        """The turn the care channel answered; ValueError for anything of another shape
        (retrying such an answer would only ask Rasa the same again)."""
        parse = _of(dict, data.get("parse") or {}, "parse")
        intent = _of(dict, parse.get("intent") or {}, "intent")
        confidence = _of((int, float, type(None)), intent.get("confidence"), "confidence")
        ranking = _of(list, parse.get("intent_ranking") or [], "intent_ranking")
        entities = _of(list, parse.get("entities") or [], "entities")
        messages = _of(list, data.get("messages") or [], "messages")
        turn = cls(
            messages=[BotMessage.from_json(m) for m in messages],
            intent=_of((str, type(None)), intent.get("name"), "intent name"),
            confidence=confidence,
            intent_ranking=[_of(dict, entry, "ranking entry") for entry in ranking],
            entities=[_of(dict, entity, "entity") for entity in entities],
            slots=_of(dict, data.get("slots") or {}, "slots"),
            active_loop=_of((str, type(None)), data.get("active_loop"), "active_loop"),
        )
        turn.best_guess  # noqa: B018 - reads the ranking's confidences: ValueError if not numbers
        return turn


def _of(kind: type | tuple[type, ...], value: Any, what: str) -> Any:
    if not isinstance(value, kind):
        raise ValueError(f"{what} is {type(value).__name__}")
    return value


class Assistant:
    """Talks to the Rasa server; remembers for a while that it is down.

    Until Rasa has answered once (it loads its model after the gateway is up),
    turns wait for it, their messages safe in the store, for up to
    ``startup_seconds`` from the start; a health check that fails meanwhile
    means "still starting", not "down". After that, as below.

    An error belongs to the message that caused it. A request Rasa refuses
    (4xx) or fails on (5xx), or a turn without an answer, sends that one
    conversation to a person; the others keep the bot. The assistant is down
    only when Rasa cannot be reached (the connection fails or times out), or
    when ``failures_to_down`` different conversations fail in a row (a broken
    action server fails every turn). Then, for ``cooldown`` seconds, turns fail
    at once instead of each waiting for the timeout: new conversations go
    straight to a person. A health check (:meth:`check`) clears the state as
    soon as Rasa and the action server answer again. A turn Rasa did not start
    (503: its lock store is away) is nobody's failure: :class:`AssistantBusy`,
    and the message waits (bot/inbox.py).

    At most ``concurrency`` turns are at Rasa at once; the others wait here,
    their messages safe in the store. Rasa parses one message at a time on its
    event loop, so more at once only makes each wait there, inside the
    timeout: a burst of customers would time out and be handed to a person
    while Rasa is merely busy. Queued here, the timeout measures Rasa alone.
    """

    def __init__(
        self,
        rasa_url: str,
        session: aiohttp.ClientSession,
        timeout: float = 10.0,
        action_server_url: str | None = None,
        cooldown: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        concurrency: int = 4,
        failures_to_down: int = 3,
        startup_seconds: float = 0.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.rasa_url = rasa_url.rstrip("/")
        self.action_server_url = action_server_url.rstrip("/") if action_server_url else None
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.cooldown = cooldown
        self.clock = clock
        self._down_until = 0.0
        self.last_failure: str | None = None
        self._at_rasa = asyncio.Semaphore(concurrency)
        self.failures_to_down = failures_to_down
        # Conversations whose turns failed since the last turn that did not.
        self._failing: set[str] = set()
        self._started = asyncio.Event()
        self._starting_until = clock() + startup_seconds

    @property
    def available(self) -> bool:
        """False while a recent failure is fresh."""
        return self.clock() >= self._down_until

    @property
    def started(self) -> bool:
        """Whether the assistant has answered once (a turn, or a health check)."""
        return self._started.is_set()

    def _mark_down(self, reason: str) -> None:
        self.last_failure = reason
        self._down_until = self.clock() + self.cooldown
        self._failing.clear()
        logger.warning("assistant unavailable: %s", reason)

    def _failed(self, sender: str, reason: str) -> None:
        """A turn of ``sender`` failed; several conversations in a row: the assistant is down."""
        self._failing.add(sender)
        logger.warning("assistant: the turn of %s failed: %s", sender, reason)
        if len(self._failing) >= self.failures_to_down:
            self._mark_down(f"{len(self._failing)} conversations failed in a row, last: {reason}")

    def _answered(self) -> None:
        self._failing.clear()
        self._started.set()

    @property
    def starting(self) -> bool:
        """Not answered yet, and still within the start-up time."""
        return not self._started.is_set() and self.clock() < self._starting_until

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.starting:
            # Waits outside the queue to Rasa: a started assistant takes these first.
            waiter = asyncio.ensure_future(self._started.wait())
            try:
                await asyncio.wait({waiter}, timeout=self._starting_until - self.clock())
            finally:
                waiter.cancel()
        async with self._at_rasa:
            return await self._post_now(path, body)

    async def _post_now(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        # Checked once through the queue: turns waiting behind a failure fail at once.
        if not self.available:
            raise AssistantUnavailable(f"down since a recent failure: {self.last_failure}")
        sender = str(body.get("sender"))
        url = f"{self.rasa_url}/webhooks/care/{path}"
        try:
            status, data = await self._send_until_answered(url, body)
        except (aiohttp.ClientConnectorError, asyncio.TimeoutError) as error:
            # No connection, or no answer in time: Rasa is down (or too slow) for everyone.
            reason = f"{type(error).__name__}: {error}"[:200]
            self._mark_down(reason)
            raise AssistantUnavailable(reason) from error
        except aiohttp.ClientConnectionError as error:
            # Cut mid-turn every time it was asked: the Rasa that had this turn went away.
            # Behind one URL with several replicas (docs/scaling.md) the next turn reaches
            # a live one, so this counts against this conversation only, like a 5xx; a
            # lone Rasa that died refuses the next connection, and is marked down then.
            reason = f"{type(error).__name__}: {error}"[:200]
            self._failed(sender, reason)
            raise AssistantUnavailable(reason) from error
        except (aiohttp.ClientError, ValueError) as error:  # an answer that is not JSON
            reason = f"{type(error).__name__}: {error}"[:200]
            self._failed(sender, reason)
            raise AssistantUnavailable(reason) from error
        if status == TURN_NOT_TAKEN and isinstance(data, dict) and data.get(NOT_TAKEN_KEY) is True:
            # Not this message's fault, nor a broken assistant: it waits (bot/inbox.py).
            raise AssistantBusy(f"Rasa did not start the turn ({status})")
        if status >= 500:
            self._failed(sender, f"Rasa answered {status}")
            raise AssistantUnavailable(f"Rasa answered {status}")
        if status >= 400:
            # Rasa is well: it will not take this message (the gateway should not have sent it).
            logger.warning("assistant: Rasa refused the message of %s (%d)", sender, status)
            raise AssistantRefused(f"Rasa refused the message ({status})")
        if not isinstance(data, dict):
            self._failed(sender, "an answer that is not a turn")
            raise AssistantUnavailable("Rasa answered something that is not a turn")
        return data

    async def _send_until_answered(self, url: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Status and JSON body; a connection cut before the answer is asked again, on a
        new connection each time, up to :data:`CUT_ATTEMPTS` times in all.

        A cut most often means a replica that died (docs/scaling.md): a kept-alive
        connection to it, or a new one the balancer handed to it in the moment it
        died. A few tenths of a second later its port is closed and the balancer
        skips it. Asking again is safe: the care channel takes a turn once per
        message id (in_rasa/bridge.py), whether or not the cut one was taken.
        """
        for attempt, pause in enumerate(CUT_PAUSES):
            await asyncio.sleep(pause)
            try:
                return await self._send(url, body, fresh=attempt > 0)
            except aiohttp.ClientConnectorError:
                raise  # no connection at all: not a cut
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
                if attempt == len(CUT_PAUSES) - 1:
                    raise
                logger.info("assistant: turn cut (%s), asking again", type(error).__name__)
        raise AssertionError("unreachable")

    async def _send(self, url: str, body: dict[str, Any], fresh: bool = False) -> tuple[int, Any]:
        """Status and JSON body; ``fresh``: on a connection of its own, not from the pool
        (whose other kept-alive connections may lead to the same dead replica)."""
        if fresh:
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                return await self._send_with(session, url, body)
        return await self._send_with(self.session, url, body)

    async def _send_with(
        self, session: aiohttp.ClientSession, url: str, body: dict[str, Any]
    ) -> tuple[int, Any]:
        async with session.post(url, json=body, timeout=self.timeout) as response:
            status = response.status
            if status < 400:
                return status, await response.json()
            if status == TURN_NOT_TAKEN:  # the care channel's, or a load balancer's page
                with contextlib.suppress(ValueError):
                    return status, await response.json(content_type=None)
            return status, None

    async def turn(self, sender: str, text: str, message_id: str, metadata: dict[str, Any]) -> Turn:
        """Sends one customer message; returns the assistant's answer.

        Every intent has an answer, so a turn without any message means a
        custom action failed (the action server is down or broken): Rasa logs
        that and carries on silently, and we treat it as unavailable.
        """
        with counters.RASA_SECONDS.time():
            data = await self._post(
                "webhook",
                {"sender": sender, "message": text, "message_id": message_id, "metadata": metadata},
            )
        try:
            turn = Turn.from_json(data)
        except (ValueError, TypeError) as error:
            # This message goes to a person; the assistant is not down for the others.
            self._failed(sender, f"an answer of another shape: {error}")
            raise AssistantUnavailable(f"not a turn: {error}") from error
        if not turn.messages:
            self._failed(sender, "the assistant answered nothing (action server?)")
            raise AssistantUnavailable("the assistant answered nothing")
        self._answered()
        # The router names the channel; a caller that does not is counted by the sender id.
        counters.TURNS.labels(metadata.get("channel") or counters.channel_of(sender)).inc()
        return turn

    async def handback(self, sender: str) -> list[BotMessage]:
        """Tells the assistant an agent handed the conversation back; returns its greeting."""
        data = await self._post("handback", {"sender": sender})
        try:
            messages = [
                BotMessage.from_json(m) for m in _of(list, data.get("messages") or [], "messages")
            ]
        except ValueError as error:
            self._failed(sender, f"a hand-back answer of another shape: {error}")
            raise AssistantUnavailable(f"not a hand-back answer: {error}") from error
        self._answered()
        return messages

    async def check(self) -> bool:
        """Probes Rasa (and the action server) and clears the down state when both answer.

        Only a refused connection counts against them: a busy Rasa answers a
        probe late, and must not be declared down while it is serving turns.
        """
        urls = [f"{self.rasa_url}/webhooks/care/"]
        if self.action_server_url:
            urls.append(f"{self.action_server_url}/health")
        try:
            for url in urls:
                async with self.session.get(
                    url, timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    if response.status != 200:
                        raise AssistantUnavailable(f"{url} answered {response.status}")
        except (aiohttp.ClientConnectorError, AssistantUnavailable) as error:
            if not self.starting:  # while it starts, not answering is expected
                self._mark_down(f"health check: {type(error).__name__}: {error}"[:200])
            return False
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return self.available
        self._down_until = 0.0
        self._started.set()
        return True
