"""How long ``python -m bot.review import`` takes on a large archive (a generated one).

    .venv/bin/python -m benchmarks.archive_import [--posts 100000] [--model-sample 0]

Writes a synthetic CSV of ``--posts`` customer posts (our own templates with
random flight numbers, places and filler words: mostly distinct texts, a few
exact repeats, like a real archive) under ``--out`` (results/, never
committed) and imports it into a fresh SQLite store there, without the model
(``--no-model``: trigram groups; ``--posts 0`` skips it). With
``--model-sample N`` it also imports N other generated posts with the shipped
model's suggestions and MPNet groups (the encoder on every core) and reports
posts per second, the CPU time (to read per core), the load average around
the run, and a linear extrapolation to 100,000 posts; ``--real-sample N``
does the same with the first N tweets of the shared real-posts file
(``REAL_TWEETS``), about twice as long as the generated posts.
``--model-posts N`` imports N generated posts as ``python -m bot.review
import`` does with the model: groups by wording first (the page is usable
from then on), then the model's pass and groups by meaning; it reports the
time to each. Run it in the background on a shared machine:

    nohup .venv/bin/python -m benchmarks.archive_import --posts 0 --model-sample 3000 \\
        > results/benchmarks/archive_import/model.log 2>&1 &
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from bot.brand import PROJECT_ROOT
from bot.model import MODEL_PATH
from bot.real_posts import tweets_path, undamaged
from bot.review.importer import ImportReport, run_import
from bot.review.suggest import ModelSuggester, Suggester, Suggestion, TrigramSuggester
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


def post(rng: random.Random) -> str:
    """One generated customer post."""
    return rng.choice(TEMPLATES).format(
        f=f"NW {rng.randint(1, 3000)}",
        p=rng.choice(PLACES),
        h=rng.randint(2, 9),
        d=rng.choice(DAYS),
        x=" ".join(rng.sample(FILLER, rng.randint(0, 5))),
    )


def generate(path: Path, posts: int, seed: int = 1) -> Path:
    """A CSV archive of ``posts`` customer posts (id, author, time, text)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "author", "time", "text"])
        for i in range(posts):
            text = post(rng)
            writer.writerow(
                [i, f"customer{rng.randint(1, posts)}", f"2026-01-01T{i % 24:02}", text]
            )
    return path


class TimedSuggester:
    """A suggester whose model load and suggestion runs are timed (wall and CPU)."""

    def __init__(self, build: Callable[[], Suggester]) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        self.inner = build()
        self.load = (time.monotonic() - wall, time.process_time() - cpu)
        self.thresholds = self.inner.thresholds
        self.wall = self.cpu = 0.0
        self.ready = 0.0  # seconds into the import when the suggester was asked for

    def suggest(self, texts: list[str]) -> list[Suggestion]:
        wall, cpu = time.monotonic(), time.process_time()
        found = self.inner.suggest(texts)
        self.wall += time.monotonic() - wall
        self.cpu += time.process_time() - cpu
        return found


def timed_import(
    archive: Path, database: Path, model: Path | None, preview: bool = False
) -> tuple[float, float, ImportReport, TimedSuggester | None]:
    """Imports ``archive`` into a fresh store: wall and CPU seconds, the report, the
    timed suggester (None if the import never needed one), which knows when it was
    asked for (``ready``: the posts were read, and grouped by wording with ``preview``)."""
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    kind = TrigramSuggester if model is None else ModelSuggester
    built: list[TimedSuggester] = []

    def suggester() -> Suggester:
        ready = time.monotonic() - wall
        if model is None:
            built.append(TimedSuggester(TrigramSuggester))
        else:
            # An import has the machine to itself: every core for the encoder.
            built.append(TimedSuggester(lambda: ModelSuggester(model, cores=os.cpu_count())))
        built[0].ready = ready
        return built[0]

    wall, cpu = time.monotonic(), time.process_time()
    report = run_import(
        session_factory(engine), archive, suggester, kind.thresholds, preview=preview
    )
    return time.monotonic() - wall, time.process_time() - cpu, report, next(iter(built), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000, help="posts imported without a model")
    parser.add_argument("--model-sample", type=int, default=0, help="generated posts, model")
    parser.add_argument("--real-sample", type=int, default=0, help="real tweets, model")
    parser.add_argument(
        "--model-posts", type=int, default=0, help="generated posts, the whole import with model"
    )
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    database = args.out / "import.sqlite"
    if args.posts:
        archive = generate(args.out / f"archive-{args.posts}.csv", args.posts)
        database.unlink(missing_ok=True)
        seconds, cpu, report, _ = timed_import(archive, database, None)
        print(f"no model: {args.posts} posts in {seconds:.0f} s (CPU {cpu:.0f} s): {report}")
    if args.model_sample:
        sample = generate(args.out / f"archive-{args.model_sample}.csv", args.model_sample, 2)
        model_run("generated", sample, args.model_sample, database, args.model)
    if args.model_posts:
        archive = generate(args.out / f"archive-{args.model_posts}.csv", args.model_posts, 3)
        whole_run(archive, args.model_posts, database, args.model)
    if args.real_sample:
        sample = real_archive(args.out / f"real-{args.real_sample}.csv", args.real_sample)
        if sample is None:
            print(f"real posts: {tweets_path()} is missing (REAL_TWEETS names another file)")
        else:
            model_run("real", sample, args.real_sample, database, args.model)


