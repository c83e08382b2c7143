"""The agents' web desk (bot/desk/web.py) on a real gateway, with the fake assistant.

The browser test (tests/gateway/test_web_desk_browser.py) drives the page; these
drive its API as the page does, and check what the customer and the store see.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.brand import load_brand
from bot.store.models import AuditEvent, OutboxItem, ReviewItem, Ticket
from bot.store.records import utcnow
from tests.fakes.slack import FakeSlack
from tests.gateway.conftest import AGENTS, eventually, slack_settings
from tests.gateway.test_desk import Desk
from tests.gateway.web_agent import WebAgent, desk_settings


class WebCustomer:
    """A customer in the web chat."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url, self.http = url, http
        self.session = uuid.uuid4().hex

    async def say(self, text: str) -> None:
        response = await self.http.post(
            f"{self.url}/webchat/api/messages",
            json={"session": self.session, "id": uuid.uuid4().hex, "text": text},
        )
        assert response.status == 202

    async def replies(self) -> list[str]:
        response = await self.http.get(
            f"{self.url}/webchat/api/messages", params={"session": self.session, "after": "0"}
        )
        return [m["text"] for m in (await response.json())["messages"]]


async def handed_over(
    start_gateway: Any, rasa_url: str, http: aiohttp.ClientSession, *said: str
) -> tuple[Any, WebCustomer, Ticket]:
    """A gateway with the web desk (no Slack), and a web chat customer who said each of
    ``said`` (each answered), the last one asking for a person: their ticket."""
    gateway = await start_gateway(rasa_url, desk=desk_settings())
    customer = WebCustomer(gateway.url, http)
    for count, text in enumerate(said, start=1):
        await customer.say(text)
        await eventually(lambda n=count: _answered(customer, n))  # type: ignore[misc]
    ticket = await eventually(lambda: the_ticket(gateway))
    return gateway, customer, ticket


def the_ticket(gateway: Any) -> Ticket | None:
    with gateway.parts.sessions() as session:
        return session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()


async def test_every_desk_route_needs_a_login(fake_assistant, start_gateway, http) -> None:  # type: ignore[no-untyped-def]
    _assistant, rasa_url = fake_assistant
    gateway, _customer, ticket = await handed_over(start_gateway, rasa_url, http, "a human please")
    paths = []
    for resource in gateway.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or ""
        if not path.startswith("/desk") or path == "/desk/login":
            continue
        for route in resource:
            concrete = path.replace("{ticket}", str(ticket.id))
            for operation in ("claim", "reply", "note", "priority", "resolve", "hand_back"):
                paths.append((route.method, concrete.replace("{operation}", operation)))
    assert len(paths) >= 10  # the page, its script, logout, the reads, every operation
    for method, path in paths:
        for headers in ({}, {"Accept": "text/html"}):
            async with aiohttp.ClientSession() as anonymous:  # no cookies at all
                response = await anonymous.request(
                    method, f"{gateway.url}{path}", headers=headers, allow_redirects=False
                )
                assert response.status in (401, 303), (method, path, response.status)
                if response.status == 303:
                    assert response.headers["Location"].startswith("/desk/login")
    assert the_ticket(gateway).status.value == "open"  # type: ignore[union-attr]


async def test_without_accounts_there_is_no_desk(fake_assistant, start_gateway, http) -> None:  # type: ignore[no-untyped-def]
    _assistant, rasa_url = fake_assistant
    gateway = await start_gateway(rasa_url)
    for path in ("/desk", "/desk/login", "/desk/api/queue"):
        assert (await http.get(f"{gateway.url}{path}")).status == 404


async def test_the_web_desk_alone_is_a_desk(fake_assistant, start_gateway, http) -> None:  # type: ignore[no-untyped-def]
    """Agents on the web desk and no Slack: a handover promises a person (not the brand's
    "no one can take this" message), says when one will answer, and the ticket is on the
    desk's queue; nothing is queued for a Slack that is not there."""
    _assistant, rasa_url = fake_assistant
    brand = load_brand()
    gateway = await start_gateway(rasa_url, desk=desk_settings(), brand=brand, watching_desk=False)
    assert gateway.parts.desks == ["web"]
    health = await (await http.get(f"{gateway.url}/healthz")).json()
    assert health["desks"] == ["web"]  # bot.run warns of no desk only when this is empty
    customer = WebCustomer(gateway.url, http)
    await customer.say("I want a human")
    await eventually(lambda: _answered(customer, 2))
    said = await customer.replies()
    assert said[0] == "A colleague will reply here."
    assert said[1].startswith(("A person from our care team", "Our care team is offline"))
    assert brand.message("no_desk") not in said
    async with WebAgent(gateway.url, "alice") as alice:
        [summary] = await eventually(lambda: _queue(alice))
        assert summary["last"] == "I want a human" and summary["agent"] is None
    with gateway.parts.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.status.value == "open" and ticket.id == summary["id"]
        channels = set(session.scalars(select(OutboxItem.channel)))
    assert channels == {"webchat"}


