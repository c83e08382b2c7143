"""Satisfaction ratings in the web chat (bot/conversation/csat.py): offered once after a
resolution, rated with one tap, and nothing else accepted as a rating. The real gateway, the
fake assistant (which reads "/intent" as Rasa does), and the page in headless Chromium."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
from sqlalchemy import func, select

from bot.brand import load_brand
from bot.store.models import Message, OutboxItem, Rating, Ticket
from tests.gateway.conftest import RunningGateway, eventually
from tests.gateway.test_web_desk import handed_over
from tests.gateway.test_webchat_page import screenshot
from tests.gateway.web_agent import WebAgent

BRAND = load_brand()
QUESTION = BRAND.message("rating_question")
THANKS = BRAND.message("rating_thanks")


class Customer:
    """A web chat customer, talking and tapping through the page's API."""

    def __init__(self, gateway: RunningGateway, http: aiohttp.ClientSession, session: str = ""):
        self.url, self.http = gateway.url, http
        self.session = session or uuid.uuid4().hex

    async def say(self, text: str, mid: str | None = None) -> None:
        answer = await self.http.post(
            f"{self.url}/webchat/api/messages",
            json={"session": self.session, "id": mid or uuid.uuid4().hex, "text": text},
        )
        assert answer.status == 202

    async def messages(self) -> list[dict[str, Any]]:
        answer = await self.http.get(
            f"{self.url}/webchat/api/messages", params={"session": self.session}
        )
        return list((await answer.json())["messages"])

    async def questions(self) -> list[dict[str, Any]]:
        return [m for m in await self.messages() if "rating" in m]

    async def answered(self, count: int) -> list[dict[str, Any]] | None:
        found = await self.messages()
        return found if len(found) >= count else None

    async def rate(self, body: Any) -> tuple[int, Any]:
        """A tap as the page posts it (``body`` as given: tests send bad ones too)."""
        answer = await self.http.post(f"{self.url}/webchat/api/ratings", json=body)
        return answer.status, await answer.json(content_type=None)

    async def tap(self, rating: int, score: int) -> tuple[int, Any]:
        return await self.rate({"session": self.session, "rating": rating, "score": score})


def ratings(gateway: RunningGateway) -> list[Rating]:
    with gateway.parts.sessions() as db:
        return list(db.scalars(select(Rating).order_by(Rating.id)))


def questions_queued(gateway: RunningGateway) -> int:
    with gateway.parts.sessions() as db:
        items = db.scalars(select(OutboxItem)).all()
        return sum(1 for item in items if "rating" in item.payload)


async def resolved_by_the_bot(customer: Customer, said: int = 0) -> dict[str, Any]:
    """The customer asks (the bot answers) and thanks: the question comes."""
    await customer.say("/flight_status is NW881 on time?")
    await eventually(lambda: customer.answered(said + 1))
    await customer.say("/thank thanks!")
    [question] = await eventually(customer.questions)
    return question


