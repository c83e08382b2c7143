"""The learning curve: how fast real-post labels in the page's order make the assistant better.

    .venv/bin/python -m benchmarks.learning_curve [--pool 3000] [--steps 0,100,300,1000]

A simulated trainer starts from the shipped data (data/nlu.yml) and labels
real posts of ``../shared/real_tweets`` in the order the review page shows
them (bot/review/meaning.py: groups by the centre's margin over the log of
the group's size, the model's suggestions from the shipped model), answering
from the crowd's labels (:data:`CROWD_INTENT`: the crowd's negative reason,
or praise/thank for a positive post; a neutral post or "Can't Tell" gives no
intent, and the trainer discards it). At each step a model is trained on the
shipped data plus the labels so far (``rasa train nlu``, the shipped config)
and scored on the **held-out** labelled real posts (tests/nlu/real_posts.tsv,
part ``heldout``: never in the pool). Step 0 is the shipped data alone.

Never shipped, never run in CI (tests/review/test_learning_curve.py runs the
simulation on a few posts without training). The labelled data stays out of
the repository: everything is written under ``--out`` (results/, ignored).
Each training takes a few minutes on 2 cores; the pool's parse about a
minute per 1,000 posts.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.brand import PROJECT_ROOT, load_brand
from bot.real_posts import load as load_real_posts
from bot.real_posts import read_labels, score, tweets_path, undamaged
from bot.review.meaning import group_posts
from bot.review.nludata import NLU_FILE, NluFile, normalise
from bot.review.redaction import plain_text, redact_for_training
from bot.review.suggest import Suggestion
from bot.text import tweet_words

OUT = PROJECT_ROOT / "results" / "benchmarks" / "learning_curve"
#: The crowd's negative reason as the intent a trainer files the post under.
CROWD_INTENT = {
    "Late Flight": "flight_delayed",
    "Cancelled Flight": "flight_cancelled",
    "Lost Luggage": "baggage_issue",
    "Damaged Luggage": "baggage_issue",
    "Flight Booking Problems": "booking_change",
    "Customer Service Issue": "complaint",
    "Bad Flight": "complaint",
    "Flight Attendant Complaints": "complaint",
    "longlines": "complaint",
}
_THANKS = ("thank", "thx", "ty ")


@dataclass(frozen=True)
class PoolPost:
    tweet_id: str
    text: str  # redacted, annotated
    crowd_intent: str | None  # None: the trainer discards it


def crowd_intent(sentiment: str, reason: str, text: str) -> str | None:
    """What a trainer answering from the crowd's labels files the post under."""
    if sentiment == "negative":
        return CROWD_INTENT.get(reason)
    if sentiment == "positive":
        return "thank" if any(t in f"{text.lower()} " for t in _THANKS) else "praise"
    return None


def pool(size: int, seed: int = 0) -> list[PoolPost]:
    """``size`` posts of the shared file, redacted: none of the held-out labelled ones, nor
    any that says the same (the same words ignoring case, punctuation and handles)."""
    heldout = {row["tweet_id"] for row in read_labels() if row["part"] == "heldout"}
    yardstick = {normalise(post.text) for post in load_real_posts(("heldout",))}
    with tweets_path().open(encoding="utf-8", newline="") as file:
        rows = [r for r in csv.DictReader(file, delimiter="\t") if r["tweet_id"] not in heldout]
    random.Random(seed).shuffle(rows)
    found = []
    for row in rows[:size]:
        words = tweet_words(undamaged(row["text"]))
        if not words or normalise(words) in yardstick:
            continue
        text = redact_for_training(words).text
        intent = crowd_intent(row["airline_sentiment"], row["negativereason"], words)
        found.append(PoolPost(row["tweet_id"], text, intent))
    return found


