"""``python -m bot.analytics``: the care figures from a terminal, for people and scripts.

    python -m bot.analytics report --since 2026-11-01 --until 2026-11-08 --format md
    python -m bot.analytics report --since 2026-11-01 --format csv --channel twitter
    python -m bot.analytics digest [--day 2026-11-07]   # post yesterday's figures to Slack
    python -m bot.analytics demo                        # seed the demo month (make run does)

Reads the gateway's store (``CARE_DATABASE_URL``); ``--demo`` reports on the
seeded demo conversations instead of the real ones (never both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine

from bot.analytics.metrics import Window
from bot.analytics.parts import report
from bot.analytics.report import as_csv, as_dict, as_markdown
from bot.settings import ConfigError, load_settings
from bot.store.db import make_engine, migrate

FORMATS = {
    "json": lambda r: json.dumps(as_dict(r), indent=2) + "\n",
    "csv": as_csv,
    "md": as_markdown,
}


def moment(text: str) -> datetime:
    """``2026-11-01`` (midnight UTC) or ``2026-11-01T12:30`` (UTC); argparse's type."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or a date and time: {text!r}") from None


def parser() -> argparse.ArgumentParser:
    """The command line."""
    main = argparse.ArgumentParser(prog="python -m bot.analytics", description=__doc__)
    main.add_argument("--database-url", help="default: CARE_DATABASE_URL, as the gateway")
    commands = main.add_subparsers(dest="command", required=True)
    figures = commands.add_parser("report", help="every figure of a time window")
    figures.add_argument("--since", type=moment, help="UTC; default: seven days before --until")
    figures.add_argument("--until", type=moment, help="UTC, excluded; default: now")
    figures.add_argument("--format", choices=sorted(FORMATS), default="md")
    figures.add_argument("--channel", choices=["telegram", "twitter", "webchat"])
    figures.add_argument("--demo", action="store_true", help="the demo data, not the real")
    digest = commands.add_parser("digest", help="post a day's figures to the Slack channel")
    digest.add_argument("--day", type=date.fromisoformat, help="UTC; default: yesterday")
    digest.add_argument("--demo", action="store_true", help="the demo data, not the real")
    digest.add_argument("--print", action="store_true", help="print it, post nothing")
    sql = commands.add_parser("sql", help="print the turns query as the store runs it")
    sql.add_argument("--dialect", choices=["postgresql", "sqlite"], default="postgresql")
    demo = commands.add_parser("demo", help="seed the demo month (once; again with --again)")
    demo.add_argument("--again", action="store_true", help="replace the demo data")
    return main


def run(argv: list[str] | None = None) -> int:
    """Runs the command; the exit status."""
    args = parser().parse_args(argv)
    if args.command == "sql":
        print(turns_sql(args.dialect))
        return 0
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"analytics: configuration error: {error}", file=sys.stderr)
        return 2
    engine = make_engine(args.database_url or settings.database_url)
    try:
        migrate(engine)
        if args.command == "report":
            return _report(engine, args, settings.analytics_parts)
        if args.command == "digest":
            from bot.analytics.digest import run_digest

            return asyncio.run(run_digest(engine, settings, args.day, args.demo, args.print))
        from bot.analytics.demo import seed_demo

        seeded = seed_demo(engine, datetime.utcnow(), again=args.again)
        print(f"demo: {seeded} conversations seeded" if seeded else "demo: already seeded")
        return 0
    finally:
        engine.dispose()


def _report(engine: Engine, args: argparse.Namespace, parts: int) -> int:
    until = args.until or datetime.utcnow().replace(microsecond=0)
    since = args.since or until - timedelta(days=7)
    if since >= until:
        print("analytics: --since must be before --until", file=sys.stderr)
        return 2
    from bot.evaluation import shipped_threshold

    window = Window(since, until, args.channel, args.demo)
    figures = report(engine, window, shipped_threshold(), parts)
    sys.stdout.write(FORMATS[args.format](figures))
    return 0


def turns_sql(dialect: str) -> str:
    """The per-turn query of :func:`bot.analytics.metrics.turns` in ``dialect``'s SQL
    (docs/analytics.md quotes it), with named parameters."""
    from sqlalchemy.dialects import postgresql, sqlite

    from bot.analytics.metrics import turns

    window = Window(datetime(2026, 11, 1), datetime(2026, 11, 8))
    compiled = turns(window, 0.35).compile(
        dialect=(postgresql if dialect == "postgresql" else sqlite).dialect(),
        compile_kwargs={"render_postcompile": True},
    )
    return str(compiled)


def main() -> None:
    """Command line entry point."""
    sys.exit(run())
