"""Telegram through the real python-telegram-bot client and a fake Bot API on loopback."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import sys

import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.brand import PROJECT_ROOT
from bot.store.models import Cursor, Message, OutboxItem, OutboxStatus
from tests.fakes.telegram import BOT_ID, BOT_USERNAME, FakeTelegram
from tests.gateway.conftest import (
    TELEGRAM_TOKEN,
    eventually,
    run_sql,
    telegram_settings,
    telegram_webhook_settings,
    the_sent_reply,
)

# The store refuses every new message: a real failure, in the database.
OUTAGE = {
    "sqlite": [
        "CREATE TRIGGER outage BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'outage'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION outage() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'outage'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER outage BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION outage()",
    ],
}
END_OUTAGE = {
    "sqlite": ["DROP TRIGGER outage"],
    "postgresql": ["DROP TRIGGER outage ON messages", "DROP FUNCTION outage()"],
}


async def test_a_private_message_is_answered_in_the_chat(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    await start_gateway(rasa_url, telegram=telegram_settings(api))
    await telegram.say("hello from telegram", chat_id=501, user_id=501)
    await eventually(lambda: telegram.replies_to(501))
    assert telegram.replies_to(501) == ["echo: hello from telegram"]
    assert assistant.turns[0]["metadata"] == {
        "visibility": "private",
        "channel": "telegram",
        "desk": True,
    }
    assert "deleteWebhook" in telegram.calls  # polling mode


async def test_replies_in_chats_whose_message_ids_coincide_are_each_sent_once(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    # Telegram numbers messages within each chat, so three chats' first replies
    # all come back with the same message id.
    _, rasa_url = fake_assistant
    telegram, api = fake_telegram
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))
    chats = [511, 512, 513]
    for chat in chats:
        await telegram.say(f"hello from {chat}", chat_id=chat, user_id=chat)
    await eventually(lambda: all(telegram.replies_to(chat) for chat in chats))
    assert len({m["message_id"] for m in telegram.sent}) == 1

    def all_recorded() -> list[str]:
        with gateway.parts.sessions() as db:
            items = db.scalars(select(OutboxItem)).all()
            if len(items) < 3 or any(i.status != OutboxStatus.SENT for i in items):
                return []
            return sorted(i.platform_message_id for i in items)

    recorded = await eventually(all_recorded)
    sent_id = telegram.sent[0]["message_id"]
    assert recorded == [f"{chat}:{sent_id}" for chat in chats]
    assert [telegram.replies_to(chat) for chat in chats] == [
        [f"echo: hello from {c}"] for c in chats
    ]


async def test_a_batch_the_store_failed_to_take_is_fetched_again_not_lost(
    fake_assistant, fake_telegram, start_gateway, database_url
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    await start_gateway(rasa_url, telegram=telegram_settings(api))
    # The store refuses new messages for a while: a real failure, in the database.
    run_sql(database_url, OUTAGE)
    polls = telegram.calls.count("getUpdates")
    await telegram.say("are you there?", chat_id=521, user_id=521)
    await eventually(lambda: telegram.calls.count("getUpdates") > polls + 1)
    await asyncio.sleep(0.5)
    assert not telegram.replies_to(521) and not assistant.turns
    run_sql(database_url, END_OUTAGE)
    await eventually(lambda: telegram.replies_to(521), timeout=15)
    await telegram.say("and again?", chat_id=521, user_id=521)
    await eventually(lambda: len(telegram.replies_to(521)) == 2, timeout=15)
    assert telegram.replies_to(521) == ["echo: are you there?", "echo: and again?"]
    assert assistant.texts() == ["are you there?", "and again?"]


async def test_the_same_update_delivered_five_times_gets_one_reply(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    telegram.redeliver = 4  # every update comes 5 times, whatever the offset says
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))
    await telegram.say("is my flight on time", chat_id=502, user_id=502)
    await eventually(lambda: telegram.replies_to(502))
    await eventually(lambda: telegram.calls.count("getUpdates") >= 6)
    assert telegram.replies_to(502) == ["echo: is my flight on time"]
    assert len(assistant.turns) == 1
    with gateway.parts.sessions() as db:
        assert (
            db.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
            == 1
        )


async def test_the_offset_is_stored_with_the_messages_and_survives_a_restart(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    first = await start_gateway(rasa_url, telegram=telegram_settings(api))
    last = await telegram.say("one", chat_id=503, user_id=503)
    await eventually(lambda: telegram.replies_to(503))
    with first.parts.sessions() as db:
        assert db.get(Cursor, ("telegram", "offset")).value == str(last + 1)
    await first.stop()
    telegram.confirmed = 0  # Telegram forgot nothing: the offset must come from our store
    await start_gateway(rasa_url, telegram=telegram_settings(api))
    await telegram.say("two", chat_id=503, user_id=503)
    await eventually(lambda: len(telegram.replies_to(503)) == 2)
    assert telegram.replies_to(503) == ["echo: one", "echo: two"]
    assert assistant.texts() == ["one", "two"]


async def test_group_messages_are_answered_only_when_addressed(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    await start_gateway(rasa_url, telegram=telegram_settings(api))
    await telegram.say("anyone flying tomorrow?", chat_id=-100, user_id=7, chat_type="supergroup")
    await telegram.say(
        f"@{BOT_USERNAME} is NW881 late?", chat_id=-100, user_id=8, chat_type="supergroup"
    )
    bot_message = {
        "message_id": 5,
        "date": 0,
        "chat": {"id": -100, "type": "supergroup"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Northwind"},
        "text": "hi",
    }
    await telegram.say(
        "thanks, and my bag?",
        chat_id=-100,
        user_id=9,
        chat_type="supergroup",
        reply_to_message=bot_message,
    )
    await eventually(lambda: len(telegram.replies_to(-100)) == 2)
    assert sorted(assistant.texts()) == ["is NW881 late?", "thanks, and my bag?"]
    assert {t["metadata"]["visibility"] for t in assistant.turns} == {"public"}
    # Replies in a group answer the customer's message.
    assert all(m["reply_to_message_id"] for m in telegram.sent), telegram.sent
    assert len({t["sender"] for t in assistant.turns}) == 2  # one conversation per member


async def test_a_public_group_reply_never_carries_personal_data(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    await start_gateway(rasa_url, telegram=telegram_settings(api))
    await telegram.say(
        f"@{BOT_USERNAME} private stuff please", chat_id=-200, user_id=10, chat_type="group"
    )
    await telegram.say(f"@{BOT_USERNAME} pii please", chat_id=-200, user_id=11, chat_type="group")
    await eventually(lambda: len(telegram.replies_to(-200)) == 2)
    for text in telegram.replies_to(-200):
        assert "QX7K2P" not in text and "@example.com" not in text and "Jane" not in text
        assert text.startswith("To keep your details private")
        assert f"https://t.me/{BOT_USERNAME}" in text


async def test_media_and_other_update_kinds_are_handled_on_purpose(
    fake_assistant, fake_telegram, start_gateway
) -> None:
    assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    await start_gateway(rasa_url, telegram=telegram_settings(api))
    photo = [{"file_id": "f1", "file_unique_id": "u1", "width": 10, "height": 10}]
    await telegram.push(telegram.message_update(None, chat_id=601, user_id=601, photo=photo))
    await telegram.push(
        telegram.message_update(
            None,
            chat_id=602,
            user_id=602,
            sticker={
                "file_id": "s",
                "file_unique_id": "s",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            },
        )
    )
    await telegram.push(
        telegram.message_update(
            None, chat_id=603, user_id=603, location={"latitude": 41.97, "longitude": -87.9}
        )
    )
    await telegram.push(
        telegram.message_update(
            None, chat_id=604, user_id=604, photo=photo, caption="my bag arrived like this"
        )
    )
    edited = telegram.message_update("edited text", chat_id=605, user_id=605)
    await telegram.push({"edited_message": edited["message"]})
    await telegram.push(
        {
            "channel_post": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": -5, "type": "channel"},
                "text": "news",
            }
        }
    )
    await telegram.push(
        {
            "my_chat_member": {
                "chat": {"id": 606, "type": "private"},
                "date": 0,
                "from": {"id": 606, "is_bot": False, "first_name": "A"},
                "old_chat_member": {
                    "status": "member",
                    "user": {"id": BOT_ID, "is_bot": True, "first_name": "N"},
                },
                "new_chat_member": {
                    "status": "kicked",
                    "user": {"id": BOT_ID, "is_bot": True, "first_name": "N"},
                    "until_date": 0,
                },
            }
        }
    )
    await telegram.push({"some_future_update_kind": {"x": 1}})
    await eventually(lambda: len(telegram.sent) == 4)
    text_only = "Thanks! I can only read text for now. Could you tell me in words what you need?"
    assert telegram.replies_to(601) == [text_only]
    assert telegram.replies_to(602) == [text_only]
    assert telegram.replies_to(603) == [text_only]
    assert telegram.replies_to(604) == ["echo: my bag arrived like this"]
    assert assistant.texts() == ["my bag arrived like this"]


async def test_flood_control_is_respected(fake_assistant, fake_telegram, start_gateway) -> None:
    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    telegram.flood_waits = [1]  # the first sendMessage gets 429, retry after 1 s
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(api))
    await telegram.say("hi", chat_id=701, user_id=701)
    await eventually(lambda: telegram.replies_to(701), timeout=15)
    item = await the_sent_reply(gateway)
    assert item["attempts"] == 2 and item["sent_at"] >= item["created_at"]
    assert len(telegram.replies_to(701)) == 1


async def test_webhook_refuses_a_forged_secret_and_accepts_the_right_one(
    fake_assistant, fake_telegram, start_gateway, http
) -> None:

    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    settings = telegram_webhook_settings(api, "s3cret-Token_1")
    gateway = await start_gateway(rasa_url, telegram=settings)
    assert telegram.webhook["url"] == "https://example.test/telegram/webhook"
    assert telegram.webhook["secret_token"] == "s3cret-Token_1"
    update = {"update_id": 9001, **telegram.message_update("via webhook", chat_id=801, user_id=801)}
    url = f"{gateway.url}/telegram/webhook"
    for headers in (
        {},
        {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
        {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_"},
        {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1x"},
        {"X-Telegram-Bot-Api-Secret-Token": "ßecret"},
    ):
        async with http.post(url, json=update, headers=headers) as response:
            assert response.status == 403
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
    for _ in range(3):  # Telegram retries; one answer
        async with http.post(url, json=update, headers=good) as response:
            assert response.status == 200
    await eventually(lambda: telegram.replies_to(801))
    bad_bodies = [
        b"not json",
        b"[1, 2]",
        json.dumps({"update_id": "x"}).encode(),
        json.dumps({"message": {"text": "no update id"}}).encode(),
    ]
    for body in bad_bodies:
        async with http.post(
            url, data=io.BytesIO(body), headers={**good, "Content-Type": "application/json"}
        ) as r:
            assert r.status == 400
    async with http.post(
        url,
        data=io.BytesIO(b"{" + b" " * 2_000_000 + b"}"),
        headers={**good, "Content-Type": "application/json"},
    ) as r:
        assert r.status == 413
    assert telegram.replies_to(801) == ["echo: via webhook"]


async def test_the_token_never_appears_in_the_logs(
    fake_assistant, fake_telegram, start_gateway, caplog: pytest.LogCaptureFixture
) -> None:
    from bot import logs

    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    settings = telegram_settings(api)
    caplog.set_level(logging.DEBUG)
    secret_filter = logs.SecretFilter([settings.token])
    caplog.handler.addFilter(secret_filter)
    try:
        await start_gateway(rasa_url, telegram=settings)
        await telegram.say("hi", chat_id=901, user_id=901)
        await eventually(lambda: telegram.replies_to(901))
    finally:
        caplog.handler.removeFilter(secret_filter)
    assert caplog.records, "the run logged nothing"
    assert any(
        "/bot***/" in r.getMessage() or "sendMessage" in r.getMessage() for r in caplog.records
    )
    assert TELEGRAM_TOKEN not in caplog.text
    assert repr(settings).count("**********") >= 1 and TELEGRAM_TOKEN not in repr(settings)


async def test_telegram_out_of_reach_at_start_up_is_waited_for(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    with socket.socket() as probe:  # a port nothing listens on, yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = await start_gateway(rasa_url, telegram=telegram_settings(f"http://127.0.0.1:{port}"))
    # The rest of the gateway is up meanwhile.
    async with http.get(f"{gateway.url}/healthz") as response:
        assert response.status == 200
    telegram = FakeTelegram(TELEGRAM_TOKEN)
    runner = web.AppRunner(telegram.app(), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await telegram.say("anyone there?", chat_id=531, user_id=531)
        await eventually(lambda: telegram.replies_to(531), timeout=20)
        assert telegram.replies_to(531) == ["echo: anyone there?"]
    finally:
        await gateway.stop()
        await runner.cleanup()


async def test_a_token_telegram_refuses_stops_start_up_and_says_so(fake_telegram, tmp_path) -> None:
    _telegram, api = fake_telegram
    wrong = "987654321:WRONG-token-abcdefghijklmnopqrs"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.gateway",
        env={
            "PATH": os.environ.get("PATH", ""),
            "GATEWAY_DOTENV": "",  # not the developer's .env
            "CARE_DATABASE_URL": f"sqlite:///{tmp_path / 'care.db'}",
            "GATEWAY_PORT": "0",
            "TELEGRAM_BOT_TOKEN": wrong,
            "TELEGRAM_API_URL": api,
        },
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # A Python process's start: tens of seconds on a loaded machine.
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        if process.returncode is None:  # it did not stop: not left running into later tests
            process.kill()
            await process.wait()
    assert process.returncode == 2
    assert "Telegram refused TELEGRAM_BOT_TOKEN" in err.decode()
    assert wrong not in (out + err).decode()