async def test_an_agents_resolution_is_offered_once_and_rated_with_one_tap(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway, web_customer, ticket = await handed_over(
        start_gateway, rasa_url, http, "get me a human"
    )
    customer = Customer(gateway, http, web_customer.session)
    async with WebAgent(gateway.url, "alice") as alice:
        assert (await alice.act(ticket.id, "claim"))[0] == 200
        assert (await alice.act(ticket.id, "resolve"))[0] == 200
        assert (await alice.act(ticket.id, "resolve"))[0] == 409  # resolved once
    [question] = await eventually(customer.questions)
    assert question["text"] == QUESTION and question["author"] == "system"
    assert question["rating"]["labels"] == list(BRAND.rating_labels)
    assert question["rating"]["score"] is None
    # The resolution recorded again (a retried request, a second worker): no second question.
    with gateway.parts.sessions.begin() as db:
        gateway.parts.care.ratings.after_ticket(db, db.get(Ticket, ticket.id), ticket.created_at)
    await asyncio.sleep(0.5)
    assert len(await customer.questions()) == 1 and questions_queued(gateway) == 1

    rating = question["rating"]["id"]
    assert await customer.tap(rating, 5) == (200, {"score": 5, "thanks": THANKS})
    assert await customer.tap(rating, 5) == (200, {"score": 5, "thanks": THANKS})  # double tap
    status, kept = await customer.tap(rating, 1)  # a second thought: the first tap stays
    assert (status, kept["score"]) == (409, 5)
    [shown] = await customer.questions()
    assert shown["rating"]["score"] == 5  # what a reloaded page shows
    [stored] = ratings(gateway)
    assert (stored.ticket_id, stored.resolution, stored.channel) == (
        ticket.id,
        f"ticket:{ticket.id}",
        "webchat",
    )
    assert stored.score == 5 and stored.message_id == shown["id"]
    assert stored.offered_at <= stored.rated_at


async def test_the_bot_resolves_a_request_when_the_customer_thanks_it(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    customer = Customer(gateway, http)
    question = await resolved_by_the_bot(customer)
    said = await customer.messages()
    # The bot's reply to the thanks first, then the question.
    assert [m["text"] for m in said][-2:] == ["echo: /thank thanks!", QUESTION]
    assert question["rating"]["score"] is None
    # Thanks again, and goodbye: the same request, resolved once.
    await customer.say("/thank thanks again")
    await customer.say("/goodbye bye")
    await eventually(lambda: customer.answered(len(said) + 2))
    await asyncio.sleep(0.3)
    assert len(await customer.questions()) == 1
    # A new request, answered, then goodbye: a new resolution, a new question.
    await customer.say("/baggage_issue and my bag?")
    await eventually(lambda: customer.answered(len(said) + 3))
    await customer.say("/goodbye bye")
    await eventually(lambda: _count(customer.questions, 2))
    assert [r.resolution for r in ratings(gateway)] == [
        f"bot:{r}" for r in _request_ids(gateway, "flight_status", "baggage_issue")
    ]
    assert all(r.ticket_id is None for r in ratings(gateway))

    # Small talk alone resolves nothing; a typed "5" is a message, not a rating.
    other = Customer(gateway, http)
    await other.say("hi there")
    await eventually(lambda: other.answered(1))
    await other.say("/thank thanks")
    await other.say("5")
    await eventually(lambda: other.answered(3))
    await asyncio.sleep(0.3)
    assert await other.questions() == []
    assert len(ratings(gateway)) == 2 and all(r.score is None for r in ratings(gateway))


async def test_a_thanks_stored_before_the_answer_it_thanks_for_still_resolves(
    fake_assistant, start_gateway, http
) -> None:
    assistant, rasa_url = fake_assistant
    assistant.delay = 3.0  # the customer thanks while the bot is still answering
    gateway = await start_gateway(rasa_url, rasa_timeout=10.0)
    customer = Customer(gateway, http)
    await customer.say("/flight_status is NW881 on time?")
    # Once the assistant has the request (not after a fixed 0.2 s of a 0.6 s turn: a loaded
    # machine's lag let the answer be stored first); the thanks is stored when accepted.
    await eventually(lambda: assistant.turns)
    await customer.say("/thank thanks!")
    assistant.delay = 0.0  # the thanks' own turn need not wait
    [question] = await eventually(customer.questions)
    with gateway.parts.sessions() as db:
        said = db.execute(select(Message.author, Message.text).order_by(Message.id)).all()
    # Stored in this order: the request, the thanks, then the bot's answer to the request.
    assert [author.value for author, _text in said][:3] == ["customer", "customer", "bot"]
    assert said[-1][1] == QUESTION and question["rating"]["score"] is None


async def test_no_question_after_a_handover_and_never_twice_for_a_redelivered_thanks(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway, web_customer, ticket = await handed_over(
        start_gateway, rasa_url, http, "/flight_status is NW881 on time?", "get me a human"
    )
    customer = Customer(gateway, http, web_customer.session)
    async with WebAgent(gateway.url, "alice") as alice:
        assert (await alice.act(ticket.id, "claim"))[0] == 200
        assert (await alice.act(ticket.id, "hand_back"))[0] == 200  # not resolved: no question
    count = len(await eventually(lambda: customer.answered(3)))  # + "I'm back!"
    # The latest request was handed over: thanking the bot now resolves nothing.
    await customer.say("/thank thanks")
    await eventually(lambda: customer.answered(count + 1))
    await asyncio.sleep(0.3)
    assert await customer.questions() == [] and ratings(gateway) == []

    # The same thanks, posted five times at once (a page retrying): stored once, one question.
    fresh = Customer(gateway, http)
    await fresh.say("/flight_status is NW22 on time?")
    await eventually(lambda: fresh.answered(1))
    mid = uuid.uuid4().hex
    await asyncio.gather(*(fresh.say("/thank thanks!", mid) for _ in range(5)))
    await eventually(fresh.questions)
    await asyncio.sleep(0.5)
    assert len(await fresh.questions()) == 1 and questions_queued(gateway) == 1


async def test_bad_taps_are_refused_and_touch_no_conversation(
    fake_assistant, start_gateway, http
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    ann, ben = Customer(gateway, http), Customer(gateway, http)
    ann_rating = (await resolved_by_the_bot(ann))["rating"]["id"]
    ben_rating = (await resolved_by_the_bot(ben))["rating"]["id"]
    refused = [
        # Another customer's rating, or none at all: not found in this conversation.
        (404, {"session": ben.session, "rating": ann_rating, "score": 5}),
        (404, {"session": ann.session, "rating": 10**12, "score": 5}),
        (404, {"session": uuid.uuid4().hex, "rating": ann_rating, "score": 5}),
        # Off the scale, or not a whole number as the page sends it.
        (400, {"session": ann.session, "rating": ann_rating, "score": 0}),
        (400, {"session": ann.session, "rating": ann_rating, "score": 6}),
        (400, {"session": ann.session, "rating": ann_rating, "score": -1}),
        (400, {"session": ann.session, "rating": ann_rating, "score": "5"}),
        (400, {"session": ann.session, "rating": ann_rating, "score": True}),
        (400, {"session": ann.session, "rating": ann_rating, "score": 4.0}),
        (400, {"session": ann.session, "rating": ann_rating, "score": None}),
        (400, {"session": ann.session, "rating": 2**63, "score": 5}),
        (400, {"session": ann.session, "rating": 0, "score": 5}),
        (400, {"session": ann.session, "rating": str(ann_rating), "score": 5}),
        (400, {"session": "../../x", "rating": ann_rating, "score": 5}),
        (400, {"session": ann.session, "score": 5}),
        (400, [ann.session, ann_rating, 5]),
        (400, "5"),
    ]
    for status, body in refused:
        answer = await customer_post(http, gateway, body)
        assert answer[0] == status, (body, answer)
    not_json = await http.post(f"{gateway.url}/webchat/api/ratings", data=b"\xff{score: 5")
    assert not_json.status == 400
    assert [r.score for r in ratings(gateway)] == [None, None]

    # Ann's tap counts for Ann only.
    assert (await ann.tap(ann_rating, 4))[0] == 200
    assert (await ben.tap(ann_rating, 1))[0] == 404
    assert {r.id: r.score for r in ratings(gateway)} == {ann_rating: 4, ben_rating: None}
    [ben_question] = await ben.questions()
    assert ben_question["rating"]["score"] is None


async def test_the_page_shows_the_question_and_marks_the_choice_after_a_reload(
    fake_assistant, start_gateway, browser
) -> None:
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    tabs = await browser.new_context()
    page = await tabs.new_page()
    await page.goto(gateway.url)
    for text in ("/flight_status is NW881 on time?", "/thank thanks!"):
        await page.fill("#text", text)
        await page.press("#text", "Enter")
        await page.wait_for_timeout(300)
    await page.wait_for_selector(".msg.system .rating button")
    labels = await page.eval_on_selector_all(".rating button", "bs => bs.map(b => b.textContent)")
    assert labels == list(BRAND.rating_labels)
    await screenshot(page, "rating-offered")

    await page.click(".rating button[data-score='4']")
    await page.wait_for_selector(".rating .thanks")
    assert await page.text_content(".rating .thanks") == THANKS
    assert await page.eval_on_selector_all(
        ".rating button", "bs => bs.map(b => [b.disabled, b.classList.contains('chosen')])"
    ) == [[True, False], [True, False], [True, False], [True, True], [True, False]]
    await screenshot(page, "rating-chosen")
    assert [r.score for r in ratings(gateway)] == [4]

    await page.reload()  # the store's choice, not the page's memory
    await page.wait_for_selector(".rating button.chosen")
    assert await page.get_attribute(".rating button.chosen", "data-score") == "4"
    assert await page.eval_on_selector_all(".rating button:enabled", "bs => bs.length") == 0
    assert await page.eval_on_selector_all(".msg.system", "ms => ms.length") == 1
    await tabs.close()


async def customer_post(
    http: aiohttp.ClientSession, gateway: RunningGateway, body: Any
) -> tuple[int, str]:
    answer = await http.post(f"{gateway.url}/webchat/api/ratings", json=body)
    return answer.status, await answer.text()


async def _count(read: Any, count: int) -> bool:
    return len(await read()) >= count


def _request_ids(gateway: RunningGateway, *intents: str) -> list[int]:
    with gateway.parts.sessions() as db:
        return [
            db.scalar(select(func.min(Message.id)).where(Message.intent == intent))
            for intent in intents
        ]
