"""Real customer posts as the yardstick: labelled tweet ids joined with ``../shared/real_tweets``.

``tests/nlu/real_posts.tsv`` holds tweet ids and our labels only (the
source's licence keeps the texts out of the repository): the intent by
docs/labelling-guide.md and the accepted alternatives. The texts are joined
at run time from ``../shared/real_tweets/airline_sentiment_dev.tsv``
(``REAL_TWEETS`` overrides the path); without it, :class:`RealTweetsMissing`
says what to get. ``part`` is ``tune`` or ``tune2`` (read while improving the
assistant) or ``heldout`` (never read while tuning; its figures are the ones
reported).

What the assistant is scored on (:func:`score`):

* **strict accuracy**: the bot acts on an accepted intent (a post under the
  fallback threshold counts as wrong);
* **top-intent accuracy**: the classifier's first intent is accepted,
  whatever its confidence;
* **macro-F1** over the labelled intents (a prediction that is one of a
  post's accepted intents counts as that intent);
* **fallback rate**: posts under the threshold (privately the bot would ask
  to rephrase);
* **second intent**: of the posts with two accepted intents where the bot
  acted on one, the share where it also named the other (``intent_also``);
  and of the posts where it named a second intent, the share where that
  intent is not one of the post's;
* **right outcome**: the customer gets what they should. A person where a
  person is the answer (complaint, request_human, out_of_scope), the flight
  look-up for any of the three flight intents (one flow), the intent's own
  flow otherwise. A post under the threshold is a public post: it gets what
  brand.yml's ``unsure_in_public`` says, a person (right where a person is)
  or an invitation to a DM (never counted right).
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.brand import PROJECT_ROOT
from bot.text import tweet_words

LABELS = PROJECT_ROOT / "tests" / "nlu" / "real_posts.tsv"
TWEETS = PROJECT_ROOT.parent / "shared" / "real_tweets" / "airline_sentiment_dev.tsv"
PERSON_INTENTS = frozenset({"complaint", "request_human", "out_of_scope"})
FLIGHT_INTENTS = frozenset({"flight_status", "flight_delayed", "flight_cancelled"})
FALLBACK = "nlu_fallback"
# The parts of the label file. "tune" (671 posts, labelled first) and "tune2" (600
# more, labelled on 2026-12-06 and scored before any data was written against them)
# are read while improving the assistant; "heldout" never is.
TUNE_PARTS = ("tune", "tune2")
PARTS = ("heldout", *TUNE_PARTS)
# The public file replaced every "cancel" and "late" (any case) with these
# phrases ("Cancelled Flightled", "escaLate Flight"); no customer writes them.
_DAMAGE = (("Cancelled Flight", "cancel"), ("Late Flight", "late"))


class RealTweetsMissing(FileNotFoundError):
    """The shared tweet file is not next to the repository."""


@dataclass(frozen=True)
class RealPost:
    """One labelled real post, its text as the assistant reads it."""

    tweet_id: str
    part: str
    text: str
    intent: str
    also: tuple[str, ...]
    sentiment: str
    crowd_reason: str

    @property
    def accepted(self) -> frozenset[str]:
        return frozenset((self.intent, *self.also))


def tweets_path() -> Path:
    """Where the shared tweet file is expected."""
    return Path(os.environ.get("REAL_TWEETS") or TWEETS)


def undamaged(text: str) -> str:
    """The customer's words, with the public file's substitutions undone."""
    for damaged, original in _DAMAGE:
        text = text.replace(damaged, original)
    return text


def read_labels(path: Path = LABELS) -> list[dict[str, str]]:
    """The label file's rows (``tweet_id``, ``part``, ``intent``, ``also``)."""
    with path.open(encoding="utf-8", newline="") as file:
        lines = (line for line in file if not line.startswith("#"))
        return list(csv.DictReader(lines, delimiter="\t"))


