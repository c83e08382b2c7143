"""Where the Rasa process's memory goes (issue #19): each step in a fresh process.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.rasa_memory [--model PATH]
        [--parses 200] [--env NAME=VALUE ...] [--without-memory-env] [--skip-server]
        [--out DIR]

Steps, each measured in a process of its own that does everything before it:

* ``python``: the interpreter alone;
* ``rasa``: ``import rasa.core.agent`` (it imports TensorFlow already);
* ``tensorflow``: and ``import tensorflow`` (nothing more, then);
* ``loaded``: ``Agent.load`` of the model, with what loading each node of
  Rasa's graph added (anonymous memory before and after it);
* ``parse1``, ``parsed``: after the first parse, after ``--parses`` more
  (the held-out test set's texts, one at a time; CPU ms per parse);
* ``rasa run``: the server as bot/launch.py starts it (with the action
  server beside it), when it is ready, after one turn through the gateway's
  channel (``/webhooks/care/webhook``) and after ``--parses`` more, each a
  conversation of its own (CPU ms per turn: the process's user + system time).

Figures from ``/proc`` (``smaps_rollup``): RSS, USS (private pages), anonymous
memory (heap and anonymous mappings: what the code allocated, as opposed to
the mapped libraries), and the threads. Every process has the environment
bot/launch.py gives Rasa (:func:`bot.model.rasa_env` and
:data:`bot.launch.RASA_MEMORY_ENV`); ``--without-memory-env`` leaves the latter
out (how Rasa ran before it), ``--env`` adds variables. ``--out DIR`` writes
``rasa_memory.md`` and ``rasa_memory.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

# Nothing of ours is imported here: a step's process holds only what the step needs
# (the driver imports what it uses where it uses it).
STEPS = ("python", "rasa", "tensorflow", "loaded", "parse1", "parsed")
KB_PER_MB = 1024.0


def memory(pid: int | str = "self") -> dict[str, float]:
    """RSS, USS and anonymous memory (MB) and the threads of a process."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return {
        "rss_mb": fields["Rss"] / KB_PER_MB,
        "uss_mb": (fields["Private_Clean"] + fields["Private_Dirty"]) / KB_PER_MB,
        "anon_mb": fields["Anonymous"] / KB_PER_MB,
        "threads": float(len(os.listdir(f"/proc/{pid}/task"))),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_texts(count: int) -> list[str]:
    """The held-out test set's first ``count`` texts (repeated if it has fewer)."""
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.evaluation import TEST_FILE

    texts = [str(e.get("text")) for e in load_data(str(TEST_FILE)).intent_examples]
    return (texts * (count // len(texts) + 1))[:count]


def _watch_nodes(nodes: dict[str, float]) -> None:
    """Records the anonymous memory each node of Rasa's graph adds as it is created
    (a measurement only: the node is created as Rasa would)."""
    from rasa.engine import graph

    create = graph.GraphNode.__init__

    def measured(node: Any, *args: Any, **kwargs: Any) -> None:
        before = memory()["anon_mb"]
        create(node, *args, **kwargs)
        nodes[node._node_name] = memory()["anon_mb"] - before

    graph.GraphNode.__init__ = measured


def run_step(step: str, model: Path, parses: int) -> dict[str, Any]:
    """Does every step up to ``step`` in this process; its figures."""
    result: dict[str, Any] = {"step": step}
    wanted = STEPS.index(step)
    if wanted >= STEPS.index("rasa"):
        import rasa.core.agent  # noqa: F401

        result["tensorflow_imported_by_rasa"] = "tensorflow" in sys.modules
    if wanted >= STEPS.index("tensorflow"):
        import tensorflow  # noqa: F401
    if wanted >= STEPS.index("loaded"):
        from bot.evaluation import load_agent

        nodes: dict[str, float] = {}
        _watch_nodes(nodes)
        agent = load_agent(model)
        result["nodes_mb"] = {name: round(mb) for name, mb in nodes.items() if abs(mb) >= 1}
    if wanted >= STEPS.index("parse1"):
        texts = test_texts(parses + 1)

        async def parse() -> None:
            await agent.parse_message(texts[0])
            if step == "parsed":
                started = time.process_time()
                for text in texts[1:]:
                    await agent.parse_message(text)
                result["cpu_ms"] = 1000 * (time.process_time() - started) / parses

        asyncio.run(parse())
    result.update(memory())
    return result


def _turn(rasa_port: int, text: str) -> None:
    body = json.dumps(
        {"sender": f"memory-{uuid.uuid4().hex}", "message": text, "metadata": {}}
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{rasa_port}/webhooks/care/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


def run_server(
    model: Path, parses: int, env: dict[str, str], memory_env: bool
) -> list[dict[str, Any]]:
    """``rasa run`` as bot/launch.py starts it: its processes' figures at each step."""
    from benchmarks.gateway_latency import seeded_airline
    from benchmarks.stack_footprint import free_ports, session_members
    from bot.launch import RASA_MEMORY_ENV, assistant_services, stop_all, write_endpoints

    rasa_port, actions_port = free_ports(2)
    with tempfile.TemporaryDirectory(prefix="rasa-memory-") as work:
        endpoints = write_endpoints(actions_port, target=Path(work) / "endpoints.yml")
        airline = {"AIRLINE_DATABASE_URL": seeded_airline(Path(work))}
        started = assistant_services(
            rasa_port,
            actions_port,
            endpoints,
            model=model,
            env={**env, **airline},
            log_dir=Path(work),
        )
        if not memory_env:
            for name in RASA_MEMORY_ENV:
                started[-1].env.pop(name)
        try:
            for service in started:
                service.start()
            for service in started:
                service.wait_ready()
            rasa = started[-1].process
            assert rasa is not None
            texts = test_texts(parses + 1)
            steps = []

            def measure(name: str, **extra: Any) -> None:
                members = session_members(rasa.pid)
                figures = [memory(pid) for pid in members]
                total = {k: sum(f[k] for f in figures) for k in figures[0]}
                steps.append({"step": name, "processes": len(members), **total, **extra})

            measure("rasa run: ready")
            _turn(rasa_port, texts[0])
            measure("rasa run: after 1 turn")
            cpu = cpu_seconds(rasa.pid)
            for text in texts[1:]:
                _turn(rasa_port, text)
            cpu_ms = 1000 * (cpu_seconds(rasa.pid) - cpu) / parses
            measure(f"rasa run: after {parses} more turns", cpu_ms=cpu_ms)
            return steps
        finally:
            stop_all(started, polite=3.0)


def table(results: list[dict[str, Any]]) -> str:
    """The steps as a Markdown table."""
    lines = [
        "| step | RSS MB | USS MB | anonymous MB | threads | CPU ms per parse/turn |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        cpu = f"{r['cpu_ms']:.1f}" if "cpu_ms" in r else ""
        lines.append(
            f"| {r['step']} | {r['rss_mb']:.0f} | {r['uss_mb']:.0f} | {r['anon_mb']:.0f} | "
            f"{r['threads']:.0f} | {cpu} |"
        )
    nodes: dict[str, int] = next((r["nodes_mb"] for r in results if r.get("nodes_mb")), {})
    if nodes:
        lines += ["", "| node of Rasa's graph (loading it) | anonymous MB added |", "|---|---|"]
        lines += [f"| {name} | {mb} |" for name, mb in nodes.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="default: the shipped model")
    parser.add_argument("--parses", type=int, default=200)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--without-memory-env", action="store_true", help="Rasa as it ran before RASA_MEMORY_ENV"
    )
    parser.add_argument("--skip-server", action="store_true", help="only the bare steps")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # a child's step
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(run_step(args.step, args.model, args.parses)))
        return
    from benchmarks.stack_footprint import load_average
    from bot.launch import RASA_MEMORY_ENV
    from bot.model import MODEL_PATH, rasa_env

    args.model = args.model or MODEL_PATH
    extra = dict(item.split("=", 1) for item in args.env)
    memory_env = {} if args.without_memory_env else RASA_MEMORY_ENV
    env = {**rasa_env(), **memory_env, **extra}
    load_before = load_average()
    results = []
    for step in STEPS:
        command = [sys.executable, "-m", "benchmarks.rasa_memory", "--step", step]
        command += ["--model", str(args.model), "--parses", str(args.parses)]
        output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
        print(f"{step}: {results[-1]['anon_mb']:.0f} MB anonymous", flush=True)
    if not args.skip_server:
        results += run_server(args.model, args.parses, extra, not args.without_memory_env)
    report = (
        f"Model {args.model}, environment as bot/launch.py sets it"
        f"{' without RASA_MEMORY_ENV' if args.without_memory_env else ''}"
        f"{f', and {extra}' if extra else ''}; "
        f"load average {load_before} before, {load_average()} after.\n\n{table(results)}\n"
    )
    print(report)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "rasa_memory.md").write_text(report, encoding="utf-8")
        (args.out / "rasa_memory.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
