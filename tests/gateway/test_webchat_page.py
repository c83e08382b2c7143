"""The web chat page in a real headless Chromium, against the real gateway and the fake Rasa.

Screenshots go to ``results/screenshots/`` (``webchat-*.png``) for a person to look at.
"""

from __future__ import annotations

import uuid
from typing import Any

from bot.contract import MAX_TEXT_CHARS
from tests.conftest import PROJECT_ROOT
from tests.gateway.conftest import eventually
from tests.gateway.test_webchat_and_router import post

SCREENSHOTS = PROJECT_ROOT / "results" / "screenshots"


async def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"webchat-{name}.png"))


async def open_chat(fake_assistant, start_gateway, browser):  # type: ignore[no-untyped-def]
    """A gateway with the fake Rasa, and its chat page open in a new browser profile."""
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    page = await browser.new_page()
    await page.goto(gateway.url)
    return gateway, page


async def bubbles(page: Any) -> list[tuple[str, str]]:
    """(author, text) of every message on the page, top to bottom."""
    return [  # type: ignore[no-any-return]
        tuple(pair)
        for pair in await page.eval_on_selector_all(
            "#log .msg",
            "boxes => boxes.map(b => [b.classList[1], b.lastChild.textContent])",
        )
    ]


async def say(page: Any, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def test_both_sides_survive_a_reload(fake_assistant, start_gateway, browser) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    tabs = await browser.new_context()  # one browser profile: its tabs share localStorage
    page = await tabs.new_page()
    await page.goto(gateway.url)
    await say(page, "hello there")
    await page.wait_for_selector(".msg.bot")
    await say(page, "and my bags?")
    await page.wait_for_function("document.querySelectorAll('.msg.bot').length == 2")
    conversation = [
        ("customer", "hello there"),
        ("bot", "echo: hello there"),
        ("customer", "and my bags?"),
        ("bot", "echo: and my bags?"),
    ]
    assert await bubbles(page) == conversation

    await page.reload()
    await page.wait_for_function("document.querySelectorAll('.msg').length >= 4")
    await page.wait_for_timeout(1500)  # two more polls: nothing shown twice
    assert await bubbles(page) == conversation
    await screenshot(page, "after-reload")

    # A second tab of the same conversation shows what the first one sent, once.
    other = await tabs.new_page()
    await other.goto(gateway.url)
    await other.wait_for_function("document.querySelectorAll('.msg').length >= 4")
    assert await bubbles(other) == conversation
    await tabs.close()


async def test_a_new_conversation_starts_empty_and_stays_apart(
    fake_assistant, start_gateway, browser, http
) -> None:
    gateway, page = await open_chat(fake_assistant, start_gateway, browser)
    await say(page, "first conversation")
    await page.wait_for_selector(".msg.bot")
    first = await page.evaluate("localStorage.getItem('nw-session')")

    await page.click("#new")
    assert await bubbles(page) == []
    second = await page.evaluate("localStorage.getItem('nw-session')")
    assert second != first
    await say(page, "second conversation")
    await page.wait_for_selector(".msg.bot")
    # A late reply in the first conversation is not shown in the second.
    assert await post(http, gateway.url, first, "still the first one") == 202
    await page.wait_for_timeout(1500)
    assert await bubbles(page) == [
        ("customer", "second conversation"),
        ("bot", "echo: second conversation"),
    ]
    await page.reload()
    await page.wait_for_function("document.querySelectorAll('.msg').length >= 2")
    await page.wait_for_timeout(1000)
    assert await bubbles(page) == [
        ("customer", "second conversation"),
        ("bot", "echo: second conversation"),
    ]
    await screenshot(page, "new-conversation")
    await page.close()


async def test_the_length_limit_shows_before_it_is_hit_and_nothing_is_cut(
    fake_assistant, start_gateway, browser
) -> None:
    assistant, _rasa_url = fake_assistant
    _gateway, page = await open_chat(fake_assistant, start_gateway, browser)
    assert await page.text_content("#count") == ""

    near = "x" * (MAX_TEXT_CHARS - 100)
    await page.fill("#text", near)
    assert await page.text_content("#count") == (
        f"{MAX_TEXT_CHARS - 100:,} / {MAX_TEXT_CHARS:,} characters"
    )
    assert await page.is_enabled("#send")
    await screenshot(page, "near-the-limit")

    over = "y" * (MAX_TEXT_CHARS + 25)
    await page.fill("#text", over)
    assert await page.input_value("#text") == over  # not cut by the browser
    count = await page.text_content("#count")
    assert count.startswith(f"{MAX_TEXT_CHARS + 25:,} / {MAX_TEXT_CHARS:,} characters")
    assert "25 too many" in count
    assert await page.get_attribute("#count", "class") == "over"
    assert not await page.is_enabled("#send")
    await page.press("#text", "Enter")
    await page.wait_for_timeout(800)
    assert await page.input_value("#text") == over  # still there to shorten
    assert await bubbles(page) == [] and assistant.turns == []
    await screenshot(page, "over-the-limit")

    # An emoji is one character to the gateway: exactly the limit is sent whole.
    exact = "✈" * MAX_TEXT_CHARS
    await page.fill("#text", exact)
    assert await page.is_enabled("#send")
    await page.click("#send")
    await eventually(lambda: assistant.turns, timeout=10)
    assert assistant.turns[0]["message"] == exact
    await page.close()


async def test_the_poll_gives_the_customers_side_only_when_asked(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    session, mid = uuid.uuid4().hex[:16], uuid.uuid4().hex
    assert await post(http, gateway.url, session, "hello", mid) == 202
    api = f"{gateway.url}/webchat/api/messages"

    async def both() -> list[dict[str, Any]]:
        async with http.get(api, params={"session": session, "own": "1"}) as r:
            found = (await r.json())["messages"]
            return found if len(found) == 2 else []

    customer, reply = await eventually(both)
    assert customer["author"] == "customer" and customer["text"] == "hello"
    assert customer["client_id"] == mid
    assert (reply["author"], reply["text"]) == ("bot", "echo: hello")
    assert "client_id" not in reply and customer["id"] < reply["id"]
    async with http.get(api, params={"session": session}) as r:
        assert [m["author"] for m in (await r.json())["messages"]] == ["bot"]
    async with http.get(api, params={"session": session, "after": customer["id"], "own": "1"}) as r:
        assert [m["id"] for m in (await r.json())["messages"]] == [reply["id"]]
    async with http.get(api, params={"session": session, "own": "yes"}) as r:
        assert r.status == 400
    async with http.get(gateway.url + "/") as r:
        page = await r.text()
        assert f"const LIMIT = {MAX_TEXT_CHARS};" in page and 'maxlength="' not in page
