"""Evaluates the trained model on the held-out test set and chooses the fallback threshold.

``python -m bot.evaluation`` (or ``make evaluate``) runs ``rasa test nlu`` on
``tests/nlu/test_nlu.yml`` and writes, under ``results/nlu/``:

* Rasa's own reports: ``intent_report.json`` (per-intent precision, recall,
  F1), ``intent_confusion_matrix.png``, ``intent_histogram.png``, the entity
  and response-selection reports;
* ``summary.md``: per-intent figures, macro-F1, and the fallback threshold
  table below.

For the threshold, each test message is parsed by the model (the fallback
component's own decision set aside) to get the full intent ranking. A
threshold t means: answer when the confidence is at least t, otherwise ask to
rephrase and then hand over. Confidences of intents that the assistant handles
alike (the fallback component's ``intent_groups``) add up, and a prediction
within the right group counts as right, as it gets the same answer. For each
t we count what the customer gets: a right answer (+1), a wrong answer
(-COST_OF_WRONG_ANSWER: misleading a customer in public is worse than a short
wait), or a request to rephrase and then a person (-COST_OF_HANDOVER: the
customer waits, an agent spends time). The recommended threshold maximises
that utility; on a tie, the lower threshold (fewer handovers).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.brand import PROJECT_ROOT
from bot.model import MODEL_PATH, rasa_env
from bot.real_posts import PARTS

TEST_FILE = PROJECT_ROOT / "tests" / "nlu" / "test_nlu.yml"
RESULTS_DIR = PROJECT_ROOT / "results" / "nlu"
COST_OF_WRONG_ANSWER = 2.0
COST_OF_HANDOVER = 0.25
THRESHOLDS = [round(0.05 * i, 2) for i in range(4, 20)]


@dataclass(frozen=True)
class Prediction:
    """One test message: its label, what the model said, and how sure it was."""

    text: str
    intent: str
    predicted: str
    confidence: float  # of the predicted intent's group

    @property
    def correct(self) -> bool:
        return self.intent == self.predicted


@dataclass(frozen=True)
class IntentScore:
    """Precision, recall and F1 of one intent on the test set."""

    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ThresholdRow:
    """What a fallback threshold does to the test set."""

    threshold: float
    answered: float  # share of messages the bot answers itself
    accuracy_answered: float  # share of those answers that are right
    wrong: float  # share of all messages that get a wrong answer
    utility: float  # per message, see the module docstring


@dataclass(frozen=True)
class Evaluation:
    """The evaluation of one model on one test file."""

    scores: list[IntentScore]
    macro_f1: float
    accuracy: float
    predictions: list[Prediction]

    def score(self, intent: str) -> IntentScore:
        return next(s for s in self.scores if s.intent == intent)


def run_rasa_test(model: Path, test_file: Path, out: Path) -> None:
    """Runs ``rasa test nlu`` (reports and pictures land in ``out``)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rasa",
            "test",
            "nlu",
            "--nlu",
            str(test_file),
            "--model",
            str(model),
            "--out",
            str(out),
            "--successes",
        ],
        cwd=PROJECT_ROOT,
        env=rasa_env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def read_results(out: Path) -> Evaluation:
    """Reads the per-intent scores ``rasa test nlu`` wrote into ``out`` (no predictions)."""
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    scores = [
        IntentScore(name, v["precision"], v["recall"], v["f1-score"], int(v["support"]))
        for name, v in sorted(report.items())
        if isinstance(v, dict) and "f1-score" in v and not name.endswith(" avg")
    ]
    return Evaluation(
        scores=scores,
        macro_f1=float(report["macro avg"]["f1-score"]),
        accuracy=float(report["accuracy"]),
        predictions=[],
    )


def threshold_table(
    predictions: list[Prediction], groups: list[list[str]] | None = None
) -> list[ThresholdRow]:
    """Answered share, accuracy and utility for each candidate threshold."""
    handling = {intent: index for index, group in enumerate(groups or []) for intent in group}

    def right(p: Prediction) -> bool:
        return p.correct or (
            p.intent in handling and handling.get(p.predicted) == handling[p.intent]
        )

    rows = []
    total = len(predictions) or 1
    for t in THRESHOLDS:
        answered = [p for p in predictions if p.confidence >= t]
        good = sum(right(p) for p in answered)
        wrong = len(answered) - good
        rows.append(
            ThresholdRow(
                threshold=t,
                answered=len(answered) / total,
                accuracy_answered=good / len(answered) if answered else 1.0,
                wrong=wrong / total,
                utility=(
                    good
                    - COST_OF_WRONG_ANSWER * wrong
                    - COST_OF_HANDOVER * (len(predictions) - len(answered))
                )
                / total,
            )
        )
    return rows


