"""Whole conversations through the trained model, the Rasa server and the action server.

They talk to the gateway's channel (in_rasa/bridge.py) over HTTP, as the
gateway does, so they also check what that channel returns.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Assistant

pytestmark = pytest.mark.model


class Conversation:
    """One customer talking to the assistant."""

    def __init__(
        self, assistant: Assistant, visibility: str = "private", desk: bool = True
    ) -> None:
        self.assistant = assistant
        self.sender = f"test-{uuid.uuid4().hex[:10]}"
        self.visibility = visibility
        self.desk = desk

    def say(self, text: str) -> dict[str, Any]:
        response = httpx.post(
            self.assistant.care_webhook,
            json={
                "sender": self.sender,
                "message": text,
                "message_id": uuid.uuid4().hex,
                "metadata": {"visibility": self.visibility, "desk": self.desk},
            },
            timeout=60,
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]


def responses(turn: dict[str, Any]) -> list[str]:
    return [m.get("response", "") for m in turn["messages"] if "text" in m]


def handover(turn: dict[str, Any]) -> dict[str, Any] | None:
    for message in turn["messages"]:
        if "handover" in (message.get("custom") or {}):
            return message["custom"]["handover"]  # type: ignore[no-any-return]
    return None


def test_flight_status_with_a_number(assistant: Assistant) -> None:
    turn = Conversation(assistant).say("is NW881 on time today?")
    assert turn["parse"]["intent"]["name"] in {"flight_status", "flight_delayed"}
    assert {"entity": "flight_number", "value": "NW881"}.items() <= turn["parse"]["entities"][
        0
    ].items()
    assert turn["slots"]["flight_number"] == "NW881"
    assert responses(turn)[0] == "flight_delayed"
    assert "NW 881" in turn["messages"][0]["text"]


def test_the_form_asks_for_a_missing_flight_number(assistant: Assistant) -> None:
    chat = Conversation(assistant)
    first = chat.say("my flight got cancelled this morning, what now??")
    assert first["parse"]["intent"]["name"] == "flight_cancelled"
    assert responses(first) == ["ask_flight_number"]
    assert first["active_loop"] == "flight_form"
    second = chat.say("NW 22")
    assert responses(second)[:2] == ["flight_cancelled", "rebooking_options"]
    assert second["slots"]["pending_offer"] == "rebooking"
    third = chat.say("yes please")
    assert handover(third) is not None and handover(third)["reason"] == "requested"


def test_booking_change_in_private_shows_the_booking(assistant: Assistant) -> None:
    chat = Conversation(assistant)
    assert responses(chat.say("I need to change the date of my booking")) == ["ask_booking_ref"]
    turn = chat.say("7HJK2L")
    assert responses(turn) == ["booking_summary", "change_options_flex"]
    assert all(m["metadata"].get("visibility") == "private" for m in turn["messages"])
    assert "Alex" in turn["messages"][0]["text"]


def test_booking_change_in_public_invites_to_a_dm_and_says_nothing_personal(
    assistant: Assistant,
) -> None:
    turn = Conversation(assistant, visibility="public").say(
        "@NorthwindAir I need to change the date of my booking"
    )
    assert responses(turn) == ["utter_move_to_private"]
    assert turn["messages"][0]["metadata"] == {"invite_private": True}
    assert turn["slots"]["visibility"] == "public"


def test_lost_bag_opens_a_report(assistant: Assistant) -> None:
    chat = Conversation(assistant)
    said = responses(chat.say("my suitcase never showed up at the carousel in Denver"))
    # Read as also a complaint, the report gets an apology first (in_rasa/nlu/second_intent.py).
    assert said in (["ask_booking_ref"], ["apology_baggage_issue", "ask_booking_ref"])
    turn = chat.say("K9PLZ3")
    assert responses(turn) in (["bag_report_created"], ["bag_searching"])
    assert turn["slots"]["baggage_ref"].startswith("DENNW")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("can I talk to a real person please", "requested"),
        ("2 hours on hold and then they hung up on me. unacceptable", "complaint"),
        ("who won the game last night?", "out_of_scope"),
        # Misread as a delay before issue 13 (0.63): fixed by the data and the classifier,
        # not by a rule for this sentence.
        ("you guys are the worst, 3 hours on hold", "complaint"),
    ],
)
def test_handover_says_why_in_a_form_a_program_reads(
    assistant: Assistant, text: str, reason: str
) -> None:
    turn = Conversation(assistant).say(text)
    payload = handover(turn)
    assert payload is not None
    assert payload["reason"] == reason
    assert payload["intent"] == turn["parse"]["intent"]["name"]
    assert 0 < payload["confidence"] <= 1
    assert responses(turn) == [f"handover_{reason}"]


def test_policy_question_gets_the_policy(assistant: Assistant) -> None:
    turn = Conversation(assistant).say("can I bring my cat on the plane with me?")
    assert turn["parse"]["intent"]["name"] == "product_question"
    assert turn["parse"]["response_selector"]["product_question"] == "product_question/pets"
    assert "cats and dogs" in turn["messages"][0]["text"]


def test_praise_is_answered_warmly(assistant: Assistant) -> None:
    turn = Conversation(assistant).say("the crew on my flight to Dublin were amazing, thank you 💙")
    assert responses(turn) == ["utter_praise"]


def test_handback_clears_the_handover_and_greets_again(assistant: Assistant) -> None:
    chat = Conversation(assistant)
    assert handover(chat.say("I want to speak to an agent")) is not None
    back = httpx.post(f"{assistant.rasa_url}/webhooks/care/handback", json={"sender": chat.sender})
    assert back.status_code == 200
    assert [m.get("response") for m in back.json()["messages"]] == ["back_from_handover"]
    assert "handover_reason" not in chat.say("is NW405 on time?")["slots"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "JSON"),
        (b"[1, 2]", "object"),
        (b'{"message": "hi"}', "sender"),
        (b'{"sender": "x", "message": 5}', "message"),
        (('{"sender": "x", "message": "' + "a" * 5000 + '"}').encode(), "4096"),
        (b'{"sender": "x", "message": "hi", "metadata": []}', "metadata"),
    ],
)
def test_bad_turns_are_refused_clearly(assistant: Assistant, body: bytes, error: str) -> None:
    response = httpx.post(
        assistant.care_webhook, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error in response.json()["error"]


def test_a_bag_reference_alone_is_looked_up(assistant: Assistant) -> None:
    """README's demo line; it fell back (baggage_issue 0.24) before issue 13."""
    turn = Conversation(assistant).say("any news on JFKNW10234?")
    assert turn["parse"]["intent"]["name"] == "baggage_issue"
    assert turn["slots"]["baggage_ref"] == "JFKNW10234"
    assert responses(turn)[0] in {"bag_searching", "bag_located", "bag_out_for_delivery"}
    assert "JFKNW10234" in turn["messages"][0]["text"]


