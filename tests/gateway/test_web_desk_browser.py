"""The web chat and the agents' web desk side by side in a real headless Chromium.

A customer asks for a person in the web chat; the ticket appears on the open
desk without a reload; an agent logs in, claims it and replies; the customer
sees the reply; the customer's answer appears on the desk; the agent hands
back and the bot answers again. The gateway is the real one, the assistant
the fake (tests/fakes/assistant.py). Screenshots of each step go to
results/screenshots/web_desk/ (gitignored).
"""

from __future__ import annotations

import re
from typing import Any

from bot.brand import PROJECT_ROOT
from tests.gateway.web_agent import PASSWORDS, desk_settings

SHOTS = PROJECT_ROOT / "results" / "screenshots" / "web_desk"
TIMEOUT_MS = 10_000


async def _shot(page: Any, name: str, store: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{store}-{name}.png"), full_page=True)


async def _wait_text(page: Any, selector: str, text: str | re.Pattern[str]) -> None:
    await page.locator(selector, has_text=text).first.wait_for(timeout=TIMEOUT_MS)


async def _buttons(page: Any, *shown: str) -> None:
    """Waits until the ticket's buttons are those of ``shown``, the others hidden; the reply
    form shows with Resolve (an agent may reply where they may resolve)."""
    offered = {*shown, *(["reply-form"] if "resolve" in shown else [])}
    for control in ("claim", "resolve", "hand_back", "reply-form"):
        state = "visible" if control in offered else "hidden"
        await page.locator(f"#{control}").wait_for(state=state, timeout=TIMEOUT_MS)


async def _say(page: Any, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def test_a_handover_from_the_web_chat_is_answered_on_the_web_desk(
    fake_assistant, start_gateway, browser, database_url
) -> None:  # type: ignore[no-untyped-def]
    assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url, desk=desk_settings())
    store = database_url.split(":", 1)[0]

    # The agent logs in first and keeps the desk open.
    agent_context = await browser.new_context()
    desk = await agent_context.new_page()
    await desk.goto(f"{gateway.url}/desk")
    assert desk.url.startswith(f"{gateway.url}/desk/login")  # no desk without a login
    await desk.fill("#name", "alice")
    await desk.fill("#password", "not her password")
    await desk.click("button[type=submit]")
    await _wait_text(desk, ".error", "Wrong name or password.")
    await desk.fill("#name", "alice")
    await desk.fill("#password", PASSWORDS["alice"])
    await desk.click("button[type=submit]")
    await _wait_text(desk, "#me", "alice")
    assert await desk.text_content("#me") == "@alice"  # as the desk names her everywhere
    await desk.locator("#empty").wait_for(timeout=TIMEOUT_MS)
    await _shot(desk, "1-desk-empty", store)

    # The customer asks for a person in the web chat (with markup in their text).
    customer = await (await browser.new_context()).new_page()
    await customer.goto(gateway.url)
    await _say(customer, 'my bag <img src=x onerror="window.pwned=1"> is lost')
    await _wait_text(customer, "#log", "echo: my bag")
    await _say(customer, "I want a human")
    await _wait_text(customer, "#log", "A colleague will reply here.")
    await _shot(customer, "2-customer-handed-over", store)

    # The ticket appears on the open desk, without a reload.
    ticket = desk.locator("#tickets button", has_text="Customer asked for a person")
    await ticket.wait_for(timeout=TIMEOUT_MS)
    assert await desk.title() == "(1) Care desk"
    await ticket.click()
    await _wait_text(desk, "#log p.customer", "I want a human")
    await _wait_text(desk, "#understood li", "request_human 91%")
    await _buttons(desk, "claim", "resolve", "hand_back")  # an open ticket: anyone may
    assert await desk.evaluate("window.pwned") is None  # customer text is never markup
    # Correct the bot: the first message was no greeting.
    await desk.locator("#relabel-message option").first.wait_for(state="attached")
    await desk.select_option("#relabel-message", index=0)
    await desk.select_option("#relabel-intent", "baggage_issue")
    await desk.click("#relabel-form button")
    await _wait_text(desk, "#status", "the trainers will see that it was baggage_issue")
    await desk.click("#claim")
    await _wait_text(desk, "#status", "You own ticket")
    await _wait_text(desk, "#who", "claimed by @alice")
    # Hers now: no Claim; since when she has it and the customer waits for her reply.
    await _buttons(desk, "resolve", "hand_back")
    await _wait_text(
        desk, "#who", re.compile(r"with an agent for \d+ min, customer waiting \d+ min for a reply")
    )
    # The queue names the agent and the wait as the header does (before: "claimed by
    # alice", and a bare "0 min" that read as the ticket's age).
    await _wait_text(
        desk,
        "#tickets button .meta",
        re.compile(
            r" · with an agent for \d+ min, customer waiting \d+ min for a reply"
            r" · claimed by @alice"
        ),
    )
    await desk.fill("#reply", "Hi, this is Alice from the care team. Let me look.")
    await desk.click("#reply-form button")
    await _wait_text(desk, "#status", "Sent to the customer.")
    await _wait_text(
        desk, "#who", re.compile(r"with an agent for \d+ min, customer's last message answered")
    )
    await _shot(desk, "3-desk-claimed-and-replied", store)

    # The customer sees the reply; their answer reaches the desk, not the bot.
    await _wait_text(desk, "#log p.agent", "Agent (@alice):")
    await _wait_text(customer, "#log .agent", "Hi, this is Alice from the care team.")
    turns = len(assistant.turns)
    await _say(customer, "Thank you! It is bag tag NW123456.")
    await _wait_text(desk, "#log p.customer", "bag tag NW123456")
    assert len(assistant.turns) == turns
    await _wait_text(desk, "#who", re.compile(r"customer waiting \d+ min for a reply"))
    await _shot(customer, "4-customer-got-the-reply", store)
    await _shot(desk, "4-desk-customer-wrote-again", store)

    # The agent writes a note (agents only) and hands back; the bot answers again.
    await desk.fill("#note", "Bag found in Boston, courier tomorrow.")
    await desk.click("#note-form button")
    await _wait_text(desk, "#log p.activity", "Bag found in Boston")
    await desk.click("#hand_back")
    await _wait_text(desk, "#status", "back with the bot")
    # The ticket still open on the desk is closed: its wait no longer runs.
    await _wait_text(desk, "#who", "handed back to the bot by @alice")
    header = await desk.text_content("#who")
    assert header is not None and re.search(r" · waited \d+ min, closed \d+ min ago · ", header)
    await _buttons(desk)  # closed: nothing left to claim, resolve or hand back
    assert await desk.is_disabled("#priority")
    await desk.locator("#empty").wait_for(timeout=TIMEOUT_MS)
    await _shot(desk, "5-desk-handed-back", store)
    await _wait_text(customer, "#log", "I'm back!")
    await _say(customer, "hello again")
    await _wait_text(customer, "#log", "echo: hello again")
    log = await customer.text_content("#log")
    assert log is not None and "Bag found in Boston" not in log  # the note stayed internal
    assert log.count("Hi, this is Alice from the care team.") == 1
    await _shot(customer, "6-customer-bot-again", store)

    # Logging out ends the session: the desk asks for a login again.
    await desk.click("header form button")
    await desk.wait_for_url(f"{gateway.url}/desk/login", timeout=TIMEOUT_MS)
    await desk.goto(f"{gateway.url}/desk")
    assert desk.url.startswith(f"{gateway.url}/desk/login")
