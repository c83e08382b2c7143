"""The review inbox on a real SQLite store: what enters it, grouping, decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.review.inbox import ReviewError, ReviewInbox
from bot.review.nludata import NluFile
from bot.store.models import ReviewStatus
from tests.review.conftest import StoreMessage


def test_unsure_and_handed_over_messages_enter_once_and_redacted(
    inbox: ReviewInbox, store_message: StoreMessage
) -> None:
    store_message("want my money back, write to jane.doe@example.com", "refund_request", 0.31)
    store_message("is NW881 on time?", "flight_status", 0.97)  # sure: not for review
    store_message(
        "@NorthwindAir ref QX7K2P, nobody answers, my name is Jane Smith",
        "complaint",
        0.88,
        handover="complaint",
    )
    store_message("hello??", "greet", 0.9, handover="bot_unavailable")  # bot never saw it
    assert inbox.collect() == 2
    assert inbox.collect() == 0
    items = {item.source: item for item in inbox.items()}
    assert set(items) == {"low_confidence", "handover"}
    low, handover = items["low_confidence"], items["handover"]
    assert (low.predicted_intent, low.confidence) == ("refund_request", 0.31)
    assert low.channel == "telegram"
    assert low.text == "want my money back, write to <email>"
    assert handover.reason == "complaint"
    assert "QX7K2P" not in handover.text and "Jane" not in handover.text
    assert handover.text.startswith("@NorthwindAir ref [ABC123](booking_ref)")


def test_near_duplicates_are_grouped_and_known_examples_marked(
    inbox: ReviewInbox, store_message: StoreMessage, nlu_copy: Path
) -> None:
    known = next(NluFile(nlu_copy).examples())
    for text in (
        "@NorthwindAir where is my bag?? been 3 days",
        "where is my bag, its been 3 days already",
        "I want a refund for my cancelled flight",
        known.text.upper(),
    ):
        store_message(text, "complaint", 0.2)
    inbox.collect()
    groups = inbox.groups()
    sizes = sorted(len(g.items) for g in groups)
    assert sizes == [1, 1, 2]
    [pair] = [g for g in groups if len(g.items) == 2]
    assert all("bag" in item.text for item in pair.items)
    marked = [i for g in groups for i in g.items if i.in_training_data]
    assert [i.in_training_data for i in marked] == [known.intent]


def test_approving_writes_the_example_relabelled_and_annotated(
    inbox: ReviewInbox, store_message: StoreMessage, nlu_copy: Path
) -> None:
    store_message("is flt 881 leaving on time tmrw or not", "flight_delayed", 0.35)
    inbox.collect()
    [item] = inbox.items()
    text = "is flt [881](flight_number) leaving on time tmrw or not"
    decision = inbox.approve(item.id, "trainer", intent="flight_status", text=text)
    assert decision.written and decision.intent == "flight_status"
    added = [e for e in NluFile(nlu_copy).examples() if e.text == text]
    assert [e.intent for e in added] == ["flight_status"]
    assert inbox.items() == []
    [approved] = inbox.items(ReviewStatus.APPROVED)
    assert approved.status == "approved"
    with pytest.raises(ReviewError, match="already approved"):
        inbox.discard(item.id, "trainer")


@pytest.mark.parametrize(
    ("text", "intent", "why"),
    [
        ("call me on +44 7700 900123 about my refund", "refund_request", "personal data: phone"),
        ("mail me: jane@example.com", "refund_request", "personal data: email"),
        ("flight [881](flight_nr) late", "flight_delayed", "unknown entity 'flight_nr'"),
        ("flight [881(flight_number) late", "flight_delayed", "unbalanced"),
        ("   ", "flight_delayed", "empty"),
        ("my bag is lost", "lost_luggage", "known intent"),
    ],
)
def test_approvals_that_would_harm_the_data_are_refused(
    inbox: ReviewInbox,
    store_message: StoreMessage,
    nlu_copy: Path,
    text: str,
    intent: str,
    why: str,
) -> None:
    store_message("something the bot did not get", "complaint", 0.2)
    inbox.collect()
    [item] = inbox.items()
    before = nlu_copy.read_text(encoding="utf-8")
    with pytest.raises(ReviewError, match=why):
        inbox.approve(item.id, "trainer", intent=intent, text=text)
    assert nlu_copy.read_text(encoding="utf-8") == before
    assert [i.id for i in inbox.items()] == [item.id]


def test_an_example_already_in_the_data_is_approved_without_a_second_copy(
    inbox: ReviewInbox, store_message: StoreMessage, nlu_copy: Path
) -> None:
    known = next(NluFile(nlu_copy).examples())
    store_message(known.text + "!!", "greet", 0.1)
    inbox.collect()
    [item] = inbox.items()
    before = nlu_copy.read_text(encoding="utf-8")
    decision = inbox.approve(item.id, "trainer", intent=known.intent)
    assert not decision.written
    assert nlu_copy.read_text(encoding="utf-8") == before


def test_discarded_items_leave_the_inbox_and_do_not_come_back(
    inbox: ReviewInbox, store_message: StoreMessage
) -> None:
    store_message("asdfgh", "out_of_scope", 0.15)
    inbox.collect()
    [item] = inbox.items()
    assert inbox.discard(item.id, "trainer").status == "discarded"
    assert inbox.collect() == 0
    assert inbox.items() == []


def test_an_agents_relabel_is_kept_as_the_proposal(
    inbox: ReviewInbox, store_message: StoreMessage
) -> None:
    message = store_message("my bag came out of the belt torn open", "complaint", 0.93)
    item_id = inbox.add_relabel(message, "baggage_issue", "U0AGENT1")
    again = inbox.add_relabel(message, "baggage_issue", "U0AGENT2")
    assert again == item_id
    [item] = inbox.items()
    assert (item.source, item.predicted_intent, item.suggested_intent) == (
        "relabelled",
        "complaint",
        "baggage_issue",
    )
    assert item.proposed_intent == "baggage_issue"
    with pytest.raises(ReviewError, match="unknown intent"):
        inbox.add_relabel(message, "lost_bag", "U0AGENT1")


def test_handovers_after_a_collection_are_found_by_the_next(
    inbox: ReviewInbox, store_message: StoreMessage
) -> None:
    store_message(
        "this is the third time I write, nobody helps", "complaint", 0.9, handover="complaint"
    )
    assert inbox.collect() == 1
    store_message("can I bring my cat in the cabin", "product_question", 0.8, handover="requested")
    assert inbox.collect() == 1
    assert inbox.collect() == 0
    assert sorted(i.reason or "" for i in inbox.items()) == ["complaint", "requested"]


def test_groups_stay_after_a_decision_and_take_in_new_items(
    inbox: ReviewInbox, store_message: StoreMessage
) -> None:
    store_message("where is my bag, 3 days now", "baggage_issue", 0.3)
    store_message("where is my bag?? 3 days now!!", "baggage_issue", 0.2)
    store_message("is there wifi on board", "out_of_scope", 0.2)
    inbox.collect()
    sizes = sorted(len(g.items) for g in inbox.groups())
    assert sizes == [1, 2]
    first = inbox.groups()[0].items[0]
    inbox.discard(first.id, "trainer")
    assert sorted(len(g.items) for g in inbox.groups()) == [1, 1]
    store_message("where is my bag, 3 days now?", "baggage_issue", 0.3)
    inbox.collect()
    groups = inbox.groups()
    assert sorted(len(g.items) for g in groups) == [1, 2]
    assert first.id not in {i.id for g in groups for i in g.items}
