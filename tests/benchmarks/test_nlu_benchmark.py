"""The NLU benchmark command (benchmarks/nlu.py) keeps working.

The full benchmarks take the better part of an hour and are not run here;
the command itself is, end to end, on a small slice of each data set: the
shipped pipeline trained by Rasa, every test message parsed, the figures
written as JSON and into a copy of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks.nlu import (
    DATA_DIR,
    OUT_OF_SCOPE,
    TABLE_END,
    TABLE_START,
    Example,
    Parse,
    Result,
    benchmark_config,
    fallback_settings,
    load_banking77,
    load_clinc150,
    out_of_scope_figures,
    sliced,
    write_results,
)
from bot.model import rasa_env
from tests.conftest import PROJECT_ROOT

BENCHMARKS = ("banking77", "banking77-10shot", "clinc150")


def shipped_config() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))


def test_the_benchmark_pipeline_is_the_shipped_one_without_the_airline_parts() -> None:
    shipped = shipped_config()
    config = benchmark_config(shipped)
    names = [c["name"] for c in config["pipeline"]]
    airline_only = (
        "in_rasa.nlu.linear_response_selector.LinearResponseSelector",
        "in_rasa.nlu.entities.RuleEntityExtractor",
    )
    assert names == [c["name"] for c in shipped["pipeline"] if c["name"] not in airline_only]
    fallback = next(c for c in config["pipeline"] if c["name"].endswith("FallbackClassifier"))
    shipped_fallback = next(
        c for c in shipped["pipeline"] if c["name"].endswith("FallbackClassifier")
    )
    assert fallback["threshold"] == shipped_fallback["threshold"]
    assert "intent_groups" not in fallback and "person_intents" not in fallback
    assert "importers" not in config


def test_an_epochs_override_reaches_only_the_components_trained_in_epochs() -> None:
    config = benchmark_config(shipped_config(), epochs=3)
    for component in config["pipeline"]:
        if "epochs" in component:
            assert component["epochs"] == 3
    assert not any("epochs" in c for c in config["pipeline"] if "Featurizer" in c["name"])


def test_out_of_scope_queries_count_as_caught_when_handed_over_or_predicted() -> None:
    def parse(intent: str, predicted: str, fell_back: bool) -> Parse:
        return Parse(intent, predicted, 0.5, 0.2, fell_back, 0.01)

    parses = [
        parse("balance", "balance", False),  # right answer
        parse("balance", "balance", True),  # right, but handed over: not an answer
        parse("balance", "transfer", False),  # wrong answer
        parse(OUT_OF_SCOPE, OUT_OF_SCOPE, False),  # caught by the out_of_scope intent
        parse(OUT_OF_SCOPE, "balance", True),  # caught by the fallback
        parse(OUT_OF_SCOPE, "balance", False),  # answered: missed
    ]
    accuracy, recall = out_of_scope_figures(parses, lambda p: p.fell_back)
    assert accuracy == pytest.approx(1 / 3)
    assert recall == pytest.approx(2 / 3)


def test_a_slice_keeps_the_first_intents_and_the_out_of_scope_queries() -> None:
    clinc = load_clinc150(DATA_DIR)
    assert len(clinc.intents) == 151
    small = sliced(clinc, intents=2, per_intent=4)
    assert len(small.intents) == 3 and OUT_OF_SCOPE in small.intents
    assert len(small.train) == 12 and len(small.test) == 12
    assert set(small.intents) == {e.intent for e in small.test}


def test_the_data_sets_load_with_their_published_sizes() -> None:
    full, few_shot = load_banking77(DATA_DIR), load_banking77(DATA_DIR, few_shot=True)
    assert (len(full.train), len(full.test), len(full.intents)) == (10003, 3080, 77)
    assert (len(few_shot.train), len(few_shot.intents)) == (770, 77)
    assert set(few_shot.intents) == set(full.intents) == {e.intent for e in full.test}
    clinc = load_clinc150(DATA_DIR)
    assert (len(clinc.train), len(clinc.test)) == (15100, 5500)
    assert sum(e.intent == OUT_OF_SCOPE for e in clinc.test) == 1000
    assert all(isinstance(e, Example) and e.text for e in clinc.train)


def test_missing_data_is_reported_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.nlu", "--data", str(tmp_path / "nowhere")],
        cwd=PROJECT_ROOT,
        env=rasa_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "nowhere" in result.stderr and "shared/benchmarks" in result.stderr


def test_the_report_is_rebuilt_from_earlier_results_without_training(tmp_path: Path) -> None:
    out, docs = tmp_path / "results", tmp_path / "benchmarks.md"
    result = Result(
        benchmark="banking77",
        config="config.yml",
        components=["SocialTokenizer", "LinearIntentClassifier"],
        train_examples=10003,
        test_examples=3080,
        intents=77,
        train_seconds=12.5,
        ms_per_message=9.5,
        accuracy=0.9412,
        macro_f1=0.9405,
        fallback_threshold=0.55,
        answered=0.97,
        command="python -m benchmarks.nlu",
    )
    write_results(result, out)
    command = ["--report-only", "--out", str(out), "--write-docs", "--docs", str(docs)]
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.nlu", *command],
        cwd=PROJECT_ROOT,
        env=rasa_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    written = docs.read_text(encoding="utf-8")
    assert TABLE_START in written and TABLE_END in written
    assert "| banking77 | 10,003 / 3,080 | **94.1** | 94.0 |" in written
    assert (out / "summary.md").read_text(encoding="utf-8") in written


@pytest.mark.slow
def test_the_command_benchmarks_a_small_slice_end_to_end(tmp_path: Path) -> None:
    out, docs = tmp_path / "results", tmp_path / "benchmarks.md"
    docs.write_text(f"# Benchmarks\n\nProse stays.\n\n{TABLE_START}\nold\n{TABLE_END}\n\nEnd.\n")
    command = [
        sys.executable,
        "-m",
        "benchmarks.nlu",
        "--benchmark",
        "all",
        "--intents",
        "3",
        "--limit-per-intent",
        "8",
        "--epochs",
        "3",
        "--out",
        str(out),
        "--write-docs",
        "--docs",
        str(docs),
    ]
    result = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=rasa_env(),
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The progress display: a line per stage and a progress bar for parsing.
    for name in BENCHMARKS:
        assert f"[{name}] training on" in result.stderr
        assert f"[{name}] parsing: 100%" in result.stderr

    for name in BENCHMARKS:
        figures = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        assert figures["benchmark"] == name
        assert figures["intents"] == (4 if name == "clinc150" else 3)
        assert 0 < figures["test_examples"] <= figures["intents"] * 8
        for key in ("accuracy", "macro_f1", "answered"):
            assert 0.0 <= figures[key] <= 1.0, (key, figures[key])
        assert figures["train_seconds"] > 0 and figures["ms_per_message"] > 0
        assert figures["fallback_threshold"] == fallback_settings(shipped_config())[0]
        assert figures["machine"]["rasa"] == "3.6.21"
        assert "RuleEntityExtractor" not in figures["components"]
        assert "LinearResponseSelector" not in figures["components"]

    clinc = json.loads((out / "clinc150.json").read_text(encoding="utf-8"))
    for key in ("in_scope_accuracy", "out_of_scope_recall", "out_of_scope_recall_no_threshold"):
        assert clinc[key] is not None and 0.0 <= clinc[key] <= 1.0, key
    assert len(clinc["sweep"]) > 5
    # Handing over more never catches fewer out-of-scope queries.
    recalls = [row["out_of_scope_recall"] for row in clinc["sweep"]]
    assert recalls == sorted(recalls)

    written = docs.read_text(encoding="utf-8")
    assert "Prose stays." in written and "End." in written and "\nold\n" not in written
    for name in BENCHMARKS:
        assert f"| {name} |" in written
    assert (out / "summary.md").exists()