def page_order(posts: Sequence[PoolPost], suggestions: Sequence[Suggestion]) -> list[int]:
    """Indexes of ``posts`` in the review page's order: groups by priority, the centre
    first, then the members, outliers last."""
    from bot.review.suggest import ModelSuggester

    placed = group_posts(
        np.stack([s.vector for s in suggestions]),
        np.array([s.margin for s in suggestions], dtype=np.float32),
        [s.intent for s in suggestions],
        [1] * len(posts),
        ModelSuggester.thresholds,
    )
    return sorted(
        range(len(posts)),
        key=lambda i: (
            placed[i].priority,
            placed[i].centre,
            placed[i].centre != i,
            placed[i].outlier,
            i,
        ),
    )


def labelled_steps(
    posts: Sequence[PoolPost], order: Sequence[int], steps: Sequence[int]
) -> dict[int, list[tuple[str, str]]]:
    """The (intent, text) labels the trainer has given after each step's count of labels
    (discards do not count), in the page's order."""
    labels: list[tuple[str, str]] = []
    for index in order:
        if len(labels) >= max(steps):
            break
        post = posts[index]
        if post.crowd_intent is not None:
            labels.append((post.crowd_intent, post.text))
    return {step: labels[:step] for step in steps}


def nlu_with(labels: Sequence[tuple[str, str]], path: Path) -> int:
    """A copy of data/nlu.yml with ``labels`` added; returns how many were new."""
    shutil.copy(NLU_FILE, path)
    nlu = NluFile(path)
    added = 0
    for intent, text in labels:
        added += len(nlu.add(intent, [text]))
    nlu.save()
    return added


def heldout_scores(model: Path) -> dict[str, float]:
    from bot.evaluation import load_agent
    from bot.real_posts_report import parse_real_posts

    posts = load_real_posts(("heldout",))
    parses = parse_real_posts(load_agent(model), posts)
    scores = score(posts, parses, load_brand().unsure_in_public)
    return {
        "strict_accuracy": scores.strict_accuracy,
        "top_accuracy": scores.top_accuracy,
        "macro_f1": scores.macro_f1,
        "posts": scores.posts,
    }


def plot(rows: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    steps = [r["labels"] for r in rows]
    axes.plot(steps, [r["strict_accuracy"] for r in rows], "o-", label="strict accuracy")
    axes.plot(steps, [r["macro_f1"] for r in rows], "s-", label="macro-F1")
    axes.set_xlabel("real-post labels added (page order)")
    axes.set_ylabel("held-out real posts")
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=3000, help="posts the trainer may see")
    parser.add_argument("--steps", default="0,100,300,1000")
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models" / "northwind.tar.gz")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--reuse", type=Path, help="a curve.json of an earlier run: its steps are not run again"
    )
    args = parser.parse_args()
    from bot.review.gate import train_candidate
    from bot.review.suggest import ModelSuggester

    steps = [int(s) for s in args.steps.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    posts = pool(args.pool)
    suggester = ModelSuggester(args.model)
    parsed_at = time.monotonic()
    suggestions = suggester.suggest([plain_text(p.text) for p in posts])
    parse_seconds = time.monotonic() - parsed_at
    print(f"pool: {len(posts)} posts parsed in {parse_seconds:.0f} s", flush=True)
    del suggester
    order = page_order(posts, suggestions)
    labels = labelled_steps(posts, order, steps)
    earlier = json.loads(args.reuse.read_text(encoding="utf-8")) if args.reuse else []
    done = {int(row["labels"]): row for row in earlier}
    rows = []
    for step in steps:
        if step in done:
            rows.append(done[step])
            continue
        began = time.monotonic()
        if step == 0:
            model = args.model
            added = 0
        else:
            nlu = args.out / f"nlu-{step}.yml"
            added = nlu_with(labels[step], nlu)
            model = train_candidate(nlu, args.out / f"model-{step}", args.out / f"train-{step}.log")
        row = {"labels": step, "examples_added": added, **heldout_scores(model)}
        row["seconds"] = time.monotonic() - began
        rows.append(row)
        print(json.dumps(row), flush=True)
        (args.out / "curve.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
        plot(rows, args.out / "learning_curve.png")
    print(f"done in {time.monotonic() - started:.0f} s; {args.out / 'learning_curve.png'}")


if __name__ == "__main__":
    main()
