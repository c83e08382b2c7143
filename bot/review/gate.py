"""The gate: did the change to the training data make the assistant understand people better?

``python -m bot.review gate`` (``make gate``):

1. validates the changed data with ``rasa data validate --fail-on-warnings``;
2. trains a candidate NLU model on it, with the shipped ``config.yml`` (or the
   changed pipeline given with ``--config``);
3. evaluates the candidate and the current model (``models/northwind.tar.gz``,
   trained from the data as it was) on the held-out test file;
4. writes a report (``report.md`` and ``report.html``, with the confusion
   matrices and a per-intent F1 chart) and prints the verdict.

Verdicts and exit codes (for CI): ``better`` and ``unchanged`` exit 0,
``worse`` 1, ``mixed`` 3 (some intents better, some worse), ``invalid`` 4
(the data does not validate or the candidate does not train).

Small test sets are noisy: one message in an intent of 20 moves its F1 by
0.025 to 0.05, and TensorFlow on two threads is not bit-for-bit repeatable
(docs/nlu.md measured ±0.004 macro-F1 between identical runs). An intent
counts as moved only past :data:`INTENT_MOVE`, the whole model only past
:data:`MACRO_MOVE`.
"""

from __future__ import annotations

import enum
import html
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.brand import PROJECT_ROOT
from bot.evaluation import TEST_FILE, Evaluation, read_results, run_rasa_test
from bot.model import MODEL_PATH, rasa_env
from bot.review.gate_real import RealFigures, real_figures, real_html, real_markdown
from bot.review.nludata import NLU_FILE

INTENT_MOVE = 0.05
MACRO_MOVE = 0.01
RESULTS = PROJECT_ROOT / "results" / "gate"
CONFIG_FILE = PROJECT_ROOT / "config.yml"


class Verdict(str, enum.Enum):
    """What the change did, as a CI job reads it from the exit code."""

    BETTER = "better"
    UNCHANGED = "unchanged"
    WORSE = "worse"
    MIXED = "mixed"
    INVALID = "invalid"

    @property
    def exit_code(self) -> int:
        return {"better": 0, "unchanged": 0, "worse": 1, "mixed": 3, "invalid": 4}[self.value]


@dataclass(frozen=True)
class IntentChange:
    """One intent's F1 before and after."""

    intent: str
    before: float
    after: float
    support: int

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class Comparison:
    """The current model against the candidate, and what that means."""

    verdict: Verdict
    before: Evaluation
    after: Evaluation
    changes: list[IntentChange]

    @property
    def improved(self) -> list[IntentChange]:
        return [c for c in self.changes if c.delta >= INTENT_MOVE]

    @property
    def worsened(self) -> list[IntentChange]:
        return [c for c in self.changes if c.delta <= -INTENT_MOVE]

    @property
    def macro_delta(self) -> float:
        return self.after.macro_f1 - self.before.macro_f1


def compare(before: Evaluation, after: Evaluation) -> Comparison:
    """The verdict on going from ``before`` to ``after``."""
    old = {s.intent: s for s in before.scores}
    new = {s.intent: s for s in after.scores}
    changes = [
        IntentChange(
            intent,
            old[intent].f1 if intent in old else 0.0,
            new[intent].f1 if intent in new else 0.0,
            (new.get(intent) or old[intent]).support,
        )
        for intent in sorted(old.keys() | new.keys())
    ]
    up = any(c.delta >= INTENT_MOVE for c in changes)
    down = any(c.delta <= -INTENT_MOVE for c in changes)
    return Comparison(_verdict(up, down, after.macro_f1 - before.macro_f1), before, after, changes)


def _verdict(up: bool, down: bool, macro: float) -> Verdict:
    """A model that got worse overall is worse, whatever single intent gained by the way;
    one that got better overall but worse at some intent needs a person to look (mixed)."""
    if macro <= -MACRO_MOVE:
        return Verdict.WORSE
    if down:
        return Verdict.MIXED if up or macro >= MACRO_MOVE else Verdict.WORSE
    if up or macro >= MACRO_MOVE:
        return Verdict.BETTER
    return Verdict.UNCHANGED


class GateError(RuntimeError):
    """The data did not validate or the candidate did not train."""


