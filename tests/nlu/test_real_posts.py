"""The real-post evaluation: the label file, the join with the shared tweets, the scores."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.real_posts import (
    FALLBACK,
    LABELS,
    PARTS,
    PERSON_INTENTS,
    Parse,
    RealPost,
    RealTweetsMissing,
    load,
    outcome,
    read_labels,
    score,
    tweets_path,
    undamaged,
)
from tests.conftest import PROJECT_ROOT

INTENTS = set(yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())["intents"]) | {
    "product_question"
}


def test_the_label_file_holds_ids_and_known_intents_only() -> None:
    rows = read_labels()
    assert len(rows) >= 800
    assert set(rows[0]) == {"tweet_id", "part", "intent", "also"}
    assert len({row["tweet_id"] for row in rows}) == len(rows)
    assert all(row["tweet_id"].isdigit() for row in rows)
    parts = Counter(row["part"] for row in rows)
    assert set(parts) == set(PARTS) and parts["heldout"] >= 400
    for row in rows:
        assert row["intent"] in INTENTS, row
        also = [a for a in row["also"].split(",") if a]
        assert set(also) <= INTENTS and row["intent"] not in also, row


def _tweet_file(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter="\t", lineterminator="\n")
        writer.writerow(["tweet_id", "airline", "airline_sentiment", "negativereason", "text"])
        for tweet_id, text in rows:
            writer.writerow([tweet_id, "Northwind", "negative", "Late Flight", text])
    return path


def test_posts_are_read_as_the_twitter_channel_reads_them(tmp_path: Path) -> None:
    labels = tmp_path / "labels.tsv"
    labels.write_text(
        "# a comment\ntweet_id\tpart\tintent\talso\n"
        "1\ttune\tflight_delayed\tcomplaint\n2\theldout\tthank\t\n"
    )
    tweets = _tweet_file(
        tmp_path / "tweets.tsv",
        [
            ("1", "@NorthwindAir @jane flight Late Flightr &amp; later, now Cancelled Flightled"),
            ("2", ".@NorthwindAir thx &lt;3"),
            ("3", "@NorthwindAir not labelled"),
        ],
    )
    posts = load(labels=labels, tweets=tweets)
    assert [p.text for p in posts] == ["flight later & later, now cancelled", "thx <3"]
    assert posts[0].accepted == {"flight_delayed", "complaint"}
    assert [p.tweet_id for p in load(["heldout"], labels=labels, tweets=tweets)] == ["2"]


def test_a_missing_tweet_file_says_what_to_get(tmp_path: Path) -> None:
    with pytest.raises(RealTweetsMissing, match="real_tweets"):
        load(tweets=tmp_path / "absent.tsv")


def test_the_damage_in_the_public_file_is_undone() -> None:
    assert undamaged("Cancelled Flighted, Cancelled Flightlation, escaLate Flight") == (
        "canceled, cancellation, escalate"
    )


def _post(intent: str, *also: str) -> RealPost:
    return RealPost("0", "heldout", "text", intent, also, "negative", "")


def test_scores_on_a_small_slice() -> None:
    posts = [
        _post("flight_delayed", "complaint"),  # bot: complaint (accepted)
        _post("complaint"),  # bot unsure: a person (right outcome), not strict
        _post("flight_status"),  # bot: flight_delayed: wrong intent, same look-up
        _post("thank"),  # bot: praise: wrong
    ]
    parses = [
        Parse(
            (("complaint", 0.8), ("flight_delayed", 0.1)), fell_back=False, also="flight_delayed"
        ),
        Parse((("complaint", 0.2),), fell_back=True),
        Parse((("flight_delayed", 0.9),), fell_back=False),
        Parse((("praise", 0.7), ("thank", 0.2)), fell_back=False, also="complaint"),
    ]
    scores = score(posts, parses)
    assert scores.strict_accuracy == 0.25
    assert scores.top_accuracy == 0.5
    assert scores.fallback_rate == 0.25
    assert scores.right_outcome == 0.75
    assert scores.second_found == 1.0  # one post with two intents: both named
    assert scores.second_wrong == 0.5  # "complaint" named on a thank-you
    assert dict(((a, b), c) for a, b, c in scores.confusions) == {
        ("complaint", FALLBACK): 1,
        ("flight_status", "flight_delayed"): 1,
        ("thank", "praise"): 1,
    }
    # Inviting a DM is never counted as the right outcome.
    assert score(posts, parses, "invite_private").right_outcome == 0.5
    # complaint: 1 right of 1 said, 1 of 2 labelled (the accepted one counts as complaint).
    precision, recall, _f1, support = scores.per_intent["complaint"]
    assert (precision, recall, support) == (1.0, 0.5, 2)


def test_outcomes() -> None:
    assert outcome("out_of_scope") == outcome("request_human") == "person"
    assert outcome("flight_cancelled") == outcome("flight_status") == "flight"
    assert outcome(FALLBACK) == "person"
    assert outcome(FALLBACK, "invite_private") == "invite_private"
    assert outcome("booking_change") == "booking_change"


@pytest.mark.skipif(
    not tweets_path().exists(), reason="needs ../shared/real_tweets beside the repo"
)
def test_the_labelled_posts_cover_every_crowd_reason_and_sentiment() -> None:
    posts = load()
    assert len(posts) == len(read_labels(LABELS))
    assert {p.sentiment for p in posts} == {"positive", "neutral", "negative"}
    with tweets_path().open(encoding="utf-8") as file:
        reasons = {row["negativereason"] for row in csv.DictReader(file, delimiter="\t")}
    covered = Counter(p.crowd_reason for p in posts)
    assert all(covered[reason] >= 10 for reason in reasons), covered
    assert all(p.text and "Cancelled Flight" not in p.text for p in posts)


def test_kinds_of_posts_for_the_error_analysis() -> None:
    from bot.real_posts import by_kind, kinds

    def post(text: str, intent: str = "complaint", *also: str) -> RealPost:
        return RealPost("0", "tune", text, intent, also, "negative", "")

    assert kinds(post("thanks for NOTHING. 3 HOURS on hold #fail")) == {
        "several sentences",
        "sarcasm (complaint with a positive word)",
        "thread reply",
        "hashtag",
        "shouting",
    }
    assert kinds(post("look at this @jane_d http://t.co/x", "out_of_scope")) == {
        "handle inside the text",
        "link (photo, article)",
        "a link with one line",
    }
    assert kinds(post("my flite was delayd", "flight_delayed", "complaint")) == {
        "two intents (accepted alternatives)",
        "a word no dictionary has (typos, slang)",
    }
    table = by_kind(
        [post("DM sent", "affirm"), post("ok thx", "thank")],
        [Parse((("affirm", 0.9),), False), Parse((("praise", 0.9),), False)],
    )
    assert table == {"thread reply": (2, 0.5)}


def test_the_second_intent_sweep_counts_namings_and_wrong_ones() -> None:
    from bot.real_posts_report import second_intent_sweep

    posts = [
        _post("flight_delayed", "complaint"),  # an angry delay
        _post("flight_delayed"),  # a calm one
        _post("complaint"),  # complaint itself: never its own second intent
    ]
    parses = [
        Parse((("flight_delayed", 0.9),), False, None, (("complaint", 0.6),)),
        Parse((("flight_delayed", 0.9),), False, None, (("complaint", 0.3),)),
        Parse((("complaint", 0.9),), False, None, (("flight_delayed", 0.1),)),
    ]
    rows = second_intent_sweep(posts, parses, "complaint", [0.2, 0.5, 0.7])
    assert rows == [(0.2, 2, 0.5), (0.5, 1, 0.0), (0.7, 0, 0.0)]


def test_a_label_file_without_the_parts_asked_for_is_skipped_and_leaves_no_old_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.real_posts_report import evaluate_real_posts

    labels = tmp_path / "labels.tsv"
    labels.write_text("tweet_id\tpart\tintent\talso\n1\ttune\tthank\t\n", encoding="utf-8")
    monkeypatch.setenv("REAL_TWEETS", str(_tweet_file(tmp_path / "tweets.tsv", [("1", "thx")])))
    stale = tmp_path / "out" / "real_posts.md"
    stale.parent.mkdir()
    stale.write_text("an earlier run's report", encoding="utf-8")
    # It returns before any parse, so it needs no model.
    assert evaluate_real_posts(None, stale.parent, parts=("heldout",), labels=labels) is None
    assert "no labelled posts of heldout" in capsys.readouterr().out
    assert not stale.exists()


def test_the_fallbacks_person_intents_are_scored_as_a_person() -> None:
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    [fallback] = [c for c in config["pipeline"] if c["name"].endswith("FallbackClassifier")]
    assert fallback["person_intents"] and set(fallback["person_intents"]) <= PERSON_INTENTS
