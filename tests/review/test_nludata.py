"""The round-trip writer of data/nlu.yml: a change is exactly the lines it adds."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from bot.review.groups import group_near_duplicates
from bot.review.nludata import NLU_FILE, NluFile, normalise


def _diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_loading_and_saving_changes_nothing(nlu_copy: Path) -> None:
    before = nlu_copy.read_text(encoding="utf-8")
    NluFile(nlu_copy).save()
    assert nlu_copy.read_text(encoding="utf-8") == before


def test_added_examples_are_the_only_change_and_comments_and_order_survive(
    nlu_copy: Path,
) -> None:
    before = nlu_copy.read_text(encoding="utf-8")
    nlu = NluFile(nlu_copy)
    order = nlu.intents()
    new = [
        "@NorthwindAir crew on NW12 were 🔥🔥 best flight of my life 𝓽𝓱𝓪𝓷𝓴𝓼 ✈️",
        'she said "no problem at all" and fixed it: #legend',
    ]
    assert nlu.add("praise", new) == new
    nlu.save()
    after = nlu_copy.read_text(encoding="utf-8")
    assert _diff(before, after) == [f"+    - {text}" for text in new]
    assert [line for line in after.splitlines() if line.startswith("#")] == [
        line for line in before.splitlines() if line.startswith("#")
    ]
    reread = NluFile(nlu_copy)
    assert reread.intents() == order
    praise = [e.text for e in reread.examples() if e.intent == "praise"]
    assert praise[-2:] == new


def test_the_written_file_is_valid_rasa_training_data(nlu_copy: Path) -> None:
    nlu = NluFile(nlu_copy)
    nlu.add("flight_status", ["is [NW 881](flight_number) boarding at [JFK](airport) yet?"])
    nlu.add("product_question/wifi", ["does the A321 have wifi or nah"])
    nlu.save()
    data = load_data(str(nlu_copy))
    by_text = {m.get("text"): m for m in data.intent_examples}
    status = by_text["is NW 881 boarding at JFK yet?"]
    assert status.get("intent") == "flight_status"
    assert [(e["entity"], e["value"]) for e in status.get("entities")] == [
        ("flight_number", "NW 881"),
        ("airport", "JFK"),
    ]
    wifi = by_text["does the A321 have wifi or nah"]
    assert wifi.get("intent") == "product_question"
    assert wifi.get("intent_response_key") == "product_question/wifi"


def test_duplicates_are_not_written_twice(nlu_copy: Path) -> None:
    nlu = NluFile(nlu_copy)
    existing = next(e for e in nlu.examples() if e.intent == "thank")
    new = "thx a million for sorting my seat out"
    assert nlu.find(new) is None
    added = nlu.add("thank", [existing.text.upper() + " !!", new, new.upper() + "."])
    assert added == [new]
    assert nlu.find(existing.text.upper()) is not None


def test_unknown_intents_are_refused(nlu_copy: Path) -> None:
    with pytest.raises(KeyError):
        NluFile(nlu_copy).add("lost_luggage", ["where is my bag"])


def test_normalising_ignores_markup_case_handles_and_punctuation() -> None:
    assert normalise("@NorthwindAir Is [NW 881](flight_number) ON TIME??") == "is nw 881 on time"
    assert normalise("is nw 881 on time") == "is nw 881 on time"


def test_the_shipped_file_reads_as_it_is_written() -> None:
    nlu = NluFile(NLU_FILE)
    assert nlu.dumps() == NLU_FILE.read_text(encoding="utf-8")
    assert len(nlu.intents()) >= 17


def test_near_duplicates_group_and_different_requests_do_not() -> None:
    texts = [
        "@NorthwindAir where is my bag?? been 3 days",
        "cancel my booking please!!",
        "where is my bag, its been 3 days already @NorthwindAir",
        "cancel my booking",
        "I want a refund for NW881",
        "is flight NW881 on time",
    ]
    assert sorted(group_near_duplicates(texts)) == [[0, 2], [1, 3], [4], [5]]
