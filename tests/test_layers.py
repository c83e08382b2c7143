"""Import directions: lower layers never import higher ones (CONTRIBUTING.md, "Layout").

Every module of ``bot/``, ``in_rasa/`` and ``actions/`` is parsed (no import runs) and each
of its imports of our own code, wherever it is written (a function-level
import counts too), is checked against the layer it belongs to:

    store < conversation core < channels, desk < analytics < gateway < offline tools

and, beside them, the code that runs inside Rasa (``in_rasa/``) and the action
server (``actions/``), which never import the gateway, nor the gateway them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
#: Our top-level packages: the gateway and offline tools, the code inside Rasa, the actions.
ROOTS = ("bot", "in_rasa", "actions")

# Shared by every process: plain data and small helpers that import nothing of ours
# above them (checked below like everything else).
SHARED = {
    "bot.contract",
    "bot.text",
    "bot.brand",
    "bot.expectations",
    "bot.settings",
    "bot.logs",
    "bot.privacy",
    # The live counters the core bumps (Prometheus); they import nothing of ours.
    "bot.analytics.counters",
}
STORE = {"bot.store"}
BOUNDARY = {"bot.messages", "bot.assistant", "bot.own_answers", "bot.edge", "bot.wake", "bot.pace"}
CORE = {"bot.conversation"}
CHANNELS = {"bot.channels"}
DESK = {"bot.desk"}
ANALYTICS = {"bot.analytics"}
GATEWAY = {"bot.gateway", "bot.assembly", "bot.inbox", "bot.outbox"}
IN_RASA = {"in_rasa"}
TOOLS = {
    "bot.run",
    "bot.launch",
    "bot.scaleout",
    "bot.balancer",
    "bot.model",
    "bot.evaluation",
    "bot.real_posts",
    "bot.real_posts_report",
    "bot.review",
}
ACTIONS = {"actions"}

GATEWAY_SIDE = STORE | BOUNDARY | CORE | CHANNELS | DESK | ANALYTICS | GATEWAY

#: What each layer may import of our code (its own layer always).
ALLOWED: dict[str, set[str]] = {
    "shared": SHARED,
    "store": SHARED | STORE,
    "boundary": SHARED | BOUNDARY,
    "core": SHARED | STORE | BOUNDARY | CORE,
    "channels": SHARED | BOUNDARY | CORE | CHANNELS,
    "desk": SHARED | STORE | BOUNDARY | CORE | DESK,
    # Figures from the store; the dashboard behind the desk's login; the digest and the
    # report read the shipped fallback threshold (bot/evaluation.py), lazily.
    "analytics": SHARED | STORE | BOUNDARY | DESK | ANALYTICS | {"bot.evaluation"},
    # The gateway builds the review inbox for the desk, lazily (bot/assembly.py), and
    # gives the dashboard the shipped fallback threshold (bot/evaluation.py).
    "gateway": SHARED | GATEWAY_SIDE | {"bot.review.inbox", "bot.evaluation"},
    "in_rasa": SHARED | IN_RASA,
    "tools": SHARED | STORE | IN_RASA | TOOLS,
    # The action server: the assistant's contract, the brand, the value normalisers
    # that run inside Rasa too, and the one SQLite recipe.
    "actions": SHARED | ACTIONS | {"in_rasa.nlu.values", "bot.store.sqlite"},
}
LAYERS = {
    "shared": SHARED,
    "store": STORE,
    "boundary": BOUNDARY,
    "core": CORE,
    "channels": CHANNELS,
    "desk": DESK,
    "analytics": ANALYTICS,
    "gateway": GATEWAY,
    "in_rasa": IN_RASA,
    "tools": TOOLS,
    "actions": ACTIONS,
}


def _within(module: str, homes: set[str]) -> bool:
    return any(module == home or module.startswith(home + ".") for home in homes)


def layer_of(module: str) -> str | None:
    """The layer of one of our modules (None for the package roots)."""
    found = [name for name, homes in LAYERS.items() if _within(module, homes)]
    return found[0] if found else None


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    base = PROJECT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def our_imports(source: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of our code (``ROOTS``) in ``source``;
    ``from package import submodule`` names the submodule."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ROOTS:
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in ROOTS:
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                yield node.lineno, candidate if is_module(candidate) else node.module


def violations(module: str, source: str) -> list[str]:
    """The imports in ``source`` (of ``module``) that reach where its layer may not."""
    layer = layer_of(module)
    if layer is None:
        return []
    allowed = ALLOWED[layer] | LAYERS[layer]
    return [
        f"{module}:{line} imports {imported} ({layer} may not import {layer_of(imported)})"
        for line, imported in our_imports(source)
        if imported not in ROOTS and not _within(imported, allowed)
    ]


def project_modules() -> Iterator[tuple[str, Path]]:
    for package in ROOTS:
        for path in sorted((PROJECT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield module_name(path), path


def test_every_module_has_a_layer() -> None:
    homeless = [m for m, _ in project_modules() if m not in ROOTS and not layer_of(m)]
    assert homeless == [], "add these modules to a layer in tests/test_layers.py"


def test_no_module_imports_a_layer_above_it() -> None:
    found = [
        problem
        for module, path in project_modules()
        for problem in violations(module, path.read_text(encoding="utf-8"))
    ]
    assert found == []


@pytest.mark.parametrize(
    ("module", "source", "reaches"),
    [
        ("bot.store.records", "from bot.messages import CustomerRef\n", "bot.messages"),
        ("bot.conversation.turns", "from bot.desk.slack import SlackDesk\n", "bot.desk.slack"),
        ("bot.conversation.ingest", "import bot.channels.telegram\n", "bot.channels.telegram"),
        ("bot.desk.operations", "from bot.review.inbox import ReviewInbox\n", "bot.review.inbox"),
        ("bot.channels.webchat", "from bot.store.models import Message\n", "bot.store.models"),
        ("in_rasa.nlu.tokenizer", "from bot.conversation import turns\n", "bot.conversation.turns"),
        ("bot.inbox", "def f():\n    from in_rasa.nlu import encoder\n", "in_rasa.nlu.encoder"),
        ("bot.assistant", "from bot.analytics import live\n", "bot.analytics.live"),
        ("bot.desk.web", "from bot.analytics.dashboard import x\n", "bot.analytics.dashboard"),
        ("actions.flights", "from bot.gateway import create_app\n", "bot.gateway"),
    ],
)
def test_a_reaching_back_import_is_found(module: str, source: str, reaches: str) -> None:
    found = violations(module, source)
    assert len(found) == 1 and f"imports {reaches} " in found[0]


def test_an_allowed_import_passes() -> None:
    assert violations("bot.desk.operations", "from bot.conversation import ownership\n") == []
    assert violations("actions.airline.db", "from bot.store import sqlite\n") == []
    assert violations("bot.outbox", "from bot.analytics import counters\n") == []
