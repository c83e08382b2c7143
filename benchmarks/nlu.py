"""The NLU pipeline on public intent benchmarks, beside the published results.

    .venv/bin/python -m benchmarks.nlu [--benchmark all] [--config config.yml] [--write-docs]

For each benchmark (Banking77 with all its training data and with 10 examples
per intent, CLINC150 with its out-of-scope queries) this trains the NLU
pipeline of ``--config`` with Rasa's own training on the benchmark's training
split, then parses its test split in batches of 64 (the evaluation's batched
parse) and times ``--latency-sample`` of the messages again one at a time, as
a conversation turn parses. ``--runtime`` and ``--quantize`` run the sentence
encoder another way (the featurizer's options of the same names: numpy or
onnx; none or int8). Left out of the pipeline is what only the airline needs:
the ``product_question`` response selector, the airline's entity rules and the
fallback's intent groups (airline intents). The fallback keeps its threshold.

Figures: accuracy and macro-F1 of the top intent, training seconds, and
milliseconds per parsed message. For CLINC150 also in-scope accuracy and
out-of-scope recall at the fallback threshold: an out-of-scope query is
caught when the assistant would hand it over (predicted ``out_of_scope``, the
intent our assistant has for them, or fallen back), and an in-scope query
counts as right only when it is answered with its intent.

Writes ``<out>/<benchmark>.json`` and ``<out>/summary.md``; ``--write-docs``
puts the table of every result in ``<out>`` into docs/benchmarks.md, and
``--report-only`` does only that, from earlier runs. The data sets are not
part of the repository: they are read from ``../shared/benchmarks``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from bot.brand import PROJECT_ROOT
from in_rasa.nlu.encoder import QUANTIZATIONS, RUNTIMES

DATA_DIR = PROJECT_ROOT.parent / "shared" / "benchmarks"
SHIPPED_CONFIG = PROJECT_ROOT / "config.yml"
RESULTS_DIR = PROJECT_ROOT / "results" / "benchmarks"
DOCS_FILE = PROJECT_ROOT / "docs" / "benchmarks.md"
# docs/benchmarks.md keeps its prose; the command rewrites what is between these.
TABLE_START = "<!-- benchmark table: written by `python -m benchmarks.nlu --write-docs` -->"
TABLE_END = "<!-- end of benchmark table -->"

# CLINC150 calls its out-of-scope queries "oos"; the assistant's intent for
# them is out_of_scope (it hands them over), so they are trained under that name.
OUT_OF_SCOPE = "out_of_scope"
FALLBACK_INTENT = "nlu_fallback"
# Components of the shipped pipeline that only the airline needs.
NOT_APPLICABLE = ("LinearResponseSelector", "ResponseSelector", "RuleEntityExtractor")
SWEEP = [round(0.05 * i, 2) for i in range(2, 19)]
# Test messages are parsed in batches (the sentence encoder is several times
# faster per message on a batch); a sample is also parsed one at a time, the
# figure a conversation turn sees.
PARSE_BATCH = 64
LATENCY_SAMPLE = 200

# Accuracy (%) published for each benchmark (../shared/benchmarks/README.md).
PUBLISHED = {
    "banking77": "fine-tuned BERT 93.66; USE+ConveRT 93.36; TF-IDF + LR baseline 91.3",
    "banking77-10shot": "USE+ConveRT 85.19; best listed 89.8; TF-IDF + LR baseline 75.4",
    "clinc150": (
        "in-scope / OOS recall: BERT 96.9 / 40.3, with a threshold 96.2 / 52.3; "
        "Rasa (2019) 91.5 / 45.3; TF-IDF + LR 92.5, at threshold 0.3: 89.6 / 82.7"
    ),
}


class BenchmarkDataMissing(RuntimeError):
    """The benchmark data sets are not where they should be."""


@dataclass(frozen=True)
class Example:
    """A labelled message."""

    text: str
    intent: str


@dataclass(frozen=True)
class Benchmark:
    """A training split and a test split of one public data set."""

    name: str
    train: list[Example]
    test: list[Example]

    @property
    def intents(self) -> list[str]:
        """The intents of the training split, out-of-scope included."""
        return sorted({e.intent for e in self.train})

    @property
    def has_out_of_scope(self) -> bool:
        """Whether the test split holds queries that belong to no intent."""
        return any(e.intent == OUT_OF_SCOPE for e in self.test)


@dataclass(frozen=True)
class Parse:
    """What the trained pipeline made of one test message."""

    intent: str  # the label
    predicted: str  # the classifier's top intent, the fallback's decision set aside
    confidence: float
    margin: float  # top confidence minus the runner-up's (the fallback's ambiguity check)
    fell_back: bool  # the pipeline's fallback classifier handed it over
    seconds: float


@dataclass(frozen=True)
class ThresholdRow:
    """In-scope accuracy and out-of-scope recall at one fallback threshold."""

    threshold: float
    in_scope_accuracy: float
    out_of_scope_recall: float


@dataclass
class Result:
    """The figures of one benchmark run (what the JSON file holds)."""

    benchmark: str
    config: str
    components: list[str]
    train_examples: int
    test_examples: int
    intents: int
    train_seconds: float
    ms_per_message: float  # parsed in batches of PARSE_BATCH
    accuracy: float
    macro_f1: float
    fallback_threshold: float | None
    answered: float  # share of test messages the pipeline answers (not fallen back)
    in_scope_accuracy: float | None = None  # CLINC150: at the fallback threshold
    out_of_scope_recall: float | None = None
    in_scope_accuracy_no_threshold: float | None = None
    out_of_scope_recall_no_threshold: float | None = None
    sweep: list[ThresholdRow] = field(default_factory=list)
    latency_ms: float | None = None  # median of one message at a time (LATENCY_SAMPLE)
    machine: dict[str, str] = field(default_factory=dict)
    command: str = ""
    finished: str = ""


# --- data -------------------------------------------------------------------


def _require(path: Path) -> Path:
    if not path.exists():
        raise BenchmarkDataMissing(
            f"{path} is missing: the benchmark data sets live in ../shared/benchmarks "
            "beside the project (see its README.md), or pass --data DIR"
        )
    return path


def _read_csv(path: Path) -> list[Example]:
    with _require(path).open(encoding="utf-8", newline="") as file:
        return [Example(row["text"].strip(), row["category"]) for row in csv.DictReader(file)]


def load_banking77(data_dir: Path, few_shot: bool = False) -> Benchmark:
    """Banking77: ``train.csv``, or the 10-per-intent split in ``train_10/``; ``test.csv``."""
    folder = data_dir / "banking77"
    if few_shot:
        texts = _require(folder / "train_10" / "seq.in").read_text(encoding="utf-8")
        labels = _require(folder / "train_10" / "label").read_text(encoding="utf-8")
        train = [
            Example(text.strip(), label.strip())
            for text, label in zip(texts.splitlines(), labels.splitlines(), strict=True)
        ]
        name = "banking77-10shot"
    else:
        train = _read_csv(folder / "train.csv")
        name = "banking77"
    return Benchmark(name, train, _read_csv(folder / "test.csv"))


def load_clinc150(data_dir: Path) -> Benchmark:
    """CLINC150 "full": 150 intents, plus its out-of-scope queries as ``out_of_scope``."""
    data = json.loads(_require(data_dir / "clinc150" / "data_full.json").read_text("utf-8"))

    def examples(*keys: str) -> list[Example]:
        return [
            Example(text.strip(), OUT_OF_SCOPE if intent == "oos" else intent)
            for key in keys
            for text, intent in data[key]
        ]

    return Benchmark("clinc150", examples("train", "oos_train"), examples("test", "oos_test"))


LOADERS: dict[str, Callable[[Path], Benchmark]] = {
    "banking77": load_banking77,
    "banking77-10shot": lambda data_dir: load_banking77(data_dir, few_shot=True),
    "clinc150": load_clinc150,
}


def sliced(benchmark: Benchmark, intents: int | None, per_intent: int | None) -> Benchmark:
    """A small slice: the first ``intents`` intents (plus out-of-scope), ``per_intent`` each.

    For the test suite, which runs the whole command on a slice so it cannot rot.
    """
    names = [i for i in benchmark.intents if i != OUT_OF_SCOPE]
    kept = set(names[:intents] if intents else names) | {OUT_OF_SCOPE}

    def take(examples: list[Example]) -> list[Example]:
        counts: dict[str, int] = {}
        chosen = []
        for example in examples:
            if example.intent not in kept:
                continue
            counts[example.intent] = counts.get(example.intent, 0) + 1
            if per_intent is None or counts[example.intent] <= per_intent:
                chosen.append(example)
        return chosen

    return replace(benchmark, train=take(benchmark.train), test=take(benchmark.test))


# --- the pipeline -----------------------------------------------------------


def _short_name(component: dict[str, Any]) -> str:
    return str(component.get("name", "")).rsplit(".", 1)[-1]


def benchmark_config(config: dict[str, Any], epochs: int | None = None) -> dict[str, Any]:
    """The NLU part of an assistant config, without what only the airline needs.

    ``epochs`` overrides the epochs of every component that trains in epochs
    (only for the test suite's small slice: figures need the configured ones).
    """
    pipeline = []
    for component in config.get("pipeline") or []:
        if _short_name(component) in NOT_APPLICABLE:
            continue
        component = dict(component)
        if _short_name(component).endswith("FallbackClassifier"):
            component.pop("intent_groups", None)
            component.pop("person_intents", None)
        if epochs is not None and (
            "epochs" in component or _short_name(component) == "DIETClassifier"
        ):
            component["epochs"] = epochs
        pipeline.append(component)
    return {
        "recipe": config.get("recipe", "default.v1"),
        "language": config.get("language", "en"),
        "assistant_id": "nlu-benchmark",
        "pipeline": pipeline,
        # An NLU-only model; listing none keeps Rasa from choosing some itself.
        "policies": [{"name": "RulePolicy"}],
    }


def encoder_options(
    config: dict[str, Any], runtime: str | None, quantize: str | None
) -> dict[str, Any]:
    """``config`` with the sentence encoder's runtime and quantization replaced (where given)."""
    if runtime is None and quantize is None:
        return config
    config = json.loads(json.dumps(config))
    featurizers = [
        c for c in config.get("pipeline") or [] if _short_name(c) == "SentenceEncoderFeaturizer"
    ]
    if not featurizers:
        raise ValueError("--runtime and --quantize need a SentenceEncoderFeaturizer in --config")
    for component in featurizers:
        if runtime is not None:
            component["runtime"] = runtime
        if quantize is not None:
            component["quantize"] = quantize
    return config


def fallback_settings(config: dict[str, Any]) -> tuple[float | None, float]:
    """The fallback classifier's threshold and ambiguity threshold (None: no fallback)."""
    for component in config.get("pipeline") or []:
        if _short_name(component).endswith("FallbackClassifier"):
            return (
                float(component.get("threshold", 0.3)),
                float(component.get("ambiguity_threshold", 0.1)),
            )
    return None, 0.0


def write_training_data(examples: Iterable[Example], path: Path) -> None:
    """Writes the examples as Rasa YAML NLU data (Rasa's writer does the quoting)."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    messages = [Message(data={"text": e.text, "intent": e.intent}) for e in examples]
    path.write_text(RasaYAMLWriter().dumps(TrainingData(messages)), encoding="utf-8")


def train(config: dict[str, Any], benchmark: Benchmark, workdir: Path) -> tuple[Path, float]:
    """Trains the pipeline with Rasa's NLU training; returns the model and the seconds."""
    from rasa.model_training import train_nlu

    config_file = workdir / "config.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    nlu_file = workdir / "nlu.yml"
    write_training_data(benchmark.train, nlu_file)
    started = time.perf_counter()
    model = train_nlu(
        str(config_file), str(nlu_file), str(workdir), fixed_model_name=benchmark.name
    )
    seconds = time.perf_counter() - started
    if model is None:
        raise RuntimeError(f"Rasa trained no model for {benchmark.name} (see its log above)")
    return Path(model), seconds


def parse_all(
    model: Path, examples: list[Example], label: str, latency_sample: int = LATENCY_SAMPLE
) -> tuple[list[Parse], list[float]]:
    """Parses every test message with the trained model, in batches (as the
    evaluation does), with a progress bar; then times ``latency_sample`` of them
    one at a time, as a conversation turn parses. Returns the parses and those
    one-at-a-time seconds."""
    from rasa.core.agent import Agent
    from tqdm import tqdm

    from bot.evaluation import parse_texts

    agent = Agent.load(str(model))
    parses = []
    with tqdm(
        total=len(examples), desc=f"[{label}] parsing", unit="msg", mininterval=1.0
    ) as progress:
        for start in range(0, len(examples), PARSE_BATCH):
            chunk = examples[start : start + PARSE_BATCH]
            started = time.perf_counter()
            parsed = parse_texts(agent, [e.text for e in chunk], batch_size=PARSE_BATCH)
            seconds = (time.perf_counter() - started) / len(chunk)
            parses += [_parse(e, p, seconds) for e, p in zip(chunk, parsed, strict=True)]
            progress.update(len(chunk))

    async def one_at_a_time() -> list[float]:
        timings = []
        for example in examples[:latency_sample]:
            started = time.perf_counter()
            await agent.parse_message(example.text)
            timings.append(time.perf_counter() - started)
        return timings

    return parses, asyncio.run(one_at_a_time())


def _parse(example: Example, parsed: dict[str, Any], seconds: float) -> Parse:
    ranking = [r for r in parsed.get("intent_ranking") or [] if r["name"] != FALLBACK_INTENT]
    if not ranking and parsed.get("intent"):
        ranking = [parsed["intent"]]
    top: dict[str, Any] = ranking[0] if ranking else {"name": "", "confidence": 0.0}
    runner_up = float(ranking[1]["confidence"]) if len(ranking) > 1 else 0.0
    return Parse(
        intent=example.intent,
        predicted=str(top["name"]),
        confidence=float(top["confidence"]),
        margin=float(top["confidence"]) - runner_up,
        fell_back=(parsed.get("intent") or {}).get("name") == FALLBACK_INTENT,
        seconds=seconds,
    )


# --- figures ----------------------------------------------------------------


def macro_f1(parses: list[Parse]) -> float:
    """Macro-averaged F1 over the test split's intents."""
    from sklearn.metrics import f1_score

    labels = sorted({p.intent for p in parses})
    return float(
        f1_score(
            [p.intent for p in parses],
            [p.predicted for p in parses],
            labels=labels,
            average="macro",
            zero_division=0,
        )
    )


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def handed_over(parse: Parse, threshold: float, ambiguity: float) -> bool:
    """Whether the fallback hands the message over at ``threshold``, as the pipeline's does."""
    return parse.confidence < threshold or parse.margin < ambiguity


def out_of_scope_figures(
    parses: list[Parse], fell_back: Callable[[Parse], bool]
) -> tuple[float, float]:
    """In-scope accuracy (answered with the right intent) and out-of-scope recall (not answered)."""
    in_scope = [p for p in parses if p.intent != OUT_OF_SCOPE]
    out_of_scope = [p for p in parses if p.intent == OUT_OF_SCOPE]
    accuracy = _share([p.predicted == p.intent and not fell_back(p) for p in in_scope])
    recall = _share([p.predicted == OUT_OF_SCOPE or fell_back(p) for p in out_of_scope])
    return accuracy, recall


def threshold_sweep(parses: list[Parse], ambiguity: float) -> list[ThresholdRow]:
    """The in-scope / out-of-scope trade-off over fallback thresholds."""
    rows = []
    for threshold in SWEEP:
        accuracy, recall = out_of_scope_figures(
            parses, functools.partial(handed_over, threshold=threshold, ambiguity=ambiguity)
        )
        rows.append(ThresholdRow(threshold, accuracy, recall))
    return rows


def score(
    benchmark: Benchmark,
    parses: list[Parse],
    config: dict[str, Any],
    train_seconds: float,
    latencies: list[float] | None = None,
) -> Result:
    """The figures of one run (``latencies``: seconds of single-message parses)."""
    threshold, ambiguity = fallback_settings(config)
    result = Result(
        benchmark=benchmark.name,
        config="",
        components=[_short_name(c) for c in config["pipeline"]],
        train_examples=len(benchmark.train),
        test_examples=len(parses),
        intents=len(benchmark.intents),
        train_seconds=round(train_seconds, 1),
        ms_per_message=round(1000 * sum(p.seconds for p in parses) / max(len(parses), 1), 2),
        accuracy=_share([p.predicted == p.intent for p in parses]),
        macro_f1=macro_f1(parses),
        fallback_threshold=threshold,
        answered=_share([not p.fell_back for p in parses]),
        latency_ms=round(1000 * statistics.median(latencies), 2) if latencies else None,
    )
    if benchmark.has_out_of_scope:
        result.in_scope_accuracy, result.out_of_scope_recall = out_of_scope_figures(
            parses, lambda p: p.fell_back
        )
        (
            result.in_scope_accuracy_no_threshold,
            result.out_of_scope_recall_no_threshold,
        ) = out_of_scope_figures(parses, lambda p: False)
        result.sweep = threshold_sweep(parses, ambiguity)
    return result


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    import rasa

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "rasa": rasa.__version__,
        "system": platform.system(),
    }


