"""The care channel takes a turn once per message id (in_rasa/bridge.py ``take_once``).

Rasa's own objects, no model: an agent with a tracker store and a lock store.
A message the tracker already has never reaches the processor (this agent has
none: it would fail), and the turn it answers is the one the bot gave then.
"""

from __future__ import annotations

import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

from in_rasa.bridge import CareOutput, NotTaken, take_once
from tests.conftest import free_port

GREETING = BotUttered(
    "Hi! How can I help?",
    data={"buttons": [{"title": "Flight status", "payload": "/flight_status"}]},
    metadata={"utter_action": "utter_greet", "metadata": {"visibility": "public"}},
)
BYE = BotUttered("Safe travels!", metadata={"utter_action": "utter_goodbye"})


async def _agent(lock_store: object = None) -> Agent:
    """An agent whose tracker for ``anna`` has two turns: m-1 answered by GREETING, m-2 by BYE."""
    store = InMemoryTrackerStore(Domain.empty())
    tracker = await store.get_or_create_tracker("anna")
    for event in (
        UserUttered("hello", message_id="m-1"),
        ActionExecuted("utter_greet"),
        GREETING,
        ActionExecuted("action_listen"),
        UserUttered("bye", message_id="m-2"),
        ActionExecuted("utter_goodbye"),
        BYE,
    ):
        tracker.update(event)
    await store.save(tracker)
    return Agent(
        domain=Domain.empty(), tracker_store=store, lock_store=lock_store or InMemoryLockStore()
    )


def _message(message_id: str) -> UserMessage:
    return UserMessage("hello", CareOutput(), "anna", input_channel="care", message_id=message_id)


async def _sent(bot: BotUttered) -> list[dict[str, object]]:
    """What the care channel collects when Rasa sends ``bot`` during a turn."""
    output = CareOutput()
    await output.send_response("anna", bot.message())
    return output.messages


async def _user_events(agent: Agent) -> list[str]:
    tracker = await agent.tracker_store.retrieve("anna")
    assert tracker is not None
    return [e.message_id for e in tracker.events if isinstance(e, UserUttered)]


async def test_a_message_taken_before_gets_the_answer_it_got_then_and_is_not_taken_again() -> None:
    agent = await _agent()
    for message_id, said in (("m-1", GREETING), ("m-2", BYE)):
        message = _message(message_id)
        await take_once(agent, message)
        assert message.output_channel.messages == await _sent(said)
    # With the marks the gateway reads (the response's name, its visibility), and buttons.
    [greeting] = await _sent(GREETING)
    assert greeting["response"] == "utter_greet" and greeting["metadata"]["visibility"] == "public"
    assert greeting["buttons"] == GREETING.data["buttons"]
    assert await _user_events(agent) == ["m-1", "m-2"]  # nothing added


async def test_a_turn_whose_lock_cannot_be_taken_is_not_taken() -> None:
    """Redis away (nothing listens on its port): NotTaken, which the channel answers 503
    with the contract's mark, and the tracker is as it was."""
    agent = await _agent(RedisLockStore(host="127.0.0.1", port=free_port(), socket_timeout=2))
    with pytest.raises(NotTaken, match="LockError"):
        await take_once(agent, _message("m-3"))
    assert await _user_events(agent) == ["m-1", "m-2"]
