"""The handover card, built from plain data."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from bot.desk.cards import TicketView, card_blocks, plain_text


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
