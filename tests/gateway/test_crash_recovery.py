"""kill -9 at random moments: every accepted message is answered, once, in order.

The gateway runs as a real process (``python -m bot.gateway``); the fake
Telegram API and the fake assistant live in the test process and survive
the kills. Web chat messages count as accepted when the gateway answered 202.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import DBAPIError

from bot.store.models import AuditEvent, Conversation, Direction, Message
from tests.conftest import PROJECT_ROOT, free_port
from tests.gateway.bot_run import stop
from tests.gateway.conftest import TELEGRAM_TOKEN, eventually

pytestmark = pytest.mark.slow

KILLS = 6
CHATS = 6
PER_CHAT = 6


def start_gateway(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "bot.gateway"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def test_kill_minus_nine_loses_nothing_and_repeats_nothing(
    tmp_path: Path, fake_assistant, fake_telegram, database_url: str
) -> None:
    assistant, rasa_url = fake_assistant
    assistant.delay = 0.03  # a turn takes a little while: more moments to die in
    telegram, api = fake_telegram
    port = free_port()
    database = database_url
    env = {
        **os.environ,
        "CARE_DATABASE_URL": database,
        "RASA_URL": rasa_url,
        "ACTION_SERVER_URL": rasa_url,
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_URL": api,
        "TELEGRAM_PER_CHAT_INTERVAL": "0",
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKER_ID": "gw-crash-test",
        "GATEWAY_LEASE_SECONDS": "2",
    }
    log = tmp_path / "gateway.log"
    url = f"http://127.0.0.1:{port}"
    rng = random.Random(7)
    web_sent: list[tuple[str, str]] = []
    sessions = [uuid.uuid4().hex[:12] for _ in range(3)]

    async with aiohttp.ClientSession() as http:

        async def post_web(session: str, text: str) -> bool:
            try:
                async with http.post(
                    f"{url}/webchat/api/messages",
                    timeout=aiohttp.ClientTimeout(total=2),
                    json={"session": session, "id": uuid.uuid4().hex, "text": text},
                ) as r:
                    return r.status == 202
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return False

        # The gateway of the moment is stopped on every path, a failed test's too: a
        # process left running (and its Popen never waited for) outlives the test.
        process: subprocess.Popen[bytes] | None = None
        try:
            counter = 0
            for round_number in range(KILLS + 1):
                process = start_gateway(env, log)
                # Customers keep writing while the gateway lives (and dies).
                for _ in range(rng.randint(3, 8)):
                    chat = rng.randrange(CHATS)
                    counter += 1
                    await telegram.say(
                        f"tg-{chat}-{counter}", chat_id=1000 + chat, user_id=1000 + chat
                    )
                    session = rng.choice(sessions)
                    if await post_web(session, f"web-{counter}"):
                        web_sent.append((session, f"web-{counter}"))
                    await asyncio.sleep(rng.uniform(0.0, 0.25))
                if round_number < KILLS:
                    await asyncio.sleep(rng.uniform(0.2, 1.2))
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

            telegram_texts = [u["message"]["text"] for u in telegram.updates]

            def everything_answered() -> bool:
                answered = {m["text"].removeprefix("echo: ") for m in telegram.sent}
                return set(telegram_texts) <= answered and _web_answered(database, web_sent)

            await eventually(everything_answered, timeout=90, interval=0.5)
        finally:
            if process is not None:
                assert await stop(process, group=True), "the gateway did not stop in 30 s"

    # Telegram: each message answered once, except where the gateway knows it
    # may have resent (killed between Telegram accepting a send and recording it).
    counts = Counter(m["text"].removeprefix("echo: ") for m in telegram.sent)
    engine = create_engine(database, future=True)
    with engine.connect() as db:
        resent = db.execute(
            select(AuditEvent.id).where(AuditEvent.action == "resent_after_crash")
        ).all()
    engine.dispose()
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= len(resent), (duplicates, len(resent))
    assert set(counts) == set(telegram_texts)
    # Order per chat, as each chat wrote.
    for chat in range(CHATS):
        wrote = [t for t in telegram_texts if t.startswith(f"tg-{chat}-")]
        got = list(
            dict.fromkeys(
                m["text"].removeprefix("echo: ")
                for m in telegram.sent
                if m["chat_id"] == 1000 + chat
            )
        )
        assert got == wrote
    # The assistant saw every message, and none twice unless a kill came mid-turn.
    assert set(assistant.texts()) >= set(telegram_texts)
    # Web chat: exactly once, in order.
    for session in sessions:
        expected = [t for s, t in web_sent if s == session]
        assert _web_replies(database, session) == [f"echo: {t}" for t in expected]
    assert "Traceback" not in log.read_text() or "KeyboardInterrupt" in log.read_text()


def _web_replies(database: str, session: str) -> list[str]:
    engine = create_engine(database, future=True)
    with engine.connect() as db:
        rows = db.execute(
            select(Message.text)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.place == f"web:{session}", Message.direction == Direction.OUT)
            .order_by(Message.id)
        ).all()
    engine.dispose()
    return [r.text for r in rows]


def _web_answered(database: str, sent: list[tuple[str, str]]) -> bool:
    try:
        for session in {s for s, _ in sent}:
            if len(_web_replies(database, session)) < sum(1 for s, _ in sent if s == session):
                return False
    except DBAPIError:  # no schema yet: the gateway has not started once
        return not sent
    return True