def load(
    parts: Iterable[str] = PARTS, labels: Path = LABELS, tweets: Path | None = None
) -> list[RealPost]:
    """The labelled posts of ``parts``, joined with their texts, in the label file's order."""
    source = tweets or tweets_path()
    if not source.exists():
        raise RealTweetsMissing(
            f"{source} is missing: the real-post evaluation needs ../shared/real_tweets "
            "beside the repository (or REAL_TWEETS=/path/to/airline_sentiment_dev.tsv)"
        )
    wanted = set(parts)
    rows = [row for row in read_labels(labels) if row["part"] in wanted]
    ids = {row["tweet_id"] for row in rows}
    found: dict[str, dict[str, str]] = {}
    with source.open(encoding="utf-8", newline="") as file:
        for tweet in csv.DictReader(file, delimiter="\t"):
            if tweet["tweet_id"] in ids:
                found[tweet["tweet_id"]] = tweet
    missing = ids - set(found)
    if missing:
        raise ValueError(f"{len(missing)} labelled tweet ids are not in {source}")
    return [
        RealPost(
            tweet_id=row["tweet_id"],
            part=row["part"],
            text=tweet_words(undamaged(found[row["tweet_id"]]["text"])),
            intent=row["intent"],
            also=tuple(a for a in row["also"].split(",") if a),
            sentiment=found[row["tweet_id"]]["airline_sentiment"],
            crowd_reason=found[row["tweet_id"]]["negativereason"],
        )
        for row in rows
    ]


_SENTENCE_END = re.compile(r"[.!?]+\s+(?=\S)")
_POSITIVE = re.compile(r"\b(thanks?|thx|love|great|awesome|nice|appreciate|wow|good job)\b", re.I)
_REPLY_START = re.compile(r"^(yes|yeah|yep|no|nope|ok|okay|thanks?|thx|ty|done|sent|dm)\b", re.I)


def kinds(post: RealPost) -> set[str]:
    """The kinds of real post ``post`` is, for the error analysis (docs/nlu.md). Found by
    rules, so each is approximate: sarcasm is a complaint with a positive word in it;
    a thread reply is a post labelled as small talk or opening like an answer."""
    text = post.text
    found = set()
    if len(_SENTENCE_END.findall(text)) >= 1:
        found.add("several sentences")
    if len(post.accepted) > 1:
        found.add("two intents (accepted alternatives)")
    if post.intent == "complaint" and _POSITIVE.search(text):
        found.add("sarcasm (complaint with a positive word)")
    if post.intent in {"affirm", "deny", "thank", "goodbye"} or _REPLY_START.match(text):
        found.add("thread reply")
    if "@" in text:
        found.add("handle inside the text")
    if "http" in text:
        found.add("link (photo, article)")
        if len(_URL_OR_HANDLE.sub(" ", text).split()) <= 8:
            found.add("a link with one line")
    if "#" in text:
        found.add("hashtag")
    if sum(w.isupper() and len(w) > 2 for w in text.split()) >= 2:
        found.add("shouting")
    if any(w not in _english() for w in _LOWER_WORD.findall(_URL_OR_HANDLE.sub(" ", text))):
        found.add("a word no dictionary has (typos, slang)")
    return found


_LOWER_WORD = re.compile(r"(?<![\w'#@])[a-z]{5,}(?![\w'])")


@functools.cache
def _english() -> frozenset[str]:
    """Whole words of the sentence encoder's vocabulary: 30,000 common English words
    and word pieces, a stand-in for a dictionary (none ships with the system)."""
    from in_rasa.nlu.encoder import MPNET, model_dir

    vocabulary = (model_dir(MPNET) / "vocab.txt").read_text(encoding="utf-8").split()
    return frozenset(w for w in vocabulary if w.isalpha())


_URL_OR_HANDLE = re.compile(r"https?://\S+|@\w+")


@dataclass(frozen=True)
class NearCopy:
    """A text of ours that reads like a copy of a real tweet."""

    text: str
    tweet_id: str
    similarity: float


def near_copies(
    texts: Sequence[str], tweets: Path | None = None, candidates: int = 3
) -> list[NearCopy]:
    """Texts that copy a real tweet rather than imitate the register (training data must
    stay our own writing). Similarity is difflib's ratio against each text's closest
    tweets by character 4-grams; a copy is 0.85 alike at 30 characters or more, or 0.75
    at 60 or more (short phrases like "ok thanks" are everybody's). Measured on the data
    written before any of us read these tweets: its highest was 0.81, at 29 characters."""
    import difflib

    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    source = tweets or tweets_path()
    with source.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    real = [tweet_words(undamaged(row["text"])) for row in rows]
    long_enough = [t for t in texts if len(t) >= 30]
    if not long_enough:
        return []
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 4)).fit(real + long_enough)
    similar = (vectors.transform(long_enough) @ vectors.transform(real).T).tocsr()
    found = []
    for row, text in enumerate(long_enough):
        scores = similar.getrow(row).toarray().ravel()
        for index in np.argsort(-scores)[:candidates]:
            ratio = difflib.SequenceMatcher(None, text.lower(), real[index].lower()).ratio()
            if ratio >= 0.85 or (ratio >= 0.75 and len(text) >= 60):
                found.append(NearCopy(text, rows[index]["tweet_id"], round(ratio, 2)))
                break
    return found


