"""The care channel takes each turn's tracker as Rasa saves it (in_rasa/bridge.py)."""

from __future__ import annotations

import asyncio

from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from in_rasa.bridge import SavedTrackers


def store_and_keeper() -> tuple[InMemoryTrackerStore, SavedTrackers]:
    store = InMemoryTrackerStore(Domain.empty())
    return store, SavedTrackers(store)


async def say(store: InMemoryTrackerStore, sender: str, text: str) -> DialogueStateTracker:
    """What a turn does to the store: read the tracker, add the message, save."""
    tracker = await store.get_or_create_tracker(sender)
    tracker.update(UserUttered(text))
    await store.save(tracker)
    return tracker


async def test_the_turn_gets_the_tracker_it_saved_without_reading_it_back() -> None:
    store, keeper = store_and_keeper()
    saved: list[DialogueStateTracker] = []

    async def turn() -> None:
        saved.append(await say(store, "anna", "hello"))

    tracker = await keeper.turn("anna", turn)
    assert tracker is saved[0]  # the very object, not a copy deserialised from the store
    assert tracker is not None and tracker.latest_message.text == "hello"
    # The store has it too, as before.
    stored = await store.retrieve("anna")
    assert stored is not None and stored.latest_message.text == "hello"


async def test_other_senders_saves_are_not_kept() -> None:
    store, keeper = store_and_keeper()
    for n in range(5):
        await say(store, f"someone-{n}", "hi")  # e.g. Rasa's REST channel, or a handback

    async def turn() -> None:
        await say(store, "bob", "my bag is lost")
        await say(store, "carol", "thanks")  # another conversation saved meanwhile

    tracker = await keeper.turn("bob", turn)
    assert tracker is not None and tracker.sender_id == "bob"
    assert keeper._waiting == {}  # nothing left behind


async def test_a_turn_that_saved_nothing_reads_the_store() -> None:
    store, keeper = store_and_keeper()
    await say(store, "dan", "earlier message")

    async def turn() -> None:
        pass  # e.g. a store that failed to save

    tracker = await keeper.turn("dan", turn)
    assert tracker is not None and tracker.latest_message.text == "earlier message"
    assert await keeper.turn("nobody", turn) is None


async def test_two_turns_of_one_sender_at_once_each_get_a_tracker() -> None:
    store, keeper = store_and_keeper()
    second_may_go = asyncio.Event()

    async def first() -> None:
        await second_may_go.wait()
        await say(store, "eve", "first")

    async def second() -> None:
        second_may_go.set()
        await asyncio.sleep(0.01)
        await say(store, "eve", "second")

    trackers = await asyncio.gather(keeper.turn("eve", first), keeper.turn("eve", second))
    assert all(t is not None and t.sender_id == "eve" for t in trackers)
    texts = {t.latest_message.text for t in trackers if t is not None}
    assert "second" in texts
    assert keeper._waiting == {}


async def test_a_failed_turn_leaves_nothing_behind() -> None:
    _store, keeper = store_and_keeper()

    async def turn() -> None:
        raise RuntimeError("the policy crashed")

    try:
        await keeper.turn("fay", turn)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the turn's error must reach the channel")
    assert keeper._waiting == {}
