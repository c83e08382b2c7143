"""The sentence encoder's runtimes side by side: training, parse time, memory, accuracy.

    .venv/bin/python -m benchmarks.encoder_runtimes [--variant numpy onnx onnx-int8]

For each variant of the featurizer (``runtime: numpy``, ``runtime: onnx``,
``runtime: onnx`` with ``quantize: int8``; the rest of ``config.yml``
unchanged) this, one variant after the other:

1. trains the whole assistant with ``rasa train`` from an empty cache (a new
   ``RASA_CACHE_DIRECTORY``, so neither Rasa's cache nor the encoder cache
   helps; the encoder's threads as ``python -m bot.model`` sets them), timed;
2. loads the model in a fresh process and measures: resident memory with the
   model loaded, one parse at a time over the first ``--messages`` test
   messages (``Agent.parse_message``, as a conversation turn does: mean, p50,
   p95 wall-clock and CPU ms), the whole test set parsed in batches of 64
   (ms per message), and resident memory after it all;
3. evaluates the model with ``python -m bot.evaluation`` (the held-out test
   set's macro-F1 and accuracy, the real posts' held-out part).

Models go to ``models/runtimes/``, reports to ``results/runtimes/``; the table
is printed with the machine's load average, which docs/benchmarks.md keeps
beside each figure. The ONNX graphs are built before the clock starts (once
per environment, like MPNet's unpacking): their build time is printed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.nlu import encoder_options
from bot.brand import PROJECT_ROOT
from bot.evaluation import TEST_FILE
from bot.model import rasa_env

VARIANTS: dict[str, dict[str, str]] = {
    "numpy": {"runtime": "numpy", "quantize": "none"},
    "onnx": {"runtime": "onnx", "quantize": "none"},
    "onnx-int8": {"runtime": "onnx", "quantize": "int8"},
}
MODELS = PROJECT_ROOT / "models" / "runtimes"
RESULTS = PROJECT_ROOT / "results" / "runtimes"


@dataclass
class Figures:
    """What one variant measured."""

    variant: str
    train_seconds: float = 0.0
    rss_loaded_mb: float = 0.0
    rss_after_mb: float = 0.0
    parse_mean_ms: float = 0.0
    parse_p50_ms: float = 0.0
    parse_p95_ms: float = 0.0
    parse_cpu_ms: float = 0.0
    batched_ms: float = 0.0
    macro_f1: float = 0.0
    accuracy: float = 0.0
    real_posts_heldout: str = ""
    load: str = ""


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, for the figures' record."""
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def rss_mb() -> float:
    """Resident memory of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def train(variant: str, config: dict[str, Any], workdir: Path) -> tuple[Path, float]:
    """``rasa train`` of the whole assistant from an empty cache; the model and seconds."""
    config_file = workdir / f"config-{variant}.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    MODELS.mkdir(parents=True, exist_ok=True)
    env = {
        **rasa_env(),
        "RASA_CACHE_DIRECTORY": str(workdir / f"cache-{variant}"),
        "CARE_ENCODER_THREADS": str(os.cpu_count() or 1),
    }
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "train",
            "--config",
            str(config_file),
            "--out",
            str(MODELS),
            "--fixed-model-name",
            f"northwind-{variant}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return MODELS / f"northwind-{variant}.tar.gz", time.monotonic() - started


def measure(model: Path, messages: int) -> dict[str, float]:
    """Memory and parse time of a loaded model (run in a process of its own)."""
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.evaluation import load_agent, parse_texts

    texts = [e.get("text") for e in load_data(str(TEST_FILE)).intent_examples]
    agent = load_agent(model)
    loaded = rss_mb()

    async def one_at_a_time() -> tuple[list[float], float]:
        for text in texts[:5]:  # warm-up: first calls allocate
            await agent.parse_message(text)
        walls = []
        cpu = time.process_time()
        for text in texts[:messages]:
            started = time.perf_counter()
            await agent.parse_message(text)
            walls.append(time.perf_counter() - started)
        return walls, time.process_time() - cpu

    walls, cpu = asyncio.run(one_at_a_time())
    started = time.perf_counter()
    parse_texts(agent, texts)
    batched = (time.perf_counter() - started) / len(texts)
    ms = sorted(1000 * w for w in walls)
    return {
        "rss_loaded_mb": loaded,
        "rss_after_mb": rss_mb(),
        "parse_mean_ms": statistics.mean(ms),
        "parse_p50_ms": statistics.median(ms),
        "parse_p95_ms": ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))],
        "parse_cpu_ms": 1000 * cpu / len(ms),
        "batched_ms": 1000 * batched,
    }


def evaluate(variant: str, model: Path) -> tuple[float, float, str]:
    """``python -m bot.evaluation`` on the model: macro-F1, accuracy, the real posts'
    held-out line."""
    out = RESULTS / variant
    # Not check=True: the command exits 1 below 0.90 macro-F1, a figure too.
    subprocess.run(
        [sys.executable, "-m", "bot.evaluation", "--model", str(model), "--out", str(out)],
        cwd=PROJECT_ROOT,
        env=rasa_env(),
        stdout=subprocess.DEVNULL,
    )
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    real = out / "real_posts.md"
    heldout = ""
    if real.exists():
        lines = real.read_text(encoding="utf-8").splitlines()
        # | part | posts | strict accuracy | top intent right | macro-F1 | fallback | outcome |
        heldout = " ".join(line for line in lines if line.startswith("| heldout |"))
    return float(report["macro avg"]["f1-score"]), float(report["accuracy"]), heldout


def run_variant(
    variant: str, shipped: dict[str, Any], messages: int, workdir: Path, reuse: bool = False
) -> Figures:
    """Trains (unless ``reuse`` and its model is there), measures and evaluates one variant."""
    options = VARIANTS[variant]
    figures = Figures(variant, load=load_average())
    model = MODELS / f"northwind-{variant}.tar.gz"
    if reuse and model.exists():
        figures.train_seconds = float("nan")  # trained by an earlier run
    else:
        model, figures.train_seconds = train(variant, encoder_options(shipped, **options), workdir)
    print(f"[{variant}] trained in {figures.train_seconds:.0f} s", file=sys.stderr, flush=True)
    measured = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.encoder_runtimes",
            "--measure",
            str(model),
            "--messages",
            str(messages),
        ],
        cwd=PROJECT_ROOT,
        env=rasa_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    for key, value in json.loads(measured.stdout.strip().splitlines()[-1]).items():
        setattr(figures, key, value)
    print(f"[{variant}] parse {figures.parse_p50_ms:.0f} ms p50", file=sys.stderr, flush=True)
    figures.macro_f1, figures.accuracy, figures.real_posts_heldout = evaluate(variant, model)
    figures.load += " → " + load_average()
    return figures


def table(results: list[Figures]) -> str:
    """The figures as Markdown."""
    lines = [
        "| encoder runtime | training s (empty cache) | parse ms, one at a time: mean / p50 / p95 "
        "| CPU ms per parse | ms per message in batches of 64 | RSS loaded / after, MB "
        "| macro-F1 / accuracy (test set) | load average (start → end) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.variant} | {r.train_seconds:.0f} | {r.parse_mean_ms:.0f} / "
            f"{r.parse_p50_ms:.0f} / {r.parse_p95_ms:.0f} | {r.parse_cpu_ms:.0f} | "
            f"{r.batched_ms:.1f} | {r.rss_loaded_mb:.0f} / {r.rss_after_mb:.0f} | "
            f"{r.macro_f1:.3f} / {r.accuracy:.3f} | {r.load} |"
        )
    lines.append("")
    lines += [f"* {r.variant}, real posts: {r.real_posts_heldout}" for r in results]
    return "\n".join(lines)


def save(figures: Figures) -> None:
    """Keeps a variant's figures in ``results/runtimes/figures.json`` (beside the others')."""
    path = RESULTS / "figures.json"
    kept = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    kept[figures.variant] = asdict(figures)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(kept, indent=2) + "\n", encoding="utf-8")


def build_graphs(variants: list[str]) -> None:
    """Builds the ONNX graphs the variants need (once per environment), timed apart."""
    from in_rasa.nlu.onnx_encoder import graph_file

    encoder = "all-mpnet-base-v2"
    for variant in variants:
        quantize = VARIANTS[variant]["quantize"]
        if VARIANTS[variant]["runtime"] == "onnx":
            started = time.monotonic()
            path = graph_file(encoder, quantize)
            print(
                f"[{variant}] graph {path.name}: {time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--messages", type=int, default=200, help="parsed one at a time")
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "config.yml")
    parser.add_argument(
        "--reuse-models",
        action="store_true",
        help="measure and evaluate the models of an earlier run (no training figure)",
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.messages)))
        return
    shipped = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    build_graphs(args.variant)
    results = []
    with tempfile.TemporaryDirectory(prefix="encoder-runtimes-") as workdir:
        for variant in args.variant:
            results.append(
                run_variant(variant, shipped, args.messages, Path(workdir), args.reuse_models)
            )
            save(results[-1])
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores\n")
    print(table(results))


if __name__ == "__main__":
    main()
