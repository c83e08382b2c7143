"""The share of a message's words an intent's examples used (in_rasa/nlu/word_support.py)."""

from __future__ import annotations

import numpy as np
import pytest

from in_rasa.nlu.word_support import WordSupport, words

EXAMPLES = [
    ("my bag was lost", 0),
    ("lost luggage at the airport", 0),
    ("the flight is delayed", 1),
    ("why is my flight late", 1),
    ("flight 881 delayed", 1),
]


def support() -> WordSupport:
    texts, labels = zip(*EXAMPLES, strict=True)
    return WordSupport.fit(list(texts), list(labels), intents=2)


def test_words_drop_stop_words_and_light_endings() -> None:
    assert words("What is the STATUS of my Flights?") == ["statu", "flight"]
    assert words("is it") == ["is", "it"]  # nothing but stop words: keep them
    assert words("👍👍") == []


def test_links_and_handles_are_not_words_and_numbers_are_one() -> None:
    assert words("@jane_d NW 881 delayed https://t.co/xR4kLm2Q again") == [
        "nw",
        "0",
        "delay",
        "again",
    ]
    # A flight number the examples never had is no unknown word.
    assert support()(["flight 2034 delayed"])[0, 1] == pytest.approx(1.0)


def test_a_name_no_example_had_is_left_out_and_a_known_one_counts() -> None:
    from in_rasa.nlu.word_support import names

    assert names("the agent in Nashville at PHX was rude, ask Karen") == {
        "nashville",
        "phx",
        "karen",
    }
    assert names("Flight late. Again") == set()  # sentence starts are not names
    assert names("MY FLIGHT IS LATE AGAIN") == set()  # shouting: every word is capitalised
    table = support()
    # "Nashville" is no example's word: left out, not a word the intent lacks.
    assert table(["bag lost in Nashville"])[0, 0] == pytest.approx(1.0)
    assert table(["bag lost in nashville"])[0, 0] < 1.0
    # "Delayed" is an example's word, capitalised or not.
    assert table(["my flight Delayed"])[0, 1] == pytest.approx(table(["my flight delayed"])[0, 1])


def test_an_intents_own_words_are_fully_supported_and_others_not() -> None:
    shares = support()(["bags lost", "flight delayed", "lost flight", "recipe for crisps"])
    assert shares[0] == pytest.approx([1.0, 0.0])
    assert shares[1] == pytest.approx([0.0, 1.0])
    assert 0.0 < shares[2][0] < 1.0 and 0.0 < shares[2][1] < 1.0
    assert shares[3] == pytest.approx([0.0, 0.0])


def test_rare_words_count_for_more_than_common_ones() -> None:
    table = support()
    # "lost" is in two examples, "airport" in one: missing the rarer word costs more.
    with_common = table(["lost zzz"])[0, 0]
    with_rare = table(["airport zzz"])[0, 0]
    assert with_rare > with_common > 0.0


def test_a_message_without_words_is_not_judged() -> None:
    assert np.all(support()(["🙂"]) == 1.0)
