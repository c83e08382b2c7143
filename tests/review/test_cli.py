"""The review inbox from a terminal, as a trainer or a script uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.review.nludata import NluFile
from tests.conftest import PROJECT_ROOT
from tests.review.conftest import StoreMessage


def _review(tmp_path: Path, nlu: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.review",
            "--database-url",
            f"sqlite:///{tmp_path / 'care.db'}",
            "--nlu",
            str(nlu),
            "--as",
            "trainer-cli",
            *args,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_collect_list_approve_and_discard(
    tmp_path: Path, nlu_copy: Path, store_message: StoreMessage
) -> None:
    store_message("my bag never showed up at JFK, +1 (415) 555-0132", "complaint", 0.33)
    store_message("wat", "greet", 0.12, channel="twitter")
    collected = _review(tmp_path, nlu_copy, "collect")
    assert collected.stdout.strip() == "2 new message(s) to review"
    listed = _review(tmp_path, nlu_copy, "list")
    assert "low_confidence" in listed.stdout and "(twitter, conversation #" in listed.stdout
    assert "555-0132" not in listed.stdout and "<phone>" in listed.stdout
    groups = json.loads(_review(tmp_path, nlu_copy, "list", "--json").stdout)
    by_text = {g["items"][0]["text"]: g["items"][0]["id"] for g in groups}
    bag = by_text["my bag never showed up at JFK, <phone>"]
    approved = _review(
        tmp_path,
        nlu_copy,
        "approve",
        str(bag),
        "--intent",
        "baggage_issue",
        "--text",
        "my bag never showed up at [JFK](airport)",
    )
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == f"#{bag} approved as baggage_issue: added to nlu.yml"
    assert any(
        e.intent == "baggage_issue" and e.text == "my bag never showed up at [JFK](airport)"
        for e in NluFile(nlu_copy).examples()
    )
    assert _review(tmp_path, nlu_copy, "discard", str(by_text["wat"])).returncode == 0
    assert _review(tmp_path, nlu_copy, "list").stdout.strip() == "Nothing to review."
    again = _review(tmp_path, nlu_copy, "discard", str(bag))
    assert again.returncode == 2 and "already approved" in again.stderr


def test_import_the_example_archive_then_again(tmp_path: Path, nlu_copy: Path) -> None:
    example = PROJECT_ROOT / "tests" / "review" / "fixtures" / "example_archive.csv"
    first = _review(tmp_path, nlu_copy, "import", str(example), "--no-model", "--quiet")
    assert first.returncode == 0, first.stderr
    counts = "22 posts, 19 from customers, 17 kept (left out: 1 bare value, 3 brand, 1 duplicate)"
    assert first.stdout.startswith("imported example_archive.csv (import #1): " + counts)
    again = _review(tmp_path, nlu_copy, "import", str(example), "--no-model", "--quiet")
    assert again.stdout.startswith("continued example_archive.csv (import #1): " + counts)
    odd = tmp_path / "notes.txt"
    odd.write_text("hello", encoding="utf-8")
    refused = _review(tmp_path, nlu_copy, "import", str(odd), "--no-model")
    assert refused.returncode == 2 and "not an X archive" in refused.stderr
