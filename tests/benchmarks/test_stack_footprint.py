"""The stack footprint benchmark (benchmarks/stack_footprint.py): its memory readings on real
processes, its tables, and the command end to end, on the fake Rasa (seconds) and on the
trained model (about a minute; marked ``model``). The 1,000-turn run is not part of CI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.stack_footprint import (
    Footprint,
    ProcessMemory,
    ServiceMemory,
    customer_texts,
    process_memory,
    service_memory,
    stack_totals,
    table,
    to_json,
)
from tests.conftest import PROJECT_ROOT
from tests.gateway.bot_run import FAKE_RASA_CLI

MB = 2**20
# A parent holding 40 MB of its own that starts a child holding 24 MB, then both sleep:
# a service's process tree, as Rasa's would be if it forked.
TREE = """
import subprocess, sys
held = bytearray(b"p" * (40 * 2**20))
child = subprocess.Popen(
    [sys.executable, "-c",
     "import sys, time; held = bytearray(b'c' * (24 * 2**20)); print('up', flush=True); "
     "time.sleep(120)"],
    stdout=subprocess.PIPE, text=True,
)
assert child.stdout.readline() == "up\\n"
print(child.pid, flush=True)
import time; time.sleep(120)
"""


def test_a_service_is_every_process_of_its_session_read_from_proc() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True, start_new_session=True
    ) as tree:
        try:
            assert tree.stdout is not None
            child = int(tree.stdout.readline())
            memory = service_memory("tree", tree.pid)
            this = service_memory("test", os.getsid(0))
        finally:
            os.killpg(tree.pid, signal.SIGKILL)  # the parent and its child: their group
            tree.wait()
    assert process_memory(tree.pid) is None  # gone: nothing to read

    by_pid = {p.pid: p for p in memory.processes}
    assert set(by_pid) == {tree.pid, child}  # not this test's process, nor any other
    parent, forked = by_pid[tree.pid], by_pid[child]
    assert "-c" in parent.command and "24 * 2**20" in forked.command
    # Each holds its bytes in pages of its own; the interpreter's pages are shared with
    # the other and with this process, so PSS lies between USS and RSS.
    assert parent.uss_mb >= 40 and 24 <= forked.uss_mb < 40
    for p in (parent, forked):
        assert p.uss_mb < p.pss_mb < p.rss_mb <= p.peak_rss_mb
    for figure in ("rss_mb", "pss_mb", "uss_mb", "peak_rss_mb"):
        assert memory.sum(figure) == getattr(parent, figure) + getattr(forked, figure)
    assert stack_totals([memory, this])["pss_mb"] == memory.sum("pss_mb") + this.sum("pss_mb")
    assert tree.pid not in {p.pid for p in this.processes}


def process(pid: int, rss: float, pss: float, uss: float, peak: float) -> ProcessMemory:
    return ProcessMemory(pid, f"python {pid}", rss, pss, uss, peak)


def test_the_tables_add_up_each_service_and_the_whole_stack() -> None:
    started = [
        ServiceMemory("actions", (process(1, 50, 40, 38, 50),)),
        ServiceMemory("rasa", (process(2, 2000, 1900, 1850, 2000), process(3, 30, 10, 8, 30))),
        ServiceMemory("gateway", (process(4, 95, 75, 70, 96),)),
    ]
    after = [
        ServiceMemory("actions", (process(1, 52, 41, 39, 53),)),
        ServiceMemory("rasa", (process(2, 2500, 2400, 2350, 2600), process(3, 30, 10, 8, 30))),
        ServiceMemory("gateway", (process(4, 97, 77, 72, 99),)),
    ]
    figures = Footprint(
        model="models/northwind.tar.gz",
        started_at="2026-12-06 12:00",
        cores=2,
        load_before="0.2 / 0.3 / 0.4",
        load_after="1.9 / 1.0 / 0.6",
        up_seconds={"actions": 1.52, "gateway": 2.46, "rasa": 21.04},
        first_answer_seconds=21.3,
        turns=1000,
        customers=4,
        answered=1000,
        turn_p50_ms=181.4,
        turn_p95_ms=300.6,
        turn_max_ms=512.0,
        turns_per_second=11.04,
        memory_started=started,
        memory_after=after,
        train_seconds=148.6,
    )
    written = table(figures)
    assert written.startswith("2026-12-06 12:00, 2 cores, load average 0.2 / 0.3 / 0.4 → 1.9")
    assert "| rasa up | 21.0 |" in written and "| actions up | 1.5 |" in written
    assert "| **first answer** at the (fake) Telegram API | **21.3** |" in written
    assert "| 1000 | 4 | 1000 | 181 | 301 | 512 | 11.0 |" in written
    assert "| rasa | 2 | 2,030 / 2,530 | 1,910 / 2,410 | 2,358 | 2,630 |" in written
    assert "| gateway | 1 | 95 / 97 | 75 / 77 | 72 | 99 |" in written
    assert "| **whole stack** | 4 | 2,175 / 2,679 | **2,025 / 2,528** | 2,469 | |" in written
    assert written.endswith("Training (`rasa train`, empty cache): 149 s")

    kept = json.loads(json.dumps(to_json(figures)))
    assert kept["memory_after"]["stack"] == {
        "rss_mb": 2679.0,
        "pss_mb": 2528.0,
        "uss_mb": 2469.0,
        "peak_rss_mb": 2782.0,
    }
    rasa = kept["memory_after"]["services"][1]
    assert rasa["name"] == "rasa" and rasa["pss_mb"] == 2410.0
    assert [p["pid"] for p in rasa["processes"]] == [2, 3]
    assert kept["up_seconds"]["rasa"] == 21.04 and kept["train_seconds"] == 148.6


def test_the_customers_write_the_test_sets_texts_without_markup_in_a_seeded_order() -> None:
    texts = customer_texts(seed=1)
    assert len(texts) == 483  # tests/nlu/test_nlu.yml
    assert not [t for t in texts if "](" in t]
    assert "is there a human I can talk to about my NW 902 cancellation?" in texts
    assert customer_texts(seed=1) == texts != customer_texts(seed=2)


def run_benchmark(tmp_path: Path, *options: str, **environ: str) -> dict:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.stack_footprint", "--out", str(out), *options],
        cwd=PROJECT_ROOT,
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "footprint.md").read_text(encoding="utf-8").strip() in done.stdout
    return json.loads((out / "footprint.json").read_text(encoding="utf-8"))


def test_the_command_end_to_end_on_the_fake_rasa(tmp_path: Path) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"not read by the fake")
    figures = run_benchmark(
        tmp_path,
        *("--turns", "5", "--model", str(model)),
        PYTHONPATH=os.pathsep.join([str(FAKE_RASA_CLI), str(PROJECT_ROOT)]),
        FAKE_RASA_LOAD_SECONDS="3",  # Rasa refuses connections that long, as with a model
        # A developer's shell with Slack configured: blanked for the gateway, which would
        # otherwise stop, half configured (or talk to Slack).
        SLACK_BOT_TOKEN="xoxb-not-for-the-benchmark",
    )
    assert set(figures["up_seconds"]) == {"actions", "rasa", "gateway"}
    # The waiting message was answered once Rasa listened, timed from the processes' start.
    assert figures["up_seconds"]["rasa"] >= 3.0
    assert figures["first_answer_seconds"] >= 3.0
    assert figures["answered"] == figures["turns"] == 5
    for moment in ("memory_started", "memory_after"):
        services = {s["name"]: s for s in figures[moment]["services"]}
        assert set(services) == {"actions", "rasa", "gateway"}
        for service in services.values():
            assert service["processes"] and service["rss_mb"] > 10
            assert service["uss_mb"] <= service["pss_mb"] <= service["rss_mb"]
        assert "-m rasa run --model" in services["rasa"]["processes"][0]["command"]
        assert "-m bot.gateway" in services["gateway"]["processes"][0]["command"]
        stack = figures[moment]["stack"]
        assert stack["pss_mb"] == pytest.approx(sum(s["pss_mb"] for s in services.values()))


@pytest.mark.model
@pytest.mark.slow
def test_the_command_end_to_end_on_the_trained_model(tmp_path: Path) -> None:
    """Its own Rasa, not the session's: starting the stack is what it times."""
    figures = run_benchmark(tmp_path, "--turns", "5")
    assert figures["answered"] == 5
    assert figures["first_answer_seconds"] >= figures["up_seconds"]["rasa"] - 1.0
    rasa = next(s for s in figures["memory_after"]["services"] if s["name"] == "rasa")
    assert rasa["rss_mb"] > 500  # the model and its sentence encoder are loaded
