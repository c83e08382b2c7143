"""The two store transactions of a customer message, on the event loop or in a thread.

    .venv/bin/python -m benchmarks.router_transactions [--messages 300] [--rounds 3]

The real intake and router on a SQLite file (as the gateway runs it), with an assistant
that answers at once, so that only the store is timed: for each message, how
long ``accept`` (store it, lease its conversation) and ``handle`` (record the
turn, queue and claim the reply, look for the next message) take, median over
``--messages`` messages. Each round runs the same work twice:

* ``thread``: every transaction in a worker thread (``asyncio.to_thread``), as
  the gateway did before ``bot.store.db.run_transaction``;
* ``loop``: through ``run_transaction``, on the event loop while the write
  lock is free (always, here: nothing else writes).

The difference is the cost of the thread hops; docs/gateway.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bot.store.db as store_db
from bot.assistant import BotMessage, Turn
from bot.brand import load_brand
from bot.contract import Visibility
from bot.conversation.ingest import Intake
from bot.conversation.turns import ConversationRouter
from bot.messages import CustomerRef, InboundMessage
from bot.store.db import make_engine, migrate, session_factory


class InstantAssistant:
    """Answers every message at once with one reply (the store is what is timed)."""

    async def turn(self, sender_id: str, text: str, **_: Any) -> Turn:
        return Turn([BotMessage(text="Pets under 8 kg travel in the cabin.")], "pets", 0.93)


@contextmanager
def in_threads_only() -> Iterator[None]:
    """run_transaction as if the store were not SQLite: every call goes to a thread."""
    writers = dict(store_db._WRITERS)
    store_db._WRITERS.clear()
    try:
        yield
    finally:
        store_db._WRITERS.update(writers)


async def time_messages(
    intake: Intake, router: ConversationRouter, label: str, messages: int
) -> tuple[float, float]:
    """Median ms of accept and of handle over ``messages`` new customer messages."""
    accepting, handling = [], []
    for number in range(messages):
        inbound = InboundMessage(
            channel="telegram",
            platform_message_id=f"{label}-{number}",
            place=f"chat:{number % 50}",
            visibility=Visibility.PRIVATE,
            customer=CustomerRef(str(number % 50), "customer", "A Customer"),
            text="can I bring my dog in the cabin?",
            raw={"update_id": number},
        )
        started = time.perf_counter()
        accepted = await intake.store([inbound], cursor=("telegram", "offset", str(number)))
        accepting.append(time.perf_counter() - started)
        started = time.perf_counter()
        await router.handle(accepted.leased[0], look_ahead=True)
        handling.append(time.perf_counter() - started)
        await asyncio.sleep(0.002)  # as between turns: the loop goes idle
    return statistics.median(accepting) * 1000, statistics.median(handling) * 1000


async def run(messages: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{Path(directory) / 'care.db'}")
        migrate(engine)
        assistant: Any = InstantAssistant()  # the router needs only its turn()
        sessions = session_factory(engine)
        intake = Intake(sessions, lambda accepted: None, worker_id="bench")
        router = ConversationRouter(sessions, assistant, load_brand(), worker_id="bench")
        sys.setswitchinterval(0.0005)  # as the gateway sets it
        await time_messages(intake, router, "warm-up", 50)
        print("| round | transactions | accept ms | handle ms | both ms |")
        print("|---|---|---|---|---|")
        for round_number in range(1, rounds + 1):
            with in_threads_only():
                thread = await time_messages(intake, router, f"thread-{round_number}", messages)
            loop = await time_messages(intake, router, f"loop-{round_number}", messages)
            for name, (accept, handle) in (("thread", thread), ("loop", loop)):
                print(
                    f"| {round_number} | {name} | {accept:.2f} | {handle:.2f} "
                    f"| {accept + handle:.2f} |"
                )
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.rounds))


if __name__ == "__main__":
    main()