def load_agent(model: Path) -> Any:
    """The trained model, loaded quietly."""
    import logging

    import structlog
    from rasa.core.agent import Agent

    # Rasa logs every parse at debug level through structlog.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with warnings.catch_warnings():
        # Rasa 3.6 warns about the removed slot auto-fill on every model load,
        # whatever the domain says; it tells a trainer nothing.
        warnings.filterwarnings("ignore", message="Slot auto-fill has been removed")
        return Agent.load(str(model))


def nlu_messages(agent: Any, texts: list[str], batch_size: int = 64) -> Iterator[Any]:
    """The model's NLU graph run on each text, in order: Rasa's processed ``Message``s
    (with their features, which the archive import reads too).

    The graph takes a batch of messages at once, and the sentence encoder is far
    faster on a batch than one message at a time; Rasa's own ``parse_message``
    sends one (what a live conversation needs).
    """
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker

    processor = agent.processor
    target = processor.model_metadata.nlu_target
    tracker = DialogueStateTracker.from_events("evaluation", [])
    for start in range(0, len(texts), batch_size):
        messages = [UserMessage(text) for text in texts[start : start + batch_size]]
        results = processor.graph_runner.run(
            inputs={PLACEHOLDER_MESSAGE: messages, PLACEHOLDER_TRACKER: tracker}, targets=[target]
        )
        yield from results[target]


def parse_texts(agent: Any, texts: list[str], batch_size: int = 64) -> list[dict[str, Any]]:
    """Rasa's parse of each text, in order, as ``Agent.parse_message`` gives it (batched:
    :func:`nlu_messages`)."""
    from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, TEXT

    parsed = []
    for message in nlu_messages(agent, texts, batch_size):
        parse = {TEXT: "", INTENT: {INTENT_NAME_KEY: None, "confidence": 0.0}, ENTITIES: []}
        parse.update(message.as_dict(only_output_properties=True))
        parsed.append(parse)
    return parsed


def group_confidence(
    ranking: Sequence[tuple[str, float]], top: str, groups: Sequence[Sequence[str]]
) -> float:
    """The confidence of ``top``'s group: intents handled alike add up (config.yml's
    ``intent_groups``), as in the shipped fallback."""
    group = next((set(g) for g in groups if top in g), {top})
    return float(sum(confidence for name, confidence in ranking if name in group))


def parse_test_set(agent: Any, test_file: Path, groups: list[list[str]]) -> list[Prediction]:
    """Every test message through the model: label, top intent, its group's confidence."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = load_data(str(test_file)).intent_examples
    parsed = parse_texts(agent, [example.get("text") for example in examples])
    found = []
    for example, parse in zip(examples, parsed, strict=True):
        ranking = [r for r in parse.get("intent_ranking") or [] if r["name"] != "nlu_fallback"]
        top = ranking[0]["name"] if ranking else "none"
        confidence = group_confidence([(r["name"], r["confidence"]) for r in ranking], top, groups)
        label = example.get("intent").split("/")[0]
        found.append(Prediction(example.get("text"), label, top, confidence))
    return found


def recommended_threshold(rows: list[ThresholdRow]) -> ThresholdRow:
    """The threshold with the best utility (the lower one on a tie: fewer handovers)."""
    return max(rows, key=lambda r: (round(r.utility, 6), -r.threshold))


def summary_markdown(evaluation: Evaluation, rows: list[ThresholdRow], shipped: float) -> str:
    """The report a trainer reads: per-intent scores, macro-F1, thresholds."""
    best = recommended_threshold(rows)
    lines = [
        "# NLU evaluation on the held-out test set",
        "",
        f"Test file: `{TEST_FILE.relative_to(PROJECT_ROOT)}`, "
        f"{len(evaluation.predictions)} messages. Command: `make evaluate`.",
        "",
        f"**Macro-F1 {evaluation.macro_f1:.3f}**, accuracy {evaluation.accuracy:.3f}.",
        "",
        "| intent | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {s.intent} | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} | {s.support} |"
        for s in evaluation.scores
    ]
    lines += [
        "",
        "![confusion matrix](intent_confusion_matrix.png)",
        "",
        "## Fallback threshold",
        "",
        f"Utility per message: +1 right answer, -{COST_OF_WRONG_ANSWER:g} wrong answer, "
        f"-{COST_OF_HANDOVER:g} asked to rephrase / handed to a person. Intents handled "
        "alike count as one (see the fallback's intent_groups in config.yml).",
        "",
        "| threshold | answered by the bot | accuracy of its answers | wrong answers | utility |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        marks = (" (recommended)" if r is best else "") + (
            " (shipped)" if r.threshold == shipped else ""
        )
        lines.append(
            f"| {r.threshold:.2f}{marks} | {r.answered:.1%} | {r.accuracy_answered:.1%} | "
            f"{r.wrong:.1%} | {r.utility:.3f} |"
        )
    return "\n".join(lines) + "\n"


def pipeline_component(suffix: str, config_path: Path = PROJECT_ROOT / "config.yml") -> dict:
    """The settings in config.yml of the pipeline component whose name ends with ``suffix``."""
    import yaml

    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for component in config.get("pipeline") or []:
        if str(component.get("name", "")).endswith(suffix):
            return dict(component)
    raise ValueError(f"config.yml has no {suffix}")


def fallback_config(config_path: Path = PROJECT_ROOT / "config.yml") -> dict:
    """The fallback component's settings in config.yml."""
    return pipeline_component("FallbackClassifier", config_path)


