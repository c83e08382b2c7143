"""Canonical entity values from the shapes customers write."""

from __future__ import annotations

from datetime import date

import pytest

from in_rasa.nlu import values

TODAY = date(2026, 11, 23)  # a Monday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NW881", "NW881"),
        ("nw 881", "NW881"),
        ("AA 1234", "AA1234"),
        ("UA12", "UA12"),
        ("flight 2034", "NW2034"),
        ("flt #512", "NW512"),
        ("Flight No. 22", "NW22"),
        ("#0881", "NW881"),
        ("B6 123", "B6123"),
        ("2034", "NW2034"),
        ("NW 0", None),
        ("NW12345", None),
        ("hello", None),
        ("", None),
    ],
)
def test_flight_number(text: str, expected: str | None) -> None:
    assert values.flight_number(text, "NW") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("QX7K2P", "QX7K2P"),
        ("qx7k2p.", "QX7K2P"),
        ("#MRT4LQ", "MRT4LQ"),
        ("QX7K2", None),
        ("QX7K2P9", None),
    ],
)
def test_booking_ref(text: str, expected: str | None) -> None:
    assert values.booking_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("JFKNW10234", "JFKNW10234"), ("jfk-nw-10234", "JFKNW10234"), ("JFKNW1023", None)],
)
def test_baggage_ref(text: str, expected: str | None) -> None:
    assert values.baggage_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", date(2026, 11, 23)),
        ("Tonight", date(2026, 11, 23)),
        ("tmrw", date(2026, 11, 24)),
        ("tomorrow morning", date(2026, 11, 24)),
        ("yesterday", date(2026, 11, 22)),
        ("friday", date(2026, 11, 27)),
        ("next monday", date(2026, 11, 30)),
        ("monday", date(2026, 11, 23)),
        ("last sat", date(2026, 11, 21)),
        ("Dec 3", date(2026, 12, 3)),
        ("December 3rd", date(2026, 12, 3)),
        ("3rd of December", date(2026, 12, 3)),
        ("the 3rd december", date(2026, 12, 3)),
        ("12/03", date(2026, 12, 3)),
        ("1/15", date(2027, 1, 15)),  # the coming January, not last
        ("Nov 20", date(2026, 11, 20)),  # a few days ago: that one
        ("2026-12-24", date(2026, 12, 24)),
        ("12/03/27", date(2027, 12, 3)),
        ("Feb 30", None),
        ("soon", None),
    ],
)
def test_travel_date(text: str, expected: date | None) -> None:
    assert values.travel_date(text, TODAY) == expected
