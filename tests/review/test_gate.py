"""The gate: its verdict rules, and the whole gate on a deliberately worsened data set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.evaluation import TEST_FILE, Evaluation, IntentScore
from bot.model import MODEL_PATH
from bot.review.gate import Verdict, compare
from bot.review.nludata import NLU_FILE
from tests.conftest import PROJECT_ROOT


def _evaluation(**f1: float) -> Evaluation:
    scores = [IntentScore(name, value, value, value, 20) for name, value in f1.items()]
    macro = sum(f1.values()) / len(f1)
    return Evaluation(scores=scores, macro_f1=macro, accuracy=macro, predictions=[])


@pytest.mark.parametrize(
    ("before", "after", "verdict"),
    [
        ({"a": 0.80, "b": 0.90}, {"a": 0.90, "b": 0.90}, Verdict.BETTER),
        ({"a": 0.80, "b": 0.90}, {"a": 0.70, "b": 0.90}, Verdict.WORSE),
        ({"a": 0.80, "b": 0.90}, {"a": 0.90, "b": 0.80}, Verdict.MIXED),
        # Under the noise level: one message more or less in a small intent.
        ({"a": 0.80, "b": 0.90}, {"a": 0.82, "b": 0.89}, Verdict.UNCHANGED),
        # Many small losses add up to a worse model.
        ({"a": 0.80, "b": 0.90, "c": 0.9}, {"a": 0.78, "b": 0.87, "c": 0.87}, Verdict.WORSE),
        # Worse overall; the one intent that gained does not make it mixed.
        (
            {"a": 0.80, "b": 0.90, "c": 0.9, "d": 0.9},
            {"a": 0.88, "b": 0.70, "c": 0.7, "d": 0.9},
            Verdict.WORSE,
        ),
        # Better overall but one intent lost: a person should look.
        ({"a": 0.60, "b": 0.60, "c": 0.9}, {"a": 0.80, "b": 0.80, "c": 0.84}, Verdict.MIXED),
        # An intent the candidate lost entirely counts as F1 0.
        ({"a": 0.80, "b": 0.90}, {"a": 0.80}, Verdict.WORSE),
    ],
)
def test_verdicts(before: dict[str, float], after: dict[str, float], verdict: Verdict) -> None:
    assert compare(_evaluation(**before), _evaluation(**after)).verdict == verdict


def test_exit_codes_tell_ci_what_happened() -> None:
    assert [v.exit_code for v in Verdict] == [0, 0, 1, 3, 4]


def _gate(
    nlu: Path, out: Path, config: Path | None = None, test_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    chosen = ["--config", str(config)] if config else []
    chosen += ["--test-file", str(test_file)] if test_file else []
    chosen += ["--no-real-posts"]  # scored in-process, tested in test_gate_real.py
    return subprocess.run(
        [sys.executable, "-m", "bot.review", "--nlu", str(nlu), "gate", "--out", str(out), *chosen],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _worsen(
    source: Path, target: Path, intents: set[str], keep: int, others: int | None = None
) -> None:
    """Keeps only ``keep`` examples of each of ``intents``: the model forgets them; and at
    most ``others`` of each other block, so that the candidate trains in a minute."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    left: dict[str, int] = {}  # an intent's examples still to keep, over all its blocks
    for entry in data["nlu"]:
        if "examples" not in entry:
            continue
        intent = entry.get("intent")
        examples = [line for line in entry["examples"].splitlines() if line.strip()]
        if intent not in intents and others is None:
            continue
        limit = left.setdefault(intent, keep if intent in intents else others or 0)
        entry["examples"] = "\n".join(examples[:limit]) + "\n"
        left[intent] = max(0, limit - len(examples))
    data["nlu"] = [e for e in data["nlu"] if "examples" not in e or e["examples"].strip()]
    target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")


def _smaller_test_file(target: Path, per_block: int = 8) -> Path:
    """The held-out test file with ``per_block`` messages of each intent: the gate's two
    evaluations take a third of the time, and an intent the candidate forgot still shows."""
    _worsen(TEST_FILE, target, set(), keep=0, others=per_block)
    return target


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.timeout(900)  # a training and two evaluations: about 3 minutes on 2 idle cores
def test_the_gate_says_worse_for_a_worsened_data_set(tmp_path: Path) -> None:
    if not MODEL_PATH.exists():
        pytest.fail(f"{MODEL_PATH} is missing: run `make model` (or `make test`, which trains it)")
    worse = tmp_path / "nlu.yml"
    forgotten = {"refund_request", "baggage_issue", "booking_change"}
    _worsen(NLU_FILE, worse, forgotten, keep=3, others=80)
    out = tmp_path / "gate"
    done = _gate(
        worse,
        out,
        None,
        _smaller_test_file(tmp_path / "test_nlu.yml"),
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Verdict: worse" in done.stdout
    report = (out / "report.md").read_text(encoding="utf-8")
    worse_line = next(line for line in report.splitlines() if line.startswith("Worse:"))
    assert forgotten <= {part.split(" (")[0] for part in worse_line[7:].split(", ")}
    for picture in ("f1_by_intent.png", "candidate/intent_confusion_matrix.png"):
        assert (out / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'data-verdict="worse"' in page and "current/intent_confusion_matrix.png" in page
    candidate = json.loads((out / "candidate" / "intent_report.json").read_text())
    assert candidate["refund_request"]["recall"] < 0.7


def test_the_gate_refuses_data_that_does_not_validate(tmp_path: Path) -> None:
    broken = tmp_path / "nlu.yml"
    broken.write_text(
        NLU_FILE.read_text(encoding="utf-8").replace("- intent: praise", "- intent: praise_x", 1),
        encoding="utf-8",
    )
    out = tmp_path / "gate"
    done = _gate(broken, out)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert "verdict invalid" in done.stderr
    assert "Verdict: invalid" in (out / "report.md").read_text(encoding="utf-8")
