"""The store-transaction benchmark runs, and both of its modes do the real work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def test_the_command_times_both_modes_and_prints_a_table() -> None:
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.router_transactions",
            "--messages",
            "5",
            "--rounds",
            "1",
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    rows = [line for line in finished.stdout.splitlines() if line.startswith("| 1 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["thread", "loop"]
    for row in rows:
        accept, handle, both = (float(cell) for cell in row.split("|")[3:6])
        assert accept > 0 and handle > 0 and abs(accept + handle - both) < 0.02
