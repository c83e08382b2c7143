"""Customer text as the core sees it, cleaned once at the edge, whatever the channel.

Every channel passes what a customer wrote through :func:`clean_text` before
it builds an inbound message, so the store, the assistant and the agents all
see the same string: no lone UTF-16 surrogates (they cannot be encoded, and
PostgreSQL refuses them), no NUL or other control characters (PostgreSQL
refuses NUL in text), and Unicode in its composed form (NFC), so "café"
typed two ways is one word to the classifier.
"""

from __future__ import annotations

import html
import re
import unicodedata

# C0 and C1 control characters except tab, newline and carriage return.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_LEADING_MENTIONS = re.compile(r"^(?:\s*[.]?@\w{1,15}[,:]?)+\s*")
REPLACEMENT = "\ufffd"


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced, control characters removed, in NFC."""
    text = _SURROGATES.sub(REPLACEMENT, text)
    text = _CONTROLS.sub("", text)
    return unicodedata.normalize("NFC", text)


def tweet_words(text: str) -> str:
    """What the customer wrote in a tweet, as the assistant should read it.

    The X API sends tweet text with ``&amp;``, ``&lt;`` and ``&gt;`` escaped;
    a reply starts with the handles it answers (``@NorthwindAir @jane ...``,
    sometimes ``.@NorthwindAir`` to make it public), which are addressing,
    not words.
    """
    return clean_text(_LEADING_MENTIONS.sub("", html.unescape(text))).strip()
