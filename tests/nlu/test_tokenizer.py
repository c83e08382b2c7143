"""Social-media tokens: what the featurizers see."""

from __future__ import annotations

from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from in_rasa.nlu.tokenizer import SocialTokenizer, social_lemma


def tokens(text: str) -> list[tuple[str, str]]:
    tokenizer = SocialTokenizer(SocialTokenizer.get_default_config())
    return [(t.text, t.lemma) for t in tokenizer.tokenize(Message(data={TEXT: text}), TEXT)]


def test_handles_links_emoji_and_emphasis_are_normalised() -> None:
    result = tokens("@NorthwindAir sooooo late AGAIN 😡 https://t.co/ab12 #fail")
    assert result == [
        ("@NorthwindAir", "@user"),
        ("sooooo", "soo"),
        ("late", "late"),
        ("AGAIN", "again"),
        ("😡", "emoji_pouting_face"),
        ("https://t.co/ab12", "url"),
        ("#", "#"),
        ("fail", "fail"),
    ]


def test_offsets_point_into_the_text() -> None:
    text = "hi ❤️ NW881!"
    tokenizer = SocialTokenizer(SocialTokenizer.get_default_config())
    for token in tokenizer.tokenize(Message(data={TEXT: text}), TEXT):
        assert text[token.start : token.end] == token.text


def test_a_message_of_only_an_emoji_modifier_still_has_a_token() -> None:
    assert len(tokens("\ufe0f")) == 1


def test_emoji_names() -> None:
    assert social_lemma("❤", False) == "emoji_heavy_black_heart"
    assert social_lemma("👍", False) == "emoji_thumbs_up_sign"
    assert social_lemma("plain", False) == "plain"
