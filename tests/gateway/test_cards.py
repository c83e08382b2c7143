"""The handover card, built from plain data."""

from __future__ import annotations

import json
from datetime import datetime

from bot.desk.cards import TicketView, card_blocks


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
