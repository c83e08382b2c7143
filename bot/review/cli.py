"""``python -m bot.review``: the review inbox and the gate from a terminal.

    python -m bot.review collect              # look for new messages to review
    python -m bot.review list [--json]        # pending items, near-duplicates grouped
    python -m bot.review approve 12 [--intent refund_request] [--text "..."]
    python -m bot.review discard 13 14
    python -m bot.review serve [--port 8300]  # the same as a local web page
    python -m bot.review gate                 # did the data change make the model better?
    python -m bot.review import tweets.js     # a brand's archive of posts (X, Telegram, CSV, JSONL)

Decisions are recorded under the trainer's name (``--as``, default: git's
user.name, else the login name).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.brand import PROJECT_ROOT, load_brand
from bot.evaluation import TEST_FILE, shipped_threshold
from bot.model import MODEL_PATH
from bot.review.archives import FORMATS
from bot.review.gate import CONFIG_FILE, RESULTS, GateError, run_gate
from bot.review.inbox import Group, ReviewError, ReviewInbox
from bot.review.nludata import NLU_FILE
from bot.settings import load_settings
from bot.store.db import make_engine, migrate, session_factory


def open_inbox(database_url: str | None = None, nlu_file: Path = NLU_FILE) -> ReviewInbox:
    """The inbox on the gateway's store (``CARE_DATABASE_URL``), schema brought up to date."""
    engine = make_engine(database_url or load_settings().database_url)
    migrate(engine)
    return ReviewInbox(session_factory(engine), shipped_threshold(), nlu_file)


def trainer_name() -> str:
    """Who is deciding: git's user.name if set, else the login name."""
    try:
        name = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, cwd=PROJECT_ROOT
        ).stdout.strip()
    except OSError:
        name = ""
    return name or getpass.getuser()


def _print_groups(groups: list[Group]) -> None:
    if not groups:
        print("Nothing to review.")
        return
    for group in groups:
        if len(group.items) > 1:
            print(f"── {len(group.items)} similar messages")
        for item in group.items:
            sure = "" if item.confidence is None else f" {item.confidence:.0%}"
            extra = f", agent says {item.suggested_intent}" if item.suggested_intent else ""
            known = f"  [already in training data as {item.in_training_data}]"
            print(
                f"#{item.id:<5} {item.source:<14} bot: {item.predicted_intent}{sure}{extra}"
                f" ({item.channel}, conversation #{item.conversation_id})"
                f"{known if item.in_training_data else ''}\n       {item.text}"
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.review", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", help="the care store (default: CARE_DATABASE_URL)")
    parser.add_argument("--nlu", type=Path, default=NLU_FILE, help="the NLU file to write into")
    parser.add_argument("--as", dest="trainer", default=None, help="who is deciding")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("collect", help="look for new messages to review")
    listing = commands.add_parser("list", help="pending items, near-duplicates grouped")
    listing.add_argument("--json", action="store_true")
    approve = commands.add_parser("approve", help="write an item into the NLU file")
    approve.add_argument("item", type=int)
    approve.add_argument("--intent", help="file it under this intent instead")
    approve.add_argument("--text", help="the example as written, e.g. with [NW 881](flight_number)")
    discard = commands.add_parser("discard", help="drop items")
    discard.add_argument("items", type=int, nargs="+")
    serve = commands.add_parser("serve", help="the inbox as a local web page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8300)
    _import_parser(commands)
    gate = commands.add_parser("gate", help="train a candidate and compare it with the model")
    gate.add_argument("--current-model", type=Path, default=MODEL_PATH)
    gate.add_argument("--test-file", type=Path, default=TEST_FILE)
    gate.add_argument("--out", type=Path, default=RESULTS)
    gate.add_argument(
        "--config",
        type=Path,
        default=CONFIG_FILE,
        help="the candidate's pipeline (a config change)",
    )
    gate.add_argument(
        "--no-real-posts",
        action="store_true",
        help="skip scoring both models on the labelled real posts (tune part)",
    )
    return parser


def _import_parser(commands: Any) -> None:
    found = commands.add_parser("import", help="a brand's archive of posts into the inbox")
    found.add_argument("file", type=Path)
    found.add_argument("--format", choices=FORMATS, help="default: from the file")
    found.add_argument(
        "--brand",
        action="append",
        default=[],
        help="the brand's handle, name or sender id (again for more); default: brand.yml's handle",
    )
    found.add_argument("--model", type=Path, default=MODEL_PATH, help="the model that suggests")
    found.add_argument(
        "--no-model", action="store_true", help="no suggestions; group by shared trigrams"
    )
    found.add_argument("--quiet", action="store_true", help="no progress bar")
    for column in ("text", "id", "author", "time", "thread"):
        found.add_argument(f"--{column}-column", default=column, help="CSV/JSONL column name")


def _import(args: argparse.Namespace) -> int:
    from bot.review.archives import ArchiveError, Columns
    from bot.review.importer import run_import
    from bot.review.suggest import ModelSuggester, Suggester, TrigramSuggester

    engine = make_engine(args.database_url or load_settings().database_url)
    migrate(engine)
    columns = Columns(
        args.text_column, args.id_column, args.author_column, args.time_column, args.thread_column
    )

    def suggester() -> Suggester:
        # An import is an offline run: the sentence encoder may use every core.
        return TrigramSuggester() if args.no_model else ModelSuggester(args.model, os.cpu_count())

    kind = TrigramSuggester if args.no_model else ModelSuggester
    try:
        report = run_import(
            session_factory(engine),
            args.file,
            suggester,
            kind.thresholds,
            args.format,
            args.brand or [load_brand().twitter_handle],
            columns,
            progress=not args.quiet,
            # With the model, the page has the posts in groups by wording in minutes,
            # while the model's pass (the long one) runs.
            preview=not args.no_model,
        )
    except (ArchiveError, OSError) as refused:
        print(f"import: {refused}", file=sys.stderr)
        return 2
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(report.skipped.items()) if n)
    done = "continued" if report.resumed else "imported"
    print(
        f"{done} {args.file.name} (import #{report.import_id}): "
        f"{report.read} posts, {report.customers} from customers, {report.kept} kept"
        + (f" (left out: {skipped})" if skipped else "")
        + f"; {report.groups} groups to review"
    )
    return 0


