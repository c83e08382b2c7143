"""The code passes the linters CI would otherwise have to be trusted to run."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_ruff() -> None:
    result = run("ruff", "check", "bot", "in_rasa", "actions", "tests")
    assert result.returncode == 0, result.stdout[-3000:]


def test_mypy() -> None:
    result = run("mypy", "bot", "in_rasa", "actions")
    assert result.returncode == 0, result.stdout[-3000:]
