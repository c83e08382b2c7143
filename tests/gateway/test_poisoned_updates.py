"""A poisoned update is set aside, with its raw payload, and the next one is answered at once.

Poisoned: one the store refuses (here a database trigger refuses customer
messages that say "poison": a real refusal, in the database), or one that
cannot be read. Before, Telegram polling retried such an update with growing
back-off, and every customer after it waited (40-60 s, then longer).
A store that refuses every message is an outage, not a poisoned update:
test_telegram.py checks that nothing is lost then.
"""

from __future__ import annotations

import json
import time
import uuid

from sqlalchemy import select

from bot.store.db import make_engine, migrate
from bot.store.models import AuditEvent
from tests.gateway.conftest import (
    eventually,
    run_sql,
    telegram_settings,
    telegram_webhook_settings,
)

POISON = {
    "sqlite": [
        "CREATE TRIGGER poison BEFORE INSERT ON messages "
        "WHEN NEW.direction = 'in' AND NEW.text LIKE '%poison%' "
        "BEGIN SELECT RAISE(ABORT, 'poison'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
        "IF NEW.direction = 'in' AND NEW.text LIKE '%poison%' THEN "
        "RAISE EXCEPTION 'poison'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()",
    ],
}
SECRET = "s3cret-Token_1"
# Not an update python-telegram-bot can build (a message without its chat and date).
UNREADABLE = {"message": {"message_id": 1, "text": "no chat, no date"}}


def set_aside(gateway) -> list[dict]:  # type: ignore[no-untyped-def]
    with gateway.parts.sessions() as db:
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == "set_aside"))
        return [event.details for event in events]


async def test_polling_sets_a_poisoned_update_aside_and_answers_the_next_at_once(
    fake_assistant, fake_telegram, start_gateway, database_url
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))
    run_sql(database_url, POISON)
    poisoned = await telegram.say("poison pill", chat_id=901, user_id=901)
    await telegram.push({"update_id": poisoned + 1, **UNREADABLE})
    await eventually(lambda: telegram.calls.count("getUpdates") >= 3)  # it was tried
    sent = time.monotonic()
    await telegram.say("is NW405 on time?", chat_id=902, user_id=902)
    await eventually(lambda: telegram.replies_to(902), timeout=15)
    assert time.monotonic() - sent < 3.0
    assert telegram.replies_to(902) == ["echo: is NW405 on time?"]
    assert not telegram.replies_to(901) and assistant.texts() == ["is NW405 on time?"]
    records = await eventually(lambda: len(set_aside(gateway)) == 2 and set_aside(gateway))
    by_id = {r["platform_id"]: r for r in records}
    assert by_id[str(poisoned)]["raw"]["message"]["text"] == "poison pill"
    assert "refused" in by_id[str(poisoned)]["why"]
    assert by_id[str(poisoned + 1)]["raw"] == {"update_id": poisoned + 1, **UNREADABLE}
    # Set aside once: not fetched again.
    await telegram.say("and my bag?", chat_id=902, user_id=902)
    await eventually(lambda: len(telegram.replies_to(902)) == 2)
    assert len(set_aside(gateway)) == 2


async def test_the_webhook_sets_a_poisoned_update_aside_and_answers_the_next(
    fake_assistant, fake_telegram, start_gateway, database_url, http
) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    settings = telegram_webhook_settings(api, SECRET)
    gateway = await start_gateway(rasa_url, telegram=settings)
    run_sql(database_url, POISON)
    updates = [
        {"update_id": 7001, **telegram.message_update("poison pill", chat_id=911, user_id=911)},
        {"update_id": 7002, **UNREADABLE},
        {"update_id": 7003, **telegram.message_update("is NW405 late?", chat_id=912, user_id=912)},
    ]
    for update in updates:
        async with http.post(
            f"{gateway.url}/telegram/webhook",
            data=json.dumps(update),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ) as response:
            assert response.status == 200  # Telegram would otherwise send it again
    await eventually(lambda: telegram.replies_to(912))
    assert telegram.replies_to(912) == ["echo: is NW405 late?"]
    records = {r["platform_id"]: r for r in set_aside(gateway)}
    assert set(records) == {"7001", "7002"}
    assert records["7001"]["raw"]["message"]["text"] == "poison pill"
    assert records["7002"]["raw"] == updates[1]


async def test_x_polling_sets_a_poisoned_mention_aside_and_answers_the_next(
    fake_assistant, fake_twitter, start_gateway, database_url
) -> None:
    _assistant, rasa_url = fake_assistant
    twitter, port = fake_twitter
    poisoned = twitter.mention("3001", "@NorthwindAir poison pill")
    unreadable = {"id": "5", "text": ["not", "text"], "event_type": "MessageCreate"}
    twitter.dm_events.append({**unreadable, "sender_id": "3004"})
    fine = twitter.mention("3002", "@NorthwindAir is NW405 on time?")
    engine = make_engine(database_url)  # the trigger is in place before the first poll
    migrate(engine)
    engine.dispose()
    run_sql(database_url, POISON)
    gateway = await start_gateway(rasa_url, twitter_port=port)
    later = twitter.mention("3003", "@NorthwindAir and NW406?")
    await eventually(lambda: twitter.replies_to(fine) and twitter.replies_to(later), timeout=15)
    assert not twitter.replies_to(poisoned)
    records = {r["platform_id"]: r for r in set_aside(gateway)}
    assert records[f"tweet:{poisoned}"]["raw"]["text"] == "@NorthwindAir poison pill"
    assert records["5"]["raw"]["text"] == ["not", "text"]


async def test_a_web_chat_message_the_store_refuses_is_422_and_set_aside(
    fake_assistant, start_gateway, database_url, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    run_sql(database_url, POISON)
    session = uuid.uuid4().hex
    async with http.post(
        f"{gateway.url}/webchat/api/messages",
        json={"session": session, "id": uuid.uuid4().hex, "text": "poison pill"},
    ) as response:
        assert response.status == 422
        assert "could not be stored" in (await response.json())["error"]
    [record] = set_aside(gateway)
    assert record["raw"]["text"] == "poison pill" and record["channel"] == "webchat"
    async with http.post(
        f"{gateway.url}/webchat/api/messages",
        json={"session": session, "id": uuid.uuid4().hex, "text": "hello"},
    ) as response:
        assert response.status == 202