def _rasa(*args: str, log: Path) -> None:
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [sys.executable, "-m", "rasa", *args],
            cwd=PROJECT_ROOT,
            env=rasa_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise GateError(f"rasa {args[0]} {args[1]} failed (log: {log}):\n{tail}")


def validate(nlu_file: Path, work: Path, log: Path) -> None:
    """``rasa data validate`` on the project's data with ``nlu_file`` in place of data/nlu.yml."""
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    for file in (PROJECT_ROOT / "data").glob("*.yml"):
        if file.name != NLU_FILE.name:
            shutil.copy(file, data / file.name)
    shutil.copy(nlu_file, data / NLU_FILE.name)
    _rasa("data", "validate", "--fail-on-warnings", "--data", str(data), log=log)


def train_candidate(nlu_file: Path, out: Path, log: Path, config: Path = CONFIG_FILE) -> Path:
    """Trains an NLU model with ``config`` (the shipped one) on ``nlu_file``; returns its path."""
    _rasa(
        "train",
        "nlu",
        "--config",
        str(config),
        "--nlu",
        str(nlu_file),
        "--out",
        str(out),
        "--fixed-model-name",
        "candidate",
        log=log,
    )
    return out / "candidate.tar.gz"


def _evaluate(model: Path, test_file: Path, out: Path) -> Evaluation:
    run_rasa_test(model, test_file, out)
    return read_results(out)


def f1_chart(comparison: Comparison, path: Path) -> None:
    """A bar chart of each intent's F1, current next to candidate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.intent for c in comparison.changes]
    height = max(3.0, 0.32 * len(names) + 1)
    figure, axes = plt.subplots(figsize=(8, height))
    rows = range(len(names))
    before, after = [c.before for c in comparison.changes], [c.after for c in comparison.changes]
    axes.barh([r + 0.2 for r in rows], before, 0.4, label="current")
    axes.barh([r - 0.2 for r in rows], after, 0.4, label="candidate")
    axes.set_yticks(list(rows))
    axes.set_yticklabels(names)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("F1 on the held-out test set")
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _headline(c: Comparison) -> tuple[str, str]:
    """The verdict, and the figures behind it (each format marks the first its own way)."""
    return (
        f"Verdict: {c.verdict.value} (exit code {c.verdict.exit_code}).",
        f"Macro-F1 {c.before.macro_f1:.3f} → {c.after.macro_f1:.3f} ({c.macro_delta:+.3f}), "
        f"accuracy {c.before.accuracy:.3f} → {c.after.accuracy:.3f}.",
    )


def _moved(c: Comparison) -> list[str]:
    lines = []
    for label, changes in (("Better", c.improved), ("Worse", c.worsened)):
        if changes:
            listed = ", ".join(f"{x.intent} ({x.delta:+.2f})" for x in changes)
            lines.append(f"{label}: {listed}.")
    return lines or [f"No intent's F1 moved by {INTENT_MOVE} or more."]


def report_markdown(
    c: Comparison, test_file: Path, seconds: float, real: RealFigures | str | None = None
) -> str:
    """The report as Markdown (pictures next to it); ``real``: the real posts' section."""
    verdict, figures = _headline(c)
    lines = [
        "# Gate: current model vs candidate",
        "",
        f"**{verdict}** {figures}",
        "",
        *_moved(c),
        "",
        f"Held-out test file: `{_shown(test_file)}`. Candidate trained in {seconds:.0f} s. "
        f"An intent counts as moved at ±{INTENT_MOVE} F1, the model at ±{MACRO_MOVE} macro-F1.",
        "",
        "| intent | F1 current | F1 candidate | change | test messages |",
        "|---|---|---|---|---|",
    ]
    for x in c.changes:
        mark = " ▲" if x.delta >= INTENT_MOVE else " ▼" if x.delta <= -INTENT_MOVE else ""
        lines.append(
            f"| {x.intent} | {x.before:.2f} | {x.after:.2f} | {x.delta:+.2f}{mark} | {x.support} |"
        )
    lines += [
        "",
        "![F1 per intent](f1_by_intent.png)",
        "",
        "## Confusion matrix, candidate",
        "",
        "![candidate](candidate/intent_confusion_matrix.png)",
        "",
        "## Confusion matrix, current model",
        "",
        "![current](current/intent_confusion_matrix.png)",
        "",
    ]
    if real is not None:
        lines += [real_markdown(real)]
    return "\n".join(lines)


