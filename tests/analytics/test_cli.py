"""``python -m bot.analytics report`` in its three formats, on the story of conftest.py."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from sqlalchemy.engine import Engine

from bot.analytics.cli import run
from tests.analytics.conftest import tell_the_story
from tests.conftest import PROJECT_ROOT

WINDOW = ["--since", "2026-11-02", "--until", "2026-11-04"]


def report(engine: Engine, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert run(["--database-url", str(engine.url), "report", *WINDOW, *args]) == 0
    return capsys.readouterr().out


def test_json_csv_and_markdown(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    tell_the_story(engine)
    data = json.loads(report(engine, capsys, "--format", "json"))
    assert data["window"] == {
        "since": "2026-11-02T00:00:00",
        "until": "2026-11-04T00:00:00",
        "channel": None,
        "demo": False,
    }
    assert data["handovers"]["rate"] == 0.4
    [bags] = [i for i in data["intents"] if i["intent"] == "baggage_issue"]
    assert (bags["containment"], bags["fallback_rate"], bags["deny_rate"]) == (0.5, 0.5, 0.5)
    assert data["days"][1]["sentiment"] == 1.0  # erin: two positive of two messages
    # Ratings: alice 5 and 4, bob 2, erin none (conftest.py).
    satisfaction = data["satisfaction"]
    assert (satisfaction["offered"], satisfaction["rated"], satisfaction["satisfied"]) == (4, 3, 2)
    assert (satisfaction["csat"], satisfaction["response_rate"]) == (2 / 3, 0.75)
    assert satisfaction["scores"] == {"2": 1, "4": 1, "5": 1}
    assert [(c["channel"], c["csat"]) for c in satisfaction["channels"]] == [
        ("telegram", 0.0),
        ("webchat", 1.0),
    ]

    rows = list(csv.DictReader(io.StringIO(report(engine, capsys, "--format", "csv"))))
    figure = {(r["section"], r["key"], r["metric"]): r["value"] for r in rows}
    assert figure[("containment", "", "rate")] == "0.3333"
    assert figure[("volume", "twitter/public", "messages")] == "5"
    assert figure[("response_time", "time_to_claim", "p90")] == "600.0"
    assert figure[("handover_reason", "policy", "tickets")] == "1"
    assert figure[("day", "2026-11-02", "negative")] == "2"
    assert figure[("satisfaction", "", "csat")] == "0.6667"
    assert figure[("satisfaction", "channel/telegram", "response_rate")] == "0.5"
    assert figure[("satisfaction", "day/2026-11-03", "rated")] == "1"
    assert figure[("satisfaction", "score/5", "ratings")] == "1"

    everything = report(engine, capsys, "--format", "md")
    assert "- Satisfied (CSAT, 4 or 5 of 5): 66.7% of 3 ratings (3 of 4 asked rated)" in everything
    assert "| telegram | 2 | 1 | 50.0% | 0.0% |" in everything
    assert "| webchat | 2 | 2 | 100.0% | 100.0% |" in everything

    page = report(engine, capsys, "--format", "md", "--channel", "twitter")
    assert page.startswith("# Care report 2026-11-02 00:00 to 2026-11-04 00:00 UTC (twitter)")
    assert "- Containment: 25.0% (1 of 4 requests)" in page
    assert "| twitter | public | 5 | 2 |" in page
    assert "- dave (twitter): 2" in page
    assert "- Satisfied (CSAT, 4 or 5 of 5): –" in page  # nothing offered in public


def test_refusals(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    url = ["--database-url", str(engine.url)]
    assert run([*url, "report", "--since", "2026-11-04", "--until", "2026-11-02"]) == 2
    assert "--since must be before --until" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run([*url, "report", "--since", "last week"])
    assert "not a date or a date and time: 'last week'" in capsys.readouterr().err


def test_the_module_runs(engine: Engine) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.analytics", "--database-url", str(engine.url), "report",
         *WINDOW, "--format", "json"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout)["messages"] == 0
