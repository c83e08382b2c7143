"""The handover card, built from plain data."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bot.desk.cards import (
    TicketView,
    card_blocks,
    plain_text,
    queue_text,
    ticket_actions,
    wait_words,
)


def view(**changes: object) -> TicketView:
    values: dict = {
        "ticket_id": 7,
        "reason": "policy",
        "status": "open",
        "priority": "normal",
        "agent_id": None,
        "created_at": datetime(2026, 11, 23, 9, 0),
        "channel": "telegram",
        "visibility": "private",
        "customer_handle": "jane_doe",
        "customer_name": "Jane",
        "customer_platform_id": "4242",
        "link": None,
        "transcript": [],
        "understood": [
            {
                "text": "NW22 cancelled, I want my money back",
                "intent": "flight_cancelled",
                "confidence": 0.9,
            },
        ],
        "slots": {},
    }
    return TicketView(**{**values, **changes})


def test_a_card_shows_both_requests_of_a_two_request_post() -> None:
    now = datetime(2026, 11, 23, 9, 5)
    both = json.dumps(card_blocks(view(request=("flight_cancelled", "refund_request")), now))
    assert "Two requests in one:* `flight_cancelled` + `refund_request`" in both
    one = json.dumps(card_blocks(view(request=("complaint",)), now))
    assert "Two requests" not in one and "`flight_cancelled` 90%" in one


def test_a_closed_tickets_wait_no_longer_runs() -> None:
    opened = datetime(2026, 11, 23, 9, 0)
    now = opened + timedelta(hours=3)
    assert wait_words(view(), now) == "waiting 3 h"
    resolved = view(
        status="resolved",
        agent_id="alice",
        claimed_at=opened + timedelta(minutes=4),
        resolved_at=opened + timedelta(minutes=50),
    )
    assert wait_words(resolved, now) == "waited 4 min, closed 2 h 10 min ago"
    # No one took it: the customer waited until the gateway gave it back.
    given_back = view(status="handed_back", resolved_at=opened + timedelta(hours=4))
    assert wait_words(given_back, opened + timedelta(hours=4, minutes=1)) == (
        "waited 4 h, closed 1 min ago"
    )
    # The Slack card of a closed ticket is not drawn again: it says how long, not when.
    card = json.dumps(card_blocks(resolved, now))
    assert "*Waited:*\\n4 min" in card and "Waiting" not in card
    assert "*Waiting:*\\n3 h" in json.dumps(card_blocks(view(), now))


def test_a_claimed_ticket_says_when_it_was_claimed_and_how_long_the_customer_waits() -> None:
    """Before, a claimed ticket said "waiting 3 h", the ticket's age, as if no one had it."""
    opened = datetime(2026, 11, 23, 9, 0)
    now = opened + timedelta(hours=3)
    claimed = view(
        status="claimed",
        agent_id="alice",
        claimed_at=opened + timedelta(minutes=4),
        waiting_since=opened,  # no reply yet: the service levels count from the handover
    )
    assert (
        wait_words(claimed, now) == "with an agent for 2 h 56 min, customer waiting 3 h for a reply"
    )
    wrote_again = replace(claimed, waiting_since=now - timedelta(minutes=7))
    assert wait_words(wrote_again, now) == (
        "with an agent for 2 h 56 min, customer waiting 7 min for a reply"
    )
    answered = replace(claimed, waiting_since=None)
    assert (
        wait_words(answered, now)
        == "with an agent for 2 h 56 min, customer's last message answered"
    )
    # Slack's /care-queue answers now: the same words; an unclaimed ticket's wait runs.
    assert queue_text([view(ticket_id=6), wrote_again], now).splitlines()[1:] == [
        "#6 normal · Needs a decision by a person (policy) · telegram · waiting 3 h · unclaimed",
        "#7 normal · Needs a decision by a person (policy) · telegram · "
        "with an agent for 2 h 56 min, customer waiting 7 min for a reply · <@alice>",
    ]
    # The Slack card is drawn when the ticket changes, not as time passes: how long the
    # customer waited for an agent, not a "Waiting" that stopped when it was drawn.
    card = json.dumps(card_blocks(claimed, now))
    assert "*Waited:*\\n4 min" in card and "Waiting" not in card


def _buttons(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_a_ticket_offers_only_the_operations_the_desk_accepts_in_its_state() -> None:
    now = datetime(2026, 11, 23, 9, 5)
    opened = view()
    assert ticket_actions(opened, "bob") == ("claim", "reply", "resolve", "hand_back", "priority")
    claimed = view(status="claimed", agent_id="alice", claimed_at=now)
    assert ticket_actions(claimed, "alice") == ("reply", "resolve", "hand_back", "priority")
    assert ticket_actions(claimed, "bob") == ("priority",)  # a colleague's ticket
    assert ticket_actions(claimed) == ("reply", "resolve", "hand_back", "priority")  # owner's
    for status in ("resolved", "handed_back"):
        closed = view(status=status, agent_id="alice", claimed_at=now, resolved_at=now)
        assert ticket_actions(closed, "alice") == ticket_actions(closed) == ()
        assert _buttons(card_blocks(closed, now)) == []
    # The Slack card, which every agent sees, offers what its owner may do.
    assert _buttons(card_blocks(opened, now)) == [
        "claim",
        "resolve",
        "hand_back",
        "relabel",
        "note",
        "priority",
    ]
    assert _buttons(card_blocks(claimed, now)) == [
        "resolve",
        "hand_back",
        "relabel",
        "note",
        "priority",
    ]


@pytest.mark.parametrize(
    ("slack", "customer_reads"),
    [
        (
            "Fares &amp; fees: see <https://northwind.example/fees|our page>",
            "Fares & fees: see our page (https://northwind.example/fees)",
        ),
        ("<https://northwind.example/fees>", "https://northwind.example/fees"),
        (
            "mail <mailto:care@northwind.example|care@northwind.example>",
            "mail care@northwind.example",
        ),
        ("<@U2> can you check? Sorry for the wait", "can you check? Sorry for the wait"),
        ("<!here> 1 &lt; 2 &gt; 0", "1 < 2 > 0"),
        ("ask <!subteam^S1|@baggage> or see <#C1|help>", "ask @baggage or see #help"),
        ("&amp;lt; stays as typed", "&lt; stays as typed"),
        ("plain words, no markup", "plain words, no markup"),
    ],
)
def test_an_agents_slack_markup_reaches_the_customer_as_plain_text(
    slack: str, customer_reads: str
) -> None:
    assert plain_text(slack) == customer_reads