def real_archive(path: Path, posts: int) -> Path | None:
    """A CSV archive of the first ``posts`` tweets of the shared file (customers'
    posts to airlines, about twice as long as the generated ones), or None without it."""
    if not tweets_path().exists():
        return None
    with tweets_path().open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))[:posts]
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "text"])
        writer.writerows([row["tweet_id"], undamaged(row["text"])] for row in rows)
    return path


def model_run(kind: str, archive: Path, n: int, database: Path, model: Path) -> None:
    """Imports ``archive`` (``n`` posts) with the model and prints what it took."""
    database.unlink(missing_ok=True)
    load_before = os.getloadavg()
    seconds, cpu, report, timed = timed_import(archive, database, model)
    load_after = os.getloadavg()
    if timed is None:
        print(f"{kind}: nothing to suggest: {report}")
        return
    kept = max(report.kept, 1)
    rest = seconds - timed.load[0] - timed.wall
    print(
        f"model, {kind} posts: {n} ({report.kept} kept) in {seconds:.0f} s, CPU {cpu:.0f} s "
        f"({os.cpu_count()} cores; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after, {load_after[2]:.1f} over 15 min)\n"
        f"  loading the model {timed.load[0]:.0f} s (CPU {timed.load[1]:.0f} s)\n"
        f"  suggestions and vectors {timed.wall:.0f} s (CPU {timed.cpu:.0f} s): "
        f"{kept / timed.wall:.1f} posts/s, {1000 * timed.wall / kept:.0f} ms "
        f"(CPU {1000 * timed.cpu / kept:.0f} ms) a post\n"
        f"  reading, storing, grouping {rest:.0f} s\n"
        f"  extrapolated (linearly, not measured): 100,000 such posts in about "
        f"{(timed.load[0] + (seconds - timed.load[0]) * 100_000 / n) / 60:.0f} min "
        f"at this load\n  {report}",
        flush=True,
    )


def whole_run(archive: Path, n: int, database: Path, model: Path) -> None:
    """Imports ``archive`` (``n`` posts) as ``python -m bot.review import`` does with the
    model, and prints when the page had groups and when the import ended."""
    database.unlink(missing_ok=True)
    load_before = os.getloadavg()
    seconds, cpu, report, timed = timed_import(archive, database, model, preview=True)
    load_after = os.getloadavg()
    assert timed is not None
    kept = max(report.kept, 1)
    print(
        f"model, the whole import of {n} generated posts ({report.kept} kept): "
        f"{seconds:.0f} s, CPU {cpu:.0f} s ({os.cpu_count()} cores; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after, {load_after[2]:.1f} over 15 min)"
        f"\n  on the page in groups by wording (read, redacted, stored, grouped): "
        f"{timed.ready:.0f} s"
        f"\n  loading the model {timed.load[0]:.0f} s; suggestions and vectors {timed.wall:.0f} s "
        f"(CPU {timed.cpu:.0f} s, {1000 * timed.wall / kept:.0f} ms a post)"
        f"\n  groups by meaning and the rest "
        f"{seconds - timed.ready - timed.load[0] - timed.wall:.0f} s\n  {report}",
        flush=True,
    )


if __name__ == "__main__":
    main()