def _gate(args: argparse.Namespace) -> int:
    result = run_gate(
        args.nlu,
        args.current_model,
        args.test_file,
        args.out,
        real_posts=not args.no_real_posts,
        config=args.config,
    )
    if isinstance(result, GateError):
        print(f"gate: verdict invalid\n{result}", file=sys.stderr)
        return 4
    report = (args.out / "report.md").read_text(encoding="utf-8")
    print(report.split("\n| intent")[0].strip())
    if "\n## Real posts" in report:
        print("\n## Real posts" + report.split("\n## Real posts", 1)[1].rstrip())
    print(f"\nReport: {args.out / 'report.html'}")
    return result.verdict.exit_code


def _serve(inbox: ReviewInbox, args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.review.web import create_app

    print(f"Review inbox on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    web.run_app(
        create_app(inbox, args.trainer or trainer_name()),
        host=args.host,
        port=args.port,
        print=None,
    )
    return 0


def run(argv: list[str] | None = None) -> int:
    """Runs one command; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "gate":
        return _gate(args)
    if args.command == "import":
        return _import(args)
    inbox = open_inbox(args.database_url, args.nlu)
    trainer = args.trainer or trainer_name()
    try:
        if args.command == "collect":
            print(f"{inbox.collect()} new message(s) to review")
        elif args.command == "list":
            groups = inbox.groups()
            if args.json:
                print(json.dumps([g.as_json() for g in groups], ensure_ascii=False, indent=1))
            else:
                _print_groups(groups)
        elif args.command == "approve":
            done = inbox.approve(args.item, trainer, args.intent, args.text)
            where = args.nlu.name
            print(
                f"#{done.item_id} approved as {done.intent}: "
                + (f"added to {where}" if done.written else f"{where} already had it")
            )
        elif args.command == "discard":
            for item in args.items:
                inbox.discard(item, trainer)
                print(f"#{item} discarded")
        elif args.command == "serve":
            return _serve(inbox, args)
    except ReviewError as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 2
    return 0


def main() -> None:
    """Command line entry point."""
    sys.exit(run())