async def test_a_web_agent_takes_a_handover_without_slack(
    fake_assistant, start_gateway, http
) -> None:  # type: ignore[no-untyped-def]
    assistant, rasa_url = fake_assistant
    gateway, customer, _ticket = await handed_over(
        start_gateway, rasa_url, http, "hello", "I want a human"
    )
    async with WebAgent(gateway.url, "alice") as alice:
        queue = await eventually(lambda: _queue(alice))
        [summary] = queue
        assert summary["reason"] == "Customer asked for a person" and summary["agent"] is None
        assert summary["channel"] == "webchat" and summary["last"] == "I want a human"
        ticket_id = summary["id"]
        card = (await alice.get(f"tickets/{ticket_id}"))["ticket"]
        assert [u["intent"] for u in card["understood"]] == ["greet", "request_human"]
        assert card["status"] == "open" and card["priority"] == "normal"

        assert (await alice.act(ticket_id, "claim"))[0] == 200
        assert (await alice.act(ticket_id, "priority", priority="high"))[0] == 200
        status, answer = await alice.act(ticket_id, "reply", text="Hi, Alice here.", key="k" * 10)
        assert status == 200 and answer["message"] == "Sent to the customer."
        again = await alice.act(ticket_id, "reply", text="Hi, Alice here.", key="k" * 10)
        assert again == (200, {"message": "Already sent."})  # a resent POST goes out once
        await eventually(lambda: _has(customer, "Hi, Alice here."))
        assert (await alice.act(ticket_id, "note", text="frequent flyer"))[0] == 200

        # The customer answers: it reaches the desk, not the bot.
        turns = len(assistant.turns)
        await customer.say("thanks, it is NW881")
        detail = await eventually(lambda: _said(alice, ticket_id, "thanks, it is NW881"))
        assert len(assistant.turns) == turns
        # The conversation from its first message to its latest, oldest first.
        said = detail["conversation"]
        assert [m["id"] for m in said] == sorted(m["id"] for m in said)
        assert (said[0]["text"], said[-1]["text"]) == ("hello", "thanks, it is NW881")
        assert [m["agent"] for m in said if m["author"] == "agent"] == ["alice"]
        assert any(a["text"] == "frequent flyer" for a in detail["activity"])
        assert detail["ticket"]["priority"] == "high" and detail["ticket"]["agent"] == "alice"

        status, answer = await alice.act(ticket_id, "hand_back")
        assert status == 200 and "back with the bot" in answer["message"]
        await eventually(lambda: _has(customer, "I'm back!"))
        assert await alice.get("queue") == {"agent": "alice", "tickets": []}
    await customer.say("hello again")
    await eventually(lambda: _has(customer, "echo: hello again"))
    replies = await customer.replies()
    assert replies.count("Hi, Alice here.") == 1
    with gateway.parts.sessions() as session:  # no Slack: nothing queued for it
        assert session.scalars(select(OutboxItem).where(OutboxItem.channel == "slack")).all() == []


async def test_an_agent_is_named_alike_in_the_queue_the_header_and_the_log(
    fake_assistant, start_gateway, http
) -> None:  # type: ignore[no-untyped-def]
    """Before, the ticket's header said "claimed by @alice" and the queue "claimed by
    alice" (the page wrote the raw id): the view data names an agent one way. So does the
    page's header, which said "alice"."""
    _assistant, rasa_url = fake_assistant
    gateway, _customer, ticket = await handed_over(start_gateway, rasa_url, http, "human please")
    async with WebAgent(gateway.url, "alice") as alice:
        page = await (await alice.http.get(f"{gateway.url}/desk")).text()
        assert '<span id="me">@alice</span>' in page
        [waiting] = await eventually(lambda: _queue(alice))
        assert waiting["state"] == "waiting for an agent" and waiting["agent_name"] is None
        assert (await alice.act(ticket.id, "claim"))[0] == 200
        assert (await alice.act(ticket.id, "reply", text="Alice here.", key="a" * 12))[0] == 200
        [summary] = await _queue(alice)
        detail = await alice.get(f"tickets/{ticket.id}")
        card = detail["ticket"]
        assert summary["agent_name"] == card["agent_name"] == "@alice"
        assert summary["state"] == card["state"] == "claimed by @alice"
        named = {m["text"]: m["agent_name"] for m in detail["conversation"]}
        assert named["Alice here."] == "@alice" and named["human please"] is None
        assert {"who": "@alice", "action": "claimed it"} in [
            {"who": a["who"], "action": a["action"]} for a in detail["activity"]
        ]
        # And as the operations write an agent: "already claimed by @alice".
        async with WebAgent(gateway.url, "bob") as bob:
            _status, refused = await bob.act(ticket.id, "claim")
        assert refused["error"].endswith(f"claimed by {card['agent_name']}.")