@dataclass(frozen=True)
class Parse:
    """What the model made of one post: the ranking without the fallback, and whether the
    fallback stepped in."""

    ranking: tuple[tuple[str, float], ...]
    fell_back: bool
    also: str | None = None  # the second intent the model found, if any
    # Every looked-for second intent's likelihood, found or not (the sweep below).
    also_ranking: tuple[tuple[str, float], ...] = ()

    @property
    def top(self) -> str:
        return self.ranking[0][0] if self.ranking else FALLBACK

    @property
    def acted_on(self) -> str:
        """The intent the bot acts on (the fallback when it was unsure)."""
        return FALLBACK if self.fell_back else self.top


def outcome(intent: str, unsure_in_public: str = "handover") -> str:
    """What the customer gets for a public post read as ``intent``."""
    if intent == FALLBACK:
        return "person" if unsure_in_public == "handover" else "invite_private"
    if intent in PERSON_INTENTS:
        return "person"
    if intent in FLIGHT_INTENTS:
        return "flight"
    return intent


@dataclass(frozen=True)
class Scores:
    """The figures of one evaluation of real posts."""

    posts: int
    strict_accuracy: float
    top_accuracy: float
    macro_f1: float
    fallback_rate: float
    right_outcome: float
    second_found: (
        float  # of posts with two accepted intents, the bot acted on one and named the other
    )
    second_wrong: float  # of posts where the bot named a second intent, that intent not accepted
    confusions: list[tuple[str, str, int]]  # (label, what the bot acted on, count), most first
    per_intent: dict[str, tuple[float, float, float, int]]  # precision, recall, F1, support


def score(
    posts: Sequence[RealPost], parses: Sequence[Parse], unsure_in_public: str = "handover"
) -> Scores:
    """Scores the model's parses of ``posts`` (see the module docstring)."""
    from sklearn.metrics import precision_recall_fscore_support

    if len(posts) != len(parses) or not posts:
        raise ValueError("one parse per post, and at least one post")
    truth, said = [], []
    strict = top = fallbacks = right = 0
    two = found = named = wrong = 0
    confusions: Counter[tuple[str, str]] = Counter()
    for post, parse in zip(posts, parses, strict=True):
        acted = parse.acted_on
        strict += acted in post.accepted
        top += parse.top in post.accepted
        fallbacks += parse.fell_back
        right += outcome(acted, unsure_in_public) in {
            outcome(i, unsure_in_public) for i in post.accepted
        }
        truth.append(acted if acted in post.accepted else post.intent)
        said.append(acted)
        if acted not in post.accepted:
            confusions[(post.intent, acted)] += 1
        if len(post.accepted) > 1 and acted in post.accepted:
            two += 1
            found += parse.also in post.accepted - {acted}
        if parse.also is not None and not parse.fell_back:
            named += 1
            wrong += parse.also not in post.accepted
    labels = sorted({p.intent for p in posts})
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, said, labels=labels, zero_division=0
    )
    n = len(posts)
    return Scores(
        posts=n,
        strict_accuracy=strict / n,
        top_accuracy=top / n,
        macro_f1=float(f1.mean()),
        fallback_rate=fallbacks / n,
        right_outcome=right / n,
        second_found=found / two if two else 0.0,
        second_wrong=wrong / named if named else 0.0,
        confusions=[(a, b, c) for (a, b), c in confusions.most_common()],
        per_intent={
            label: (float(p), float(r), float(f), int(s))
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
    )


def by_kind(posts: Sequence[RealPost], parses: Sequence[Parse]) -> dict[str, tuple[int, float]]:
    """Per kind of post (:func:`kinds`): how many posts, and the strict accuracy on them."""
    counts: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for post, parse in zip(posts, parses, strict=True):
        for kind in kinds(post) or {"none of these"}:
            counts[kind] += 1
            right[kind] += parse.acted_on in post.accepted
    return {kind: (n, right[kind] / n) for kind, n in counts.most_common()}
