"""The archive import's pruned model run against the full graph, in one process.

    .venv/bin/python -m benchmarks.suggestion_run [--posts 2048]

Loads the shipped model once and suggests for the same generated posts (those
of benchmarks/archive_import.py) both ways, a batch of 256 at a time,
alternating which goes first: Rasa's whole NLU graph in batches of 64
(``bot.evaluation.nlu_messages``, what the import ran before) and the pruned
run (bot/review/suggestion_run.py). Both share the sentence encoder and its
threads (``CARE_ENCODER_THREADS``), so the difference is what the pruned run
leaves out. Prints wall and CPU milliseconds a post for each, after every batch.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.archive_import import post
from bot.evaluation import load_agent, nlu_messages
from bot.model import MODEL_PATH
from bot.review.suggest import Suggestion, suggestion_of
from bot.review.suggestion_run import SuggestionRun

BATCH = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2048)
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    rng = random.Random(3)
    texts = [post(rng) for _ in range(args.posts)]
    agent = load_agent(args.model)
    run = SuggestionRun(agent)
    print(f"left out: {', '.join(run.skipped)}; selectors: {run.selectors}", flush=True)
    ways: dict[str, Callable[[list[str]], list[Suggestion]]] = {
        "full graph": lambda t: [suggestion_of(m) for m in nlu_messages(agent, t, 64)],
        "pruned run": lambda t: [suggestion_of(m) for m in run.messages(t)],
    }
    for way in ways.values():
        way(texts[:64])  # the encoder's session and TensorFlow's tracing, once
    spent = {name: [0.0, 0.0, 0] for name in ways}
    for number, start in enumerate(range(0, len(texts), BATCH)):
        batch = texts[start : start + BATCH]
        order = list(ways) if number % 2 == 0 else list(reversed(ways))
        for name in order:
            wall, cpu = time.monotonic(), time.process_time()
            ways[name](batch)
            totals = spent[name]
            totals[0] += time.monotonic() - wall
            totals[1] += time.process_time() - cpu
            totals[2] += len(batch)
        print(
            f"{spent[order[0]][2]} posts: "
            + "; ".join(
                f"{name} {1000 * w / n:.1f} ms (CPU {1000 * c / n:.1f} ms) a post"
                for name, (w, c, n) in spent.items()
            )
            + f"; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