def report_html(
    c: Comparison, test_file: Path, seconds: float, real: RealFigures | str | None = None
) -> str:
    """The same report as one HTML page."""
    rows = "\n".join(
        f"<tr class='{_direction(x)}'><td>{html.escape(x.intent)}</td><td>{x.before:.2f}</td>"
        f"<td>{x.after:.2f}</td><td>{x.delta:+.2f}</td><td>{x.support}</td></tr>"
        for x in c.changes
    )
    moved = "".join(f"<p>{html.escape(line)}</p>" for line in _moved(c))
    verdict, figures = _headline(c)
    headline = f"<strong>{html.escape(verdict)}</strong> {html.escape(figures)}"
    section = real_html(real) if real is not None else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gate: {c.verdict.value}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 1rem auto; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .2rem .6rem; }}
tr.up {{ background: #e6f4e6; }} tr.down {{ background: #fbe3e3; }}
.verdict {{ font-size: 1.3rem; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Gate: current model vs candidate</h1>
<p class="verdict" id="verdict" data-verdict="{c.verdict.value}">{headline}</p>
{moved}
<p>Held-out test file: <code>{html.escape(_shown(test_file))}</code>. Candidate trained in
{seconds:.0f} s. An intent counts as moved at ±{INTENT_MOVE} F1, the model at ±{MACRO_MOVE}
macro-F1.</p>
<table><tr><th>intent</th><th>F1 current</th><th>F1 candidate</th><th>change</th>
<th>test messages</th></tr>
{rows}
</table>
<h2>F1 per intent</h2><img src="f1_by_intent.png" alt="F1 per intent, current and candidate">
<h2>Confusion matrix, candidate</h2>
<img src="candidate/intent_confusion_matrix.png" alt="confusion matrix of the candidate">
<h2>Confusion matrix, current model</h2>
<img src="current/intent_confusion_matrix.png" alt="confusion matrix of the current model">
{section}
</body></html>
"""


def _direction(change: IntentChange) -> str:
    if change.delta >= INTENT_MOVE:
        return "up"
    return "down" if change.delta <= -INTENT_MOVE else "same"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def run_gate(
    nlu_file: Path = NLU_FILE,
    current_model: Path = MODEL_PATH,
    test_file: Path = TEST_FILE,
    out: Path = RESULTS,
    echo: Callable[[str], object] = print,
    real_posts: bool = True,
    config: Path = CONFIG_FILE,
) -> Comparison | GateError:
    """Runs the whole gate; returns the comparison, or why the candidate was refused.

    ``config`` is the pipeline the candidate trains with: the shipped one, or a changed one
    when the change to gate is the configuration's."""
    if not current_model.exists():
        raise FileNotFoundError(f"{current_model} is missing: run `make model` first")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="gate-") as scratch:
        work = Path(scratch)
        try:
            echo("gate: 1/4 validating the data (rasa data validate)")
            validate(nlu_file, work, out / "validate.log")
            echo("gate: 2/4 training the candidate (rasa train nlu, a few minutes)")
            started = time.monotonic()
            candidate = train_candidate(nlu_file, work, out / "train.log", config)
            seconds = time.monotonic() - started
        except GateError as refused:
            invalid = f"# Gate\n\n**Verdict: invalid**\n\n```\n{refused}\n```\n"
            (out / "report.md").write_text(invalid, encoding="utf-8")
            return refused
        echo("gate: 3/4 evaluating the current model and the candidate on the held-out test file")
        before = _evaluate(current_model, test_file, out / "current")
        after = _evaluate(candidate, test_file, out / "candidate")
        real: RealFigures | str | None = None
        if real_posts:
            echo("gate: and both on the held-out labelled real posts, when they are here")
            real = real_figures(current_model, candidate)
    echo("gate: 4/4 writing the report")
    comparison = compare(before, after)
    f1_chart(comparison, out / "f1_by_intent.png")
    markdown = report_markdown(comparison, test_file, seconds, real)
    (out / "report.md").write_text(markdown, "utf-8")
    (out / "report.html").write_text(report_html(comparison, test_file, seconds, real), "utf-8")
    return comparison
