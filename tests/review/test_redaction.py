"""Messages as customers really write them lose their personal data before training.

Each case is a message in the style of Twitter/X mentions and Telegram chats,
the personal values in it, what must stand in for them, and what must stay
because the intent depends on it (flight numbers, dates, airports, prices...).
Nothing here is mocked: the cases run through ``redact_for_training`` and the
annotated result is read back with Rasa's own entity parser, the one
``rasa train`` uses on ``data/nlu.yml``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import pytest
import yaml
from rasa.shared.nlu.training_data.entities_parser import (
    find_entities_in_training_example,
    replace_entities,
)
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from bot.review.redaction import SURROGATES, Redacted, redact_for_training

ENTITIES = {"booking_ref", "baggage_ref"}
SURROGATE_VALUES = {value for values in SURROGATES.values() for value in values}
_KIND_OF_TOKEN = {
    "<email>": "email",
    "<phone>": "phone",
    "<card number>": "card_number",
    "<name>": "name",
    "@someone": "handle",
}
_ANNOTATION = re.compile(r"\[(\w+)\]\((booking_ref|baggage_ref)\)")
# Digits written as one number: "+44 (0)20 7946-0958" is one run, "14:35" is two.
_DIGIT_RUN = re.compile(r"\d(?:[\s().+-]*\d)*")


@dataclass(frozen=True)
class Case:
    message: str
    personal: tuple[str, ...] = ()  # values that must not survive, in any case
    expect: tuple[str, ...] = ()  # stand-ins in the annotated text, each as often as listed
    keep: tuple[str, ...] = ()  # what must stay exactly as written
    kinds: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        kinds = set()
        for token in self.expect:
            annotation = _ANNOTATION.fullmatch(token)
            kinds.add(annotation.group(2) if annotation else _KIND_OF_TOKEN[token])
        object.__setattr__(self, "kinds", frozenset(kinds))


def case(
    case_id: str,
    message: str,
    personal: list[str] | None = None,
    expect: list[str] | None = None,
    keep: list[str] | None = None,
):  # type: ignore[no-untyped-def]
    return pytest.param(
        Case(message, tuple(personal or ()), tuple(expect or ()), tuple(keep or ())), id=case_id
    )


REF = "[ABC123](booking_ref)"
REF2 = "[DEF456](booking_ref)"
BAG = "[NWXAB12345](baggage_ref)"

CASES = [
    # ----------------------------------------------------------- record locators
    case(
        "brand-mention-booking-ref",
        "@NorthwindAir my flight NW881 got cancelled, booking ref QX7K2P, pls help!!",
        ["QX7K2P"],
        [REF],
        ["@NorthwindAir", "NW881", "pls help!!"],
    ),
    case(
        "lowercase-conf-code",
        "@northwindair conf code qx7k2p - can i move to the 3 Nov flight instead??",
        ["qx7k2p"],
        [REF],
        ["@northwindair", "3 Nov"],
    ),
    case(
        "pnr-with-flight-airports-iso-date-time",
        "PNR: LMN4RT flight NW 881 JFK to LHR 2026-11-03 14:35 still showing on time?",
        ["LMN4RT"],
        [REF],
        ["NW 881", "JFK", "LHR", "2026-11-03", "14:35"],
    ),
    case(
        "confirmation-number-is-lowercase",
        "confirmation number is 7hk2pz and the app keeps crashing 🙄",
        ["7hk2pz"],
        [REF],
        ["🙄"],
    ),
    case(
        "reservation-code-colon",
        "reservation code: qwe7rt - need to add my infant to flight 2034 on 3 Nov",
        ["qwe7rt"],
        [REF],
        ["flight 2034", "3 Nov"],
    ),
    case(
        "booking-hash-seat-price",
        "Booking #: AB12CD - seat 14C not showing and I paid $45.99 for it",
        ["AB12CD"],
        [REF],
        ["14C", "$45.99"],
    ),
    case(
        "two-bookings-get-two-surrogates",
        "I have two bookings QX7K2P and LMN4RT, both on NW881, can you link them?",
        ["QX7K2P", "LMN4RT"],
        [REF, REF2],
        ["NW881"],
    ),
    case(
        "same-ref-twice-same-surrogate",
        "ref QX7K2P. I SAID QX7K2P!!! how many times do I have to type it",
        ["QX7K2P"],
        [REF, REF],
    ),
    case(
        "other-airline-flight-and-locator",
        "rebooked from UA 1234 onto flight 2034 but my PNR Z7QK4M still shows UA, help",
        ["Z7QK4M"],
        [REF],
        ["UA 1234", "flight 2034"],
    ),
    case(
        "locator-inside-brand-url",
        "link https://northwind.example/manage?pnr=QX7K2P just says error 500",
        ["QX7K2P"],
        [REF],
        ["https://northwind.example/manage", "error 500"],
    ),
    case(
        "tweet-link-and-conf-code",
        "see my post https://x.com/NorthwindAir/status/1855523456789012345 still no reply."
        " conf code qx7k2p",
        ["qx7k2p"],
        [REF],
        ["https://x.com/NorthwindAir/status/1855523456789012345"],
    ),
    # ------------------------------------------------------------- bag files
    case(
        "bag-file-hashtag-emoji",
        "bag file JFKNW10234 still missing since 3 Nov #lostluggage 😭",
        ["JFKNW10234"],
        [BAG],
        ["3 Nov", "#lostluggage", "😭"],
    ),
    case(
        "bag-file-lowercase",
        "my lost luggage ref is lhrnw10876 can u tell me the status",
        ["lhrnw10876"],
        [BAG],
    ),
    case(
        "shouting-bag-file-and-phone",
        "WHERE IS MY BAG?!?! FILE REF ORDNW10412. MY PHONE IS +1 312 555 0198 CALL ME",
        ["ORDNW10412", "+1 312 555 0198"],
        [BAG, "<phone>"],
        ["WHERE IS MY BAG?!?!", "CALL ME"],
    ),
    # ------------------------------------------------------------------ phones
    case(
        "uk-mobile-international",
        "call me on +44 7700 900123 about booking ZK9P4W, on hold for ages",
        ["+44 7700 900123", "ZK9P4W"],
        ["<phone>", REF],
    ),
    case(
        "us-phone-parentheses-emoji",
        "my number is (415) 555-0132, been on hold 2 hrs 😡😡",
        ["(415) 555-0132"],
        ["<phone>"],
        ["2 hrs", "😡😡"],
    ),
    case(
        "german-phone-0049",
        "Bitte rufen Sie mich an: 0049 30 1234567. Flug NW 2034 ist gestrichen",
        ["0049 30 1234567"],
        ["<phone>"],
        ["NW 2034"],
    ),
    case(
        "uk-mobile-bare-digits",
        "text me 07700900123 when my bag turns up pls",
        ["07700900123"],
        ["<phone>"],
    ),
    case(
        "us-phone-dots-and-email",
        "reach me at 415.555.0132 or jane@mail.example.com, whichever is faster",
        ["415.555.0132", "jane@mail.example.com"],
        ["<phone>", "<email>"],
    ),
    case(
        "french-phone-pairs",
        "Bonjour, mon numéro: +33 6 12 34 56 78, vol NW 2034 annulé",
        ["+33 6 12 34 56 78"],
        ["<phone>"],
        ["NW 2034", "annulé"],
    ),
    case(
        "indian-phone",
        "pls call +91 98765 43210 asap, flight NW 45 from BOM",
        ["+91 98765 43210"],
        ["<phone>"],
        ["NW 45", "BOM"],
    ),
    case(
        "australian-phone-dashes",
        "+61-412-345-678 is my cell, I'm at SYD gate 12",
        ["+61-412-345-678"],
        ["<phone>"],
        ["SYD", "gate 12", "I'm at"],
    ),
    case(
        "uk-landline-zero-in-brackets",
        "ring me on +44 (0)20 7946 0958 after 18:00 pls",
        ["+44 (0)20 7946 0958"],
        ["<phone>"],
        ["18:00"],
    ),
    case(
        "whatsapp-no-spaces",
        "whatsapp me +447700900123 I'm not checking twitter",
        ["+447700900123"],
        ["<phone>"],
        ["I'm not checking"],
    ),
    case(
        "local-seven-digit-phone",
        "my hotel room phone is 555-0132, call after 9pm",
        ["555-0132"],
        ["<phone>"],
        ["9pm"],
    ),
    # ------------------------------------------------------------------ emails
    case(
        "email-plus-subdomain",
        "email me at jane.doe+northwind@mail.example.co.uk thx, flight 2034 on 3 Nov",
        ["jane.doe+northwind@mail.example.co.uk", "jane.doe"],
        ["<email>"],
        ["flight 2034", "3 Nov"],
    ),
    case(
        "email-shouting",
        "I HAVE EMAILED 3 TIMES FROM JOHN.SMITH@EXAMPLE.COM AND NOBODY ANSWERS!!!",
        ["JOHN.SMITH@EXAMPLE.COM"],
        ["<email>"],
        ["3 TIMES", "NOBODY ANSWERS!!!"],
    ),
    case(
        "email-hyphen-underscore-digits",
        "pls send the receipt to mary-ann_99@post.example.org, paid £120 for the seat",
        ["mary-ann_99@post.example.org"],
        ["<email>"],
        ["£120"],
    ),
    case(
        "email-many-dots-numbered-host",
        "I'm writing from j.r.r.tolkien1892@mx1.mail.example.net cos my usual inbox is locked",
        ["j.r.r.tolkien1892@mx1.mail.example.net", "tolkien"],
        ["<email>"],
        ["I'm writing from"],
    ),
    # ------------------------------------------------------------------- cards
    case(
        "card-spaces-price-hashtag",
        "you charged my card 4111 1111 1111 1111 twice for $45.99!!! #refund",
        ["4111 1111 1111 1111"],
        ["<card number>"],
        ["$45.99", "#refund"],
    ),
    case(
        "card-dashes",
        "card 5555-5555-5555-4444 got declined at checkout, fare was £120",
        ["5555-5555-5555-4444"],
        ["<card number>"],
        ["£120"],
    ),
    case(
        "amex-15-digits",
        "paid with amex 3782 822463 10005 and never got a confirmation email",
        ["3782 822463 10005"],
        ["<card number>"],
    ),
    case(
        "card-no-separators",
        "4242424242424242 is the card I used, please refund to it",
        ["4242424242424242"],
        ["<card number>"],
    ),
    case(
        "card-and-german-phone",
        "card 4000 0566 5566 5556 got charged twice, call me 0049 30 1234567",
        ["4000 0566 5566 5556", "0049 30 1234567"],
        ["<card number>", "<phone>"],
    ),
    # ------------------------------------------------------------------- names
    case(
        "name-my-name-is",
        "Hi, my name is Sarah Connor and my bag never arrived at LHR",
        ["Sarah", "Connor"],
        ["<name>"],
        ["LHR"],
    ),
    case(
        "name-im-comma",
        "I'm Priya, flying NW881 tomorrow, can I bring a stroller on board?",
        ["Priya"],
        ["<name>"],
        ["NW881"],
    ),
    case(
        "name-this-is-apostrophe-and-pnr",
        "this is Tom O'Brien, PNR HJ4K8L, still waiting on my refund",
        ["Tom", "O'Brien", "HJ4K8L"],
        ["<name>", REF],
    ),
    case(
        "name-i-am",
        "I am Ahmed Khan, passenger on NW 881 tomorrow, can I change seats?",
        ["Ahmed", "Khan"],
        ["<name>"],
        ["NW 881"],
    ),
    case(
        "name-hyphenated-and-booking",
        "Hello, this is Mary-Jane Watson. Booking QX7K2P, can I add a bag?",
        ["Mary-Jane", "Watson", "QX7K2P"],
        ["<name>", REF],
    ),
    case(
        "name-umlaut",
        "Guten Tag, my name is Anna Müller, mein Koffer ist in FRA geblieben",
        ["Anna", "Müller"],
        ["<name>"],
        ["FRA"],
    ),
    case(
        "name-accented",
        "Hola! my name is José García and my flight NW 881 was cancelled",
        ["José", "García"],
        ["<name>"],
        ["NW 881"],
    ),
    case(
        "name-lowercase-after-my-name-is",
        "hi my name is kevin and nobody is answering my dms",
        ["kevin"],
        ["<name>"],
        ["nobody is answering"],
    ),
    case(
        "name-shouting",
        "MY NAME IS DAVID KOWALSKI. I WANT A REFUND NOW",
        ["DAVID", "KOWALSKI"],
        ["<name>"],
        ["I WANT A REFUND NOW"],
    ),
    case(
        "telegram-form-name-ref-flight",
        "Name: Jürgen Weiß\nBooking ref: X4TT9Q\nFlight: NW 881, 3 Nov",
        ["Jürgen", "Weiß", "X4TT9Q"],
        ["<name>", REF],
        ["NW 881", "3 Nov"],
    ),
    # ---------------------------------------------------------------- handles
    case(
        "handle-other-user",
        "@NorthwindAir my wife @jenny_travels is stuck at JFK too, same flight NW881",
        ["jenny_travels"],
        ["@someone"],
        ["@NorthwindAir", "JFK", "NW881"],
    ),
    case(
        "several-handles-cc-hashtag",
        "cc @mike_b @sara99 @NorthwindAir this is the 3rd delay this month #NorthwindFail",
        ["mike_b", "sara99"],
        ["@someone", "@someone"],
        ["@NorthwindAir", "#NorthwindFail", "3rd delay"],
    ),
    case(
        "telegram-long-username",
        "my colleague @sarah_from_accounting_ltd booked us both, ref QX7K2P",
        ["sarah_from_accounting_ltd", "QX7K2P"],
        ["@someone", REF],
    ),
    case(
        "handle-in-parentheses",
        "booked thru my assistant (@kate_pa_99) last week, never got the email",
        ["kate_pa_99"],
        ["@someone"],
        ["last week"],
    ),
    # --------------------------------------------------------- several at once
    case(
        "telegram-everything-at-once",
        "Hi, I'm Lena Fischer, PNR K3LM9Q, email lena.fischer@web.example.de,"
        " tel +49 171 2345678. Flight NW 102 FRA-JFK on 03.11.2026 was cancelled",
        ["Lena", "Fischer", "K3LM9Q", "lena.fischer@web.example.de", "+49 171 2345678"],
        ["<name>", REF, "<email>", "<phone>"],
        ["NW 102", "FRA-JFK", "03.11.2026"],
    ),
    case(
        "all-lowercase-everything",
        "hey im stuck at lhr, pnr qx7k2p, my num is 07700 900 123 and email is"
        " tom.h@gmail.example.com lol 🙃",
        ["qx7k2p", "07700 900 123", "tom.h@gmail.example.com"],
        [REF, "<phone>", "<email>"],
        ["stuck at lhr", "🙃"],
    ),
    case(
        "name-curly-apostrophe-from-a-phone-keyboard",
        "Hi I’m Siobhan Kelly, my flight NW 2034 to DUB is delayed again 🙃",
        ["Siobhan", "Kelly"],
        ["<name>"],
        ["NW 2034", "DUB", "🙃"],
    ),
    case(
        "name-label-lowercase",
        "full name: priya Sharma, flight NW881 on 3 Nov",
        ["priya", "Sharma"],
        ["<name>"],
        ["NW881", "3 Nov"],
    ),
    case(
        "french-phone-dots-and-date",
        "mon portable 06.12.34.56.78, vol du 03.11.2026 annulé",
        ["06.12.34.56.78"],
        ["<phone>"],
        ["03.11.2026"],
    ),
    case(
        "phone-right-before-a-time",
        "call +44 7700 900123 14:35 latest, I board NW881 at 15:10",
        ["+44 7700 900123"],
        ["<phone>"],
        ["14:35", "15:10", "NW881"],
    ),
    case(
        "markdown-link-is-not-an-entity",
        "I followed [here](https://northwind.example/manage) and it crashed, conf LMP2Q8",
        ["LMP2Q8"],
        [REF],
        ["here", "https://northwind.example/manage"],
    ),
    # ------------------------------------------------ nothing personal at all
    case(
        "nothing-personal-everything-kept",
        "@NorthwindAir NW881 JFK→LHR on 2026-11-03 at 14:35 and I paid £120 + $45.99 for"
        " bags?! #NorthwindFail 😡 https://northwind.example/manage",
        [],
        [],
        [
            "@NorthwindAir",
            "NW881",
            "JFK→LHR",
            "2026-11-03",
            "14:35",
            "£120",
            "$45.99",
            "#NorthwindFail",
            "😡",
            "https://northwind.example/manage",
        ],
    ),
    case(
        "talking-about-a-name-is-not-a-name",
        "my name is misspelled on my ticket and the name isn't matching my passport, NW 881",
        [],
        [],
        ["my name is misspelled on my ticket", "the name isn't matching", "NW 881"],
    ),
    case(
        "at-a-time-or-an-airport-is-not-a-handle",
        "stuck @JFK since 9am, they now say boarding @14:35 or maybe @5pm?? @NorthwindAir",
        [],
        [],
        ["@JFK", "9am", "@14:35", "@5pm", "@NorthwindAir"],
    ),
    case(
        "hashtag-brand-is-not-a-handle",
        "#NorthwindAir #delayed @NorthwindAir fix ur app, flight 2034 UA 1234 both late",
        [],
        [],
        ["#NorthwindAir", "#delayed", "@NorthwindAir", "flight 2034", "UA 1234"],
    ),
]


def _variants(redacted: Redacted) -> dict[str, str]:
    """Every form of the output a trainer or Rasa ends up reading."""
    return {
        "text": redacted.text,
        "plain": redacted.plain,
        "rasa's reading of text": replace_entities(redacted.text),
    }


def _without_surrogates(text: str) -> str:
    for value in SURROGATE_VALUES:
        text = text.replace(value, " ")
    return text


def _leak(value: str, output: str) -> str | None:
    """How ``value`` (or a telling part of it) survives in ``output``, if it does."""
    if re.fullmatch(r"[^\W\d_][\w'-]*", value):
        # A word (a name): as a whole word, so "Tom" does not match "tomorrow".
        if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", output, re.IGNORECASE):
            return "the word itself"
    elif value.lower() in output.lower():
        return "the value itself"
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7:
        left = _without_surrogates(output)
        if digits in re.sub(r"\D", "", left):
            return "its digits"
        for run in _DIGIT_RUN.findall(left):
            run_digits = re.sub(r"\D", "", run)
            if len(run_digits) >= 4 and run_digits in digits:
                return f"part of its digits ({run!r})"
    return None


@pytest.mark.parametrize("example", CASES)
def test_no_personal_value_survives(example: Case) -> None:
    redacted = redact_for_training(example.message)
    leaks = [
        f"{value!r} in {where} as {how}: {output!r}"
        for where, output in _variants(redacted).items()
        for value in example.personal
        if (how := _leak(value, output))
    ]
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("example", CASES)
def test_personal_values_are_replaced_by_the_right_stand_ins(example: Case) -> None:
    redacted = redact_for_training(example.message)
    tokens = Counter(example.expect)
    found = {token: redacted.text.count(token) for token in tokens}
    assert found == dict(tokens), redacted.text
    plain_tokens = Counter(_ANNOTATION.sub(r"\1", token) for token in example.expect)
    found_plain = {token: redacted.plain.count(token) for token in plain_tokens}
    assert found_plain == dict(plain_tokens), redacted.plain
    assert set(redacted.removed) == example.kinds, redacted.text


@pytest.mark.parametrize("example", CASES)
def test_what_the_intent_depends_on_is_kept(example: Case) -> None:
    redacted = redact_for_training(example.message)
    missing = [
        f"{kept!r} missing from {where}: {output!r}"
        for where, output in _variants(redacted).items()
        for kept in example.keep
        if kept not in output
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("example", CASES)
def test_rasa_reads_only_the_surrogate_entities(example: Case) -> None:
    redacted = redact_for_training(example.message)
    entities = [(e["entity"], e["value"]) for e in find_entities_in_training_example(redacted.text)]
    expected = [(m.group(2), m.group(1)) for m in _ANNOTATION.finditer(" ".join(example.expect))]
    assert all(entity in ENTITIES for entity, _ in entities), entities
    assert all(value in SURROGATE_VALUES for _, value in entities), entities
    assert sorted(entities) == sorted(expected), redacted.text


def test_the_whole_battery_loads_as_rasa_training_data() -> None:
    cases = [p.values[0] for p in CASES]
    # An example in nlu.yml is one line; whoever writes it there joins a
    # Telegram message's lines, as here.
    examples = [" ".join(redact_for_training(c.message).text.split()) for c in cases]
    document = {
        "version": "3.1",
        "nlu": [{"intent": "review_battery", "examples": "".join(f"- {e}\n" for e in examples)}],
    }
    data = RasaYAMLReader().reads(yaml.safe_dump(document, allow_unicode=True))
    assert len(data.intent_examples) == len(examples)
    for example, message in zip(cases, data.training_examples, strict=True):
        text = message.get("text")
        for entity in message.get("entities") or []:
            assert entity["entity"] in ENTITIES, text
            assert entity["value"] in SURROGATE_VALUES, text
        assert [v for v in example.personal if _leak(v, text)] == [], text


def test_the_brand_handle_is_kept_in_any_case_but_other_handles_go() -> None:
    redacted = redact_for_training("@NORTHWINDAIR @northwindair @NorthwindAir vs @NorthwindAirFan1")
    assert redacted.plain == "@NORTHWINDAIR @northwindair @NorthwindAir vs @someone"
    assert redacted.removed == ("handle",)


def test_handles_to_keep_can_be_given() -> None:
    redacted = redact_for_training("@NorthwindAir @OtherAir help", keep_handles=["@OtherAir"])
    assert redacted.plain == "@someone @OtherAir help"


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 40
    assert len({p.id for p in CASES}) == len(CASES)