async def test_a_closed_ticket_says_how_long_it_waited_not_a_running_wait(
    fake_assistant, start_gateway, http
) -> None:  # type: ignore[no-untyped-def]
    """Opened 40 minutes ago, taken after 5, handed back 10 minutes ago: the desk says the
    customer waited 5 minutes and the ticket closed 10 minutes ago (before: "waiting 40
    min", still counting)."""
    _assistant, rasa_url = fake_assistant
    gateway, _customer, ticket = await handed_over(start_gateway, rasa_url, http, "human please")
    async with WebAgent(gateway.url, "alice") as alice:
        open_card = (await alice.get(f"tickets/{ticket.id}"))["ticket"]
        assert open_card["waited"] == "0 min"
        assert (await alice.act(ticket.id, "claim"))[0] == 200
        assert (await alice.act(ticket.id, "hand_back"))[0] == 200
        now = utcnow()
        with gateway.parts.sessions.begin() as session:
            closed = session.get(Ticket, ticket.id)
            closed.created_at = now - timedelta(minutes=40, seconds=30)
            closed.claimed_at = now - timedelta(minutes=35, seconds=20)
            closed.resolved_at = now - timedelta(minutes=10, seconds=10)
        card = (await alice.get(f"tickets/{ticket.id}"))["ticket"]
        assert card["status"] == "handed_back"
        assert card["waited"] == "5 min"
        assert card["wait"] == "waited 5 min, closed 10 min ago"
        assert card["state"] == "handed back to the bot by @alice"
        assert open_card["wait"] == "waiting 0 min"


async def test_a_claimed_ticket_says_how_long_the_customer_has_waited_for_a_reply(
    fake_assistant, start_gateway, http
) -> None:  # type: ignore[no-untyped-def]
    """Opened 40 minutes ago, claimed 35 minutes ago: the desk says so, and how long the
    customer has waited for the agent's reply, as the service levels count it (before:
    "waiting 40 min", the ticket's age, however long the agent had it)."""
    _assistant, rasa_url = fake_assistant
    gateway, customer, ticket = await handed_over(start_gateway, rasa_url, http, "human please")

    def moved(**ago: timedelta) -> None:
        """The ticket's times moved into the past, each ``ago`` before now."""
        now = utcnow()
        with gateway.parts.sessions.begin() as session:
            moving = session.get(Ticket, ticket.id)
            for name, before in ago.items():
                setattr(moving, name, now - before - timedelta(seconds=10))

    async with WebAgent(gateway.url, "alice") as alice:

        async def card() -> dict[str, Any]:
            return dict((await alice.get(f"tickets/{ticket.id}"))["ticket"])

        assert (await alice.act(ticket.id, "claim"))[0] == 200
        moved(created_at=timedelta(minutes=40), claimed_at=timedelta(minutes=35))
        claimed = await card()
        assert claimed["state"] == "claimed by @alice"
        assert claimed["wait"] == "with an agent for 35 min, customer waiting 40 min for a reply"
        assert claimed["waited"] == "5 min"  # until an agent took it, as a closed ticket's
        [summary] = await _queue(alice)
        assert (summary["wait"], summary["waited"]) == (claimed["wait"], "5 min")

        assert (await alice.act(ticket.id, "reply", text="On it.", key="r" * 12))[0] == 200
        assert (await card())[
            "wait"
        ] == "with an agent for 35 min, customer's last message answered"
        moved(last_agent_at=timedelta(minutes=20))
        await customer.say("any news?")
        await eventually(lambda: _said(alice, ticket.id, "any news?"))
        # Their message, 12 minutes ago, began their wait (bot/conversation/unanswered.py).
        moved(last_customer_at=timedelta(minutes=12), customer_waiting_since=timedelta(minutes=12))
        assert (await card())[
            "wait"
        ] == "with an agent for 35 min, customer waiting 12 min for a reply"


