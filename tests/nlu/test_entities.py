"""Rule-based entities on messages written the way customers write them."""

from __future__ import annotations

from typing import Any

import pytest

from in_rasa.nlu.entities import KEEP_LAST, RuleEntityExtractor, read_patterns
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def extractor() -> RuleEntityExtractor:
    patterns = read_patterns(PROJECT_ROOT / "data" / "entity_patterns.jsonl")
    return RuleEntityExtractor({}, None, None, patterns, "NW")  # type: ignore[arg-type]


def found(extractor: RuleEntityExtractor, text: str) -> list[tuple[str, str, str]]:
    """(entity, text span, value) triples."""
    return [(e["entity"], text[e["start"] : e["end"]], e["value"]) for e in extractor.extract(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "@NorthwindAir flt #512 from O'Hare delayed AGAIN 😡 #fail",
            [("flight_number", "512", "NW512"), ("airport", "O'Hare", "ORD")],
        ),
        (
            "is AA 1234 on time tmrw?",
            [("flight_number", "AA 1234", "AA1234"), ("date", "tmrw", "tmrw")],
        ),
        ("UA12 to JFK", [("flight_number", "UA12", "UA12"), ("airport", "JFK", "JFK")]),
        ("my conf code is qx7k2p pls help", [("booking_ref", "qx7k2p", "QX7K2P")]),
        ("booking ref: MRTPLQ.", [("booking_ref", "MRTPLQ", "MRTPLQ")]),
        ("QX7K2P", [("booking_ref", "QX7K2P", "QX7K2P")]),
        ("bag report JFKNW10234!", [("baggage_ref", "JFKNW10234", "JFKNW10234")]),
        (
            "flying Boston to reykjavik on Dec 3rd",
            [
                ("airport", "Boston", "BOS"),
                ("airport", "reykjavik", "KEF"),
                ("date", "Dec 3rd", "dec 3rd"),
            ],
        ),
        (
            "next friday from new york",
            [("date", "next friday", "next friday"), ("airport", "new york", "NYC")],
        ),
    ],
)
def test_entities(extractor: RuleEntityExtractor, text: str, expected: list[Any]) -> None:
    assert found(extractor, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I waited 2 HOURS at the gate, at 5 pm nobody came",  # times and shouting
        "WHERE IS MY STUFF??? PLEASE ANSWER",  # six-letter shouted words are not locators
        "took 10mins, 5HOURS on the tarmac",  # digits then letters are durations
        "sitting in row 12 seat 14A near gate B12",  # seats and gates
        "the A321 had no wifi",  # aircraft types
        "I am so 2 tired, is it 4 real",  # two-letter words before numbers
        "sea of people, la la land, lax security",  # lower-case words that are airport codes
    ],
)
def test_no_entities_in_ordinary_words(extractor: RuleEntityExtractor, text: str) -> None:
    assert found(extractor, text) == []


def test_every_pattern_is_an_entity_of_the_domain() -> None:
    import yaml

    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    labels = {p["label"] for p in read_patterns(PROJECT_ROOT / "data" / "entity_patterns.jsonl")}
    assert labels == set(domain["entities"])


def test_bad_pattern_file_names_the_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "p.jsonl"
    bad.write_text('// comment\n{"label": "date", "pattern": "today"}\n{oops\n')
    with pytest.raises(ValueError, match=r"p.jsonl:3"):
        read_patterns(bad)


def test_keep_last_convention_is_used_by_context_patterns() -> None:
    patterns = read_patterns(PROJECT_ROOT / "data" / "entity_patterns.jsonl")
    assert {p["label"] for p in patterns if p.get("id") == KEEP_LAST} == {
        "flight_number",
        "booking_ref",
    }