def second_intent_threshold(intent: str, config_path: Path = PROJECT_ROOT / "config.yml") -> float:
    """The threshold config.yml gives ``intent`` as a second intent."""
    component = pipeline_component("SecondIntentClassifier", config_path)
    return float((component.get("thresholds") or {}).get(intent, component["threshold"]))


def shipped_threshold(config_path: Path = PROJECT_ROOT / "config.yml") -> float:
    """The fallback threshold in config.yml."""
    return float(fallback_config(config_path).get("threshold", 0.3))


def evaluate(
    model: Path = MODEL_PATH,
    test_file: Path = TEST_FILE,
    out: Path = RESULTS_DIR,
    real_posts: bool = True,
) -> Evaluation:
    """Runs the evaluation and writes the summaries next to Rasa's reports."""
    run_rasa_test(model, test_file, out)
    scores = read_results(out)
    groups = list(fallback_config().get("intent_groups") or [])
    agent = load_agent(model)
    evaluation = Evaluation(
        scores=scores.scores,
        macro_f1=scores.macro_f1,
        accuracy=scores.accuracy,
        predictions=parse_test_set(agent, test_file, groups),
    )
    rows = threshold_table(evaluation.predictions, groups)
    (out / "summary.md").write_text(
        summary_markdown(evaluation, rows, shipped_threshold()), encoding="utf-8"
    )
    if real_posts:
        from bot.real_posts_report import evaluate_real_posts  # it builds on this module

        evaluate_real_posts(agent, out)
    return evaluation


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL_PATH)
    parser.add_argument("--test-file", type=Path, default=TEST_FILE)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--real-posts-only",
        action="store_true",
        help="only the labelled real posts (tests/nlu/real_posts.tsv)",
    )
    parser.add_argument(
        "--part",
        choices=list(PARTS),
        action="append",
        help="with --real-posts-only: only this part (repeatable; default all)",
    )
    parser.add_argument(
        "--show-errors",
        action="store_true",
        help="print the tune parts' misread posts (to the terminal only, never to a file)",
    )
    args = parser.parse_args()
    if args.real_posts_only:
        from bot.real_posts_report import evaluate_real_posts

        parts = tuple(args.part or PARTS)
        if evaluate_real_posts(load_agent(args.model), args.out, args.show_errors, parts):
            print((args.out / "real_posts.md").read_text(encoding="utf-8"))
        return
    evaluation = evaluate(args.model, args.test_file, args.out)
    print((args.out / "summary.md").read_text(encoding="utf-8"))
    if (args.out / "real_posts.md").exists():
        print((args.out / "real_posts.md").read_text(encoding="utf-8"))
    print(f"Reports and pictures: {args.out}")
    if evaluation.macro_f1 < 0.90:
        print(f"macro-F1 {evaluation.macro_f1:.3f} is below 0.90", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
