"""How long ``python -m bot.review import`` takes on a large archive (a generated one).

    .venv/bin/python -m benchmarks.archive_import [--posts 100000] [--model-sample 0]

Writes a synthetic CSV of ``--posts`` customer posts (our own templates with
random flight numbers, places and filler words: mostly distinct texts, a few
exact repeats, like a real archive) under ``--out`` (results/, never
committed) and imports it into a fresh SQLite store there, without the model
(``--no-model``: trigram groups). With ``--model-sample N`` it also imports
the first N posts with the shipped model's suggestions and MPNet groups and
reports the time per post, to extrapolate (the model path on 100,000 posts
takes hours on 2 shared cores).
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

from bot.brand import PROJECT_ROOT
from bot.model import MODEL_PATH
from bot.review.importer import run_import
from bot.review.suggest import ModelSuggester, TrigramSuggester
from bot.store.db import make_engine, migrate, session_factory

OUT = PROJECT_ROOT / "results" / "benchmarks" / "archive_import"
TEMPLATES = [
    "my flight {f} from {p} is {h} hours late {x}",
    "is {f} to {p} on time today? {x}",
    "{f} got cancelled, what are my options {x}",
    "my bag never arrived in {p} after {f} {x}",
    "can I change my flight to {p} to {d} {x}",
    "I want a refund for {f}, it was cancelled {x}",
    "how much is an extra bag to {p} {x}",
    "do you have wifi on {f} {x}",
    "can I bring my dog on the flight to {p} {x}",
    "worst airline ever, {h} hours at the gate in {p} {x}",
    "thank you to the crew of {f}, lovely flight to {p} {x}",
    "I need to talk to a real person about my booking {x}",
]
PLACES = [
    "Oslo",
    "Lisbon",
    "Rome",
    "Denver",
    "Boston",
    "Paris",
    "Madrid",
    "Dublin",
    "Athens",
    "Vienna",
    "Prague",
    "Split",
]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "tomorrow"]
FILLER = [
    "please",
    "asap",
    "seriously",
    "again",
    "today",
    "nobody",
    "answers",
    "the",
    "phone",
    "app",
    "keeps",
    "crashing",
    "kids",
    "are",
    "tired",
    "we",
    "have",
    "a",
    "wedding",
    "business",
    "trip",
    "booked",
    "months",
    "ago",
    "thanks",
    "why",
]


def generate(path: Path, posts: int, seed: int = 1) -> Path:
    """A CSV archive of ``posts`` customer posts (id, author, time, text)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "author", "time", "text"])
        for i in range(posts):
            text = rng.choice(TEMPLATES).format(
                f=f"NW {rng.randint(1, 3000)}",
                p=rng.choice(PLACES),
                h=rng.randint(2, 9),
                d=rng.choice(DAYS),
                x=" ".join(rng.sample(FILLER, rng.randint(0, 5))),
            )
            writer.writerow(
                [i, f"customer{rng.randint(1, posts)}", f"2026-01-01T{i % 24:02}", text]
            )
    return path


def timed_import(archive: Path, database: Path, model: Path | None) -> tuple[float, object]:
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    kind = TrigramSuggester if model is None else ModelSuggester
    started = time.monotonic()
    report = run_import(
        session_factory(engine),
        archive,
        (lambda: TrigramSuggester()) if model is None else (lambda: ModelSuggester(model)),
        kind.thresholds,
    )
    return time.monotonic() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--model-sample", type=int, default=0)
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    archive = generate(args.out / f"archive-{args.posts}.csv", args.posts)
    database = args.out / "import.sqlite"
    database.unlink(missing_ok=True)
    seconds, report = timed_import(archive, database, None)
    print(f"no model: {args.posts} posts in {seconds:.0f} s: {report}")
    if args.model_sample:
        sample = generate(args.out / f"archive-{args.model_sample}.csv", args.model_sample, 2)
        database.unlink(missing_ok=True)
        seconds, report = timed_import(sample, database, args.model)
        per_post = seconds / args.model_sample
        print(
            f"model: {args.model_sample} posts in {seconds:.0f} s ({1000 * per_post:.0f} ms a post;"
            f" 100,000 would take about {per_post * 100_000 / 3600:.1f} h): {report}"
        )


if __name__ == "__main__":
    main()