def test_a_delay_that_is_also_a_complaint_gets_the_apology_and_the_facts(
    assistant: Assistant,
) -> None:
    turn = Conversation(assistant).say("NW881 delayed AGAIN, this is ridiculous")
    assert turn["parse"]["intent"]["name"] in {"flight_delayed", "flight_status"}
    assert turn["parse"]["intent_also"]["name"] == "complaint"
    assert responses(turn)[:2] == [f"apology_{turn['parse']['intent']['name']}", "flight_delayed"]
    assert "NW 881" in turn["messages"][1]["text"]


def test_a_cancellation_with_a_refund_demand_takes_the_refund_path(assistant: Assistant) -> None:
    """Both requests in one reply: the flight's facts, no rebooking offer, then the refund."""
    turn = Conversation(assistant).say("NW22 got cancelled and I want my money back")
    intents = {turn["parse"]["intent"]["name"], (turn["parse"]["intent_also"] or {}).get("name")}
    assert intents == {"flight_cancelled", "refund_request"}
    said = responses(turn)
    assert "rebooking_options" not in said
    assert "refund_next" in said or "ask_booking_ref" in said, said


def test_without_a_desk_the_assistant_offers_no_person(assistant: Assistant) -> None:
    # The gateway says so in each message's metadata (bot/contract.py, DESK_KEY).
    chat = Conversation(assistant, desk=False)
    greeting = chat.say("hi")
    identity = chat.say("are you a bot?")
    said = [m["text"] for turn in (greeting, identity) for m in turn["messages"] if "text" in m]
    assert responses(greeting) == ["utter_greet"] and responses(identity) == ["utter_iamabot"]
    assert not any("person" in text or "colleague" in text for text in said), said
    # With a desk, the same lines offer one.
    staffed = Conversation(assistant).say("are you a bot?")
    assert "person" in staffed["messages"][0]["text"]