async def test_a_ticket_offers_only_what_the_desk_accepts(
    fake_assistant, start_gateway, http
) -> None:  # type: ignore[no-untyped-def]
    """The card lists the operations the agent may do now (the page shows only their
    buttons), and they are exactly the ones the desk accepts: each one left out is refused
    (before: Claim, Resolve and Hand back stayed on a closed ticket, and were refused)."""
    _assistant, rasa_url = fake_assistant
    gateway, customer, ticket = await handed_over(start_gateway, rasa_url, http, "human please")
    buttons = {"claim", "reply", "resolve", "hand_back", "priority"}

    async def offered(agent: WebAgent, ticket_id: int) -> list[str]:
        return list((await agent.get(f"tickets/{ticket_id}"))["ticket"]["actions"])

    async def refused(agent: WebAgent, ticket_id: int, offers: list[str]) -> None:
        for operation in sorted(buttons - set(offers)):
            status, _ = await agent.act(
                ticket_id, operation, priority="high", text="hello", key=f"r{operation}" * 3
            )
            assert status == 409, (agent.name, operation)

    async with WebAgent(gateway.url, "alice") as alice, WebAgent(gateway.url, "bob") as bob:
        opened = await offered(alice, ticket.id)
        assert opened == ["claim", "reply", "resolve", "hand_back", "priority"]
        assert (await alice.act(ticket.id, "claim"))[0] == 200

        assert await offered(alice, ticket.id) == ["reply", "resolve", "hand_back", "priority"]
        assert await offered(bob, ticket.id) == ["priority"]  # alice's ticket
        await refused(bob, ticket.id, ["priority"])
        assert (await bob.act(ticket.id, "priority", priority="high"))[0] == 200
        assert (await alice.act(ticket.id, "hand_back"))[0] == 200

        for agent in (alice, bob):  # closed: nothing left to do
            assert await offered(agent, ticket.id) == []
            await refused(agent, ticket.id, [])
        # Anyone may resolve (or hand back) an open ticket without claiming it first.
        await customer.say("a human again please")
        second = await eventually(lambda: (t := the_ticket(gateway)) and t.id != ticket.id and t)
        assert await offered(bob, second.id) == opened
        assert (await bob.act(second.id, "resolve"))[0] == 200
        assert await offered(bob, second.id) == []


async def test_the_desk_refuses_what_is_not_the_agents_to_do(
    fake_assistant, start_gateway, http
) -> None:  # type: ignore[no-untyped-def]
    _assistant, rasa_url = fake_assistant
    gateway, customer, ticket = await handed_over(start_gateway, rasa_url, http, "human please")
    async with WebAgent(gateway.url, "alice") as alice, WebAgent(gateway.url, "bob") as bob:
        assert (await alice.act(ticket.id, "claim"))[0] == 200
        status, answer = await bob.act(ticket.id, "claim")
        assert (
            status == 409
            and answer["error"] == f"Ticket #{ticket.id} is already claimed by @alice."
        )
        status, answer = await bob.act(ticket.id, "reply", text="me too", key="b" * 12)
        assert status == 409 and "not sent to the customer" in answer["error"]
        assert (await bob.act(ticket.id, "resolve"))[0] == 409
        assert (await bob.act(ticket.id, "hand_back"))[0] == 409
        # Bad input: a clear 4xx, nothing done.
        for operation, body in [
            ("reply", {"text": "  ", "key": "c" * 12}),
            ("reply", {"text": "x" * 4097, "key": "c" * 12}),
            ("reply", {"text": "hi", "key": "../x"}),
            ("reply", {"text": ["hi"], "key": "c" * 12}),
            ("priority", {"priority": "whenever"}),
            ("relabel", {"message_id": "1", "intent": "greet"}),
            ("note", [1, 2]),
        ]:
            status, answer = (
                await alice.act(ticket.id, operation, **body)
                if isinstance(body, dict)
                else await _raw(alice, ticket.id, operation, body)
            )
            assert status == 400, (operation, body, status, answer)
        assert (await alice.act(ticket.id, "explode"))[0] == 404
        assert (await alice.act(10**17, "claim"))[0] == 409  # no such ticket
        too_long = await alice.http.post(
            f"{gateway.url}/desk/api/tickets/{'9' * 30}/claim",
            headers={"Origin": gateway.url, "X-CSRF-Token": alice.csrf},
        )
        assert too_long.status == 404
        forged = await alice.http.post(
            f"{gateway.url}/desk/api/tickets/{ticket.id}/resolve",
            headers={"Origin": gateway.url, "X-CSRF-Token": bob.csrf},
        )
        assert forged.status == 403
    assert "Alice" not in " ".join(await customer.replies())
    with gateway.parts.sessions() as session:
        refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "refused")).all()
        assert {e.actor for e in refused} == {"bob", "alice"}
    assert the_ticket(gateway).status.value == "claimed"  # type: ignore[union-attr]