# --- reports ----------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def markdown_table(results: list[Result]) -> str:
    """Our figures beside the published ones, one row per benchmark."""
    lines = [
        "| benchmark | train / test | accuracy % | macro-F1 % | in-scope acc. % at threshold "
        "| OOS recall % at threshold | train s | ms / message (batches) "
        "| ms, one message (p50) | published (accuracy %) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = list(LOADERS)
    for r in sorted(
        results, key=lambda r: order.index(r.benchmark) if r.benchmark in order else 99
    ):
        threshold = "" if r.fallback_threshold is None else f" ({r.fallback_threshold:g})"
        lines.append(
            f"| {r.benchmark} | {r.train_examples:,} / {r.test_examples:,} | "
            f"**{_pct(r.accuracy)}** | {_pct(r.macro_f1)} | "
            f"{_pct(r.in_scope_accuracy)}{threshold if r.in_scope_accuracy is not None else ''} | "
            f"{_pct(r.out_of_scope_recall)} | {r.train_seconds:.0f} | {r.ms_per_message:.1f} | "
            f"{'' if r.latency_ms is None else f'{r.latency_ms:.1f}'} | "
            f"{PUBLISHED.get(r.benchmark, '')} |"
        )
    return "\n".join(lines)


def sweep_table(result: Result) -> str:
    """CLINC150's in-scope accuracy and out-of-scope recall per fallback threshold."""
    lines = [
        "| threshold | in-scope accuracy % | out-of-scope recall % |",
        "|---|---|---|",
        f"| none (top intent) | {_pct(result.in_scope_accuracy_no_threshold)} | "
        f"{_pct(result.out_of_scope_recall_no_threshold)} |",
    ]
    for row in result.sweep:
        mark = " (shipped)" if row.threshold == result.fallback_threshold else ""
        lines.append(
            f"| {row.threshold:.2f}{mark} | {_pct(row.in_scope_accuracy)} | "
            f"{_pct(row.out_of_scope_recall)} |"
        )
    return "\n".join(lines)


def summary_markdown(results: list[Result]) -> str:
    """The table, the command and the machine, as a Markdown block."""
    first = results[0]
    m = first.machine
    configs = ", ".join(dict.fromkeys(f"`{r.config}`" for r in results))
    commands = "; ".join(dict.fromkeys(f"`{r.command}`" for r in results))
    parts = [
        markdown_table(results),
        "",
        f"Config {configs} ({' → '.join(first.components)}); "
        f"{m.get('cores')} cores ({m.get('cpu')}), CPU only, Python {m.get('python')}, "
        f"Rasa {m.get('rasa')}; {first.finished[:10]}. Command: {commands}.",
    ]
    for result in results:
        if result.sweep:
            parts += ["", f"{result.benchmark}, fallback threshold sweep:", "", sweep_table(result)]
    return "\n".join(parts) + "\n"


def read_results(out: Path) -> list[Result]:
    """Every result JSON in ``out``."""
    results = []
    for path in sorted(out.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["sweep"] = [ThresholdRow(**row) for row in data.get("sweep") or []]
        results.append(Result(**data))
    return results


def write_results(result: Result, out: Path) -> Path:
    """Writes one run's figures as JSON (threshold sweep included)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result.benchmark}.json"
    path.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    return path


def update_docs(docs: Path, block: str) -> None:
    """Replaces the generated table in ``docs`` (between the markers), keeping the prose."""
    text = docs.read_text(encoding="utf-8") if docs.exists() else ""
    generated = f"{TABLE_START}\n\n{block}\n{TABLE_END}"
    if TABLE_START in text and TABLE_END in text:
        head, rest = text.split(TABLE_START, 1)
        tail = rest.split(TABLE_END, 1)[1]
        text = head + generated + tail
    else:
        text = text + ("\n" if text else "") + generated + "\n"
    docs.write_text(text, encoding="utf-8")


# --- command ----------------------------------------------------------------


def stage(label: str, message: str) -> None:
    """A progress line (stderr, like the progress bar and Rasa's own log)."""
    print(f"[{label}] {message}", file=sys.stderr, flush=True)


def run_benchmark(
    benchmark: Benchmark,
    config: dict[str, Any],
    workdir: Path,
    latency_sample: int = LATENCY_SAMPLE,
) -> Result:
    """Trains on the training split, parses the test split, computes the figures."""
    label = benchmark.name
    stage(
        label,
        f"training on {len(benchmark.train):,} examples of {len(benchmark.intents)} intents "
        f"({' → '.join(_short_name(c) for c in config['pipeline'])})",
    )
    model, seconds = train(config, benchmark, workdir)
    stage(label, f"trained in {seconds:.0f} s; parsing {len(benchmark.test):,} test messages")
    parses, latencies = parse_all(model, benchmark.test, label, latency_sample)
    return score(benchmark, parses, config, seconds, latencies)


def _quiet_rasa() -> None:
    """Keeps the output to stages, progress bars and Rasa's own training log.

    Rasa logs every parse at debug level, and its pinned dependencies
    (TensorFlow, SQLAlchemy 1.4, old pyparsing) print banners and deprecation
    notices that say nothing about the benchmark. Some of them install
    warning filters of their own when imported, so Rasa is imported first.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    import rasa.core.agent
    import rasa.model_training  # noqa: F401
    import structlog

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    warnings.filterwarnings("ignore", message="Creating an ndarray from ragged")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("rasa").setLevel(logging.WARNING)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.nlu", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--benchmark", nargs="+", choices=[*LOADERS, "all"], default=["all"], help="one or more"
    )
    parser.add_argument("--config", type=Path, default=SHIPPED_CONFIG)
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="the benchmark data sets")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--intents", type=int, help="only the first N intents (a small slice)")
    parser.add_argument(
        "--limit-per-intent", type=int, help="at most N training and N test examples per intent"
    )
    parser.add_argument("--epochs", type=int, help="override epochs (small slices only)")
    parser.add_argument(
        "--runtime", choices=RUNTIMES, help="the sentence encoder's runtime (default: --config's)"
    )
    parser.add_argument(
        "--quantize", choices=QUANTIZATIONS, help="the sentence encoder's quantization (onnx)"
    )
    parser.add_argument(
        "--latency-sample",
        type=int,
        default=LATENCY_SAMPLE,
        help="test messages also parsed one at a time, for the per-message latency",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="put the table of the results in --out into --docs",
    )
    parser.add_argument("--docs", type=Path, default=DOCS_FILE)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: rebuild summary.md (and the docs with --write-docs) from --out",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    args = parse_args(argv)
    if args.report_only:
        report(args.out, args.docs if args.write_docs else None)
        return
    names = list(LOADERS) if "all" in args.benchmark else list(dict.fromkeys(args.benchmark))
    shipped = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    config = benchmark_config(encoder_options(shipped, args.runtime, args.quantize), args.epochs)
    # Each run pays its whole training (no cached featurization from an earlier
    # run), and benchmark data stays out of the project's training cache; the
    # sentence encoder's own cache too, unless asked for (CARE_ENCODER_CACHE=all
    # when comparing variants of the classifier, whose times then mean little).
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    os.environ.setdefault("CARE_ENCODER_CACHE", "off")
    _quiet_rasa()
    command = "python -m benchmarks.nlu " + " ".join(argv if argv is not None else sys.argv[1:])
    for name in names:
        try:
            benchmark = LOADERS[name](args.data)
        except BenchmarkDataMissing as error:
            sys.exit(f"benchmarks.nlu: {error}")
        if args.intents or args.limit_per_intent:
            benchmark = sliced(benchmark, args.intents, args.limit_per_intent)
        with tempfile.TemporaryDirectory(prefix=f"nlu-{name}-") as workdir:
            result = run_benchmark(benchmark, config, Path(workdir), args.latency_sample)
        result.config = _display_path(args.config)
        result.machine = machine()
        result.command = command.strip()
        result.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
        path = write_results(result, args.out)
        stage(name, f"results: {_display_path(path)}")
        print(markdown_table([result]))
    report(args.out, args.docs if args.write_docs else None)


def report(out: Path, docs: Path | None) -> None:
    """Writes ``summary.md`` from every result in ``out``, and the table into ``docs``."""
    results = read_results(out)
    if not results:
        sys.exit(f"benchmarks.nlu: no results in {out}")
    block = summary_markdown(results)
    (out / "summary.md").write_text(block, encoding="utf-8")
    if docs is not None:
        update_docs(docs, block)
        stage("docs", f"table written to {_display_path(docs)}")


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    main()