async def test_correcting_the_bot_reaches_the_trainers(fake_assistant, start_gateway, http) -> None:  # type: ignore[no-untyped-def]
    _assistant, rasa_url = fake_assistant
    gateway, _customer, ticket = await handed_over(
        start_gateway, rasa_url, http, "unsure what to do", "a human please"
    )
    async with WebAgent(gateway.url, "alice") as alice:
        choices = await alice.get(f"tickets/{ticket.id}/relabel")
        first = choices["messages"][0]
        assert "refund_request" in choices["intents"]
        status, answer = await alice.act(
            ticket.id, "relabel", message_id=first["id"], intent="refund_request"
        )
        assert status == 200 and "refund_request" in answer["message"]
        status, _ = await alice.act(ticket.id, "relabel", message_id=first["id"], intent="nope")
        assert status == 409
    with gateway.parts.sessions() as session:
        item = session.scalars(select(ReviewItem)).one()
        assert item.message_id == first["id"] and item.suggested_intent == "refund_request"


async def test_slack_and_the_web_desk_share_tickets_and_one_owner(
    fake_assistant, fake_telegram, fake_slack, start_gateway, http
) -> None:  # type: ignore[no-untyped-def]
    from tests.gateway.conftest import telegram_settings

    _assistant, rasa_url = fake_assistant
    telegram, api = fake_telegram
    slack, slack_api = fake_slack
    gateway = await start_gateway(
        rasa_url,
        telegram=telegram_settings(api),
        slack=slack_settings(slack_api),
        desk=desk_settings(),
    )
    desk = Desk(gateway, slack, telegram, http)
    first, _thread = await desk.hand_over()
    async with WebAgent(gateway.url, "alice") as alice:
        # Claimed in Slack: the web desk is refused.
        await desk.click(AGENTS[0], "claim", str(first.id))
        status, answer = await alice.act(first.id, "claim")
        assert status == 409 and f"claimed by @{AGENTS[0]}" in answer["error"]
        assert desk.ticket().agent_id == AGENTS[0]
        await desk.click(AGENTS[0], "hand_back", str(first.id))
        # A new handover, claimed on the web: Slack is refused, and its card says who.
        await telegram.say("another human please", chat_id=4242, user_id=4242)
        second = await eventually(lambda: (t := desk.ticket()) and t.id != first.id and t)
        await eventually(lambda: desk.ticket().desk_thread)
        assert (await alice.act(second.id, "claim"))[0] == 200
        await desk.click(AGENTS[1], "claim", str(second.id))
        told = [e["text"] for e in slack.called("chat.postEphemeral")]
        assert f"Ticket #{second.id} is already claimed by <@alice>." in told
        assert desk.ticket().agent_id == "alice"
        await eventually(lambda: _card_says(slack, "claimed by <@alice>"))


def _card_says(slack: FakeSlack, text: str) -> bool:
    return any(text in str(update.get("blocks")) for update in slack.called("chat.update"))


async def _answered(customer: WebCustomer, count: int) -> bool:
    return len(await customer.replies()) >= count


async def _queue(agent: WebAgent) -> list[dict[str, Any]]:
    return list((await agent.get("queue"))["tickets"])


async def _has(customer: WebCustomer, text: str) -> bool:
    return text in await customer.replies()


async def _said(agent: WebAgent, ticket_id: int, text: str) -> dict[str, Any] | None:
    detail = await agent.get(f"tickets/{ticket_id}")
    return detail if any(m["text"] == text for m in detail["conversation"]) else None


async def _raw(agent: WebAgent, ticket_id: int, operation: str, body: Any) -> tuple[int, Any]:
    response = await agent.http.post(
        f"{agent.url}/desk/api/tickets/{ticket_id}/{operation}",
        json=body,
        headers={"Origin": agent.url, "X-CSRF-Token": agent.csrf},
    )
    await asyncio.sleep(0)
    return response.status, await response.json()
