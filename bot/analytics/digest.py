"""The daily digest: yesterday's figures, and what changed since the day before, posted to
the agents' Slack escalation channel with the Web API client the desk uses.

Run once a day after midnight UTC (cron or a systemd timer: ``python -m
bot.analytics digest``). A day is posted once: it is recorded in
``processed_events`` (source ``digest``) after Slack took it, so a second run
of the same day posts nothing.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.analytics.metrics import Report, Window
from bot.analytics.parts import DEFAULT_PARTS, report
from bot.analytics.report import duration, percent
from bot.contract import reason_label
from bot.settings import Settings, SlackSettings
from bot.store.models import ProcessedEvent
from bot.store.records import utcnow

logger = logging.getLogger(__name__)
SOURCE = "digest"


def day_report(
    engine: Engine, day: date, threshold: float, demo: bool = False, parts: int = DEFAULT_PARTS
) -> Report:
    """The figures of one UTC day."""
    since = datetime.combine(day, datetime.min.time())
    return report(engine, Window(since, since + timedelta(days=1), demo=demo), threshold, parts)


def _change(now: float | None, before: float | None, unit: str = "") -> str:
    if now is None or before is None:
        return ""
    delta = now - before
    if abs(delta) < 1e-9:
        return " (same as the day before)"
    sign = "+" if delta > 0 else "−"
    return f" ({sign}{abs(delta):g}{unit} on the day before)"


def _points(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def compose(day: date, figures: Report, before: Report) -> str:
    """The digest's text (Slack mrkdwn): the day's figures, each with its change."""
    reasons = (
        ", ".join(f"{reason_label(r.reason)} {r.tickets}" for r in figures.reasons[:3]) or "none"
    )
    lines = [
        f"*Care digest for {day:%A %d %B %Y}* (UTC)",
        f"• Customer messages: {figures.messages}{_change(figures.messages, before.messages)}"
        f" in {figures.conversations} conversations",
        f"• Contained by the bot: {percent(figures.containment)}"
        f"{_change(_points(figures.containment), _points(before.containment), ' points')}"
        f" ({figures.contained} of {figures.topic_turns} requests)",
        f"• Handed to a person: {figures.handovers}{_change(figures.handovers, before.handovers)}"
        f"; reasons: {reasons}",
        f"• Bot first response: {duration(figures.bot_response)}",
        f"• Agent first response: {duration(figures.agent_first_response)}"
        f"; time to resolve: {duration(figures.time_to_resolve)}",
        f"• Service-level breaches: {sum(figures.sla_breaches.values())}"
        f"{_change(sum(figures.sla_breaches.values()), sum(before.sla_breaches.values()))}",
        _satisfaction(figures, before),
    ]
    if figures.fans:
        lines.append(
            "• Fans to thank: " + ", ".join(f"{p.handle} ({p.channel})" for p in figures.fans[:5])
        )
    if figures.repeat_complainers:
        lines.append(
            "• Complained more than once: "
            + ", ".join(
                f"{p.handle} ({p.channel}, {p.messages})" for p in figures.repeat_complainers[:5]
            )
        )
    worst = _worst_intent(figures)
    if worst:
        lines.append(worst)
    return "\n".join(lines)


def _satisfaction(figures: Report, before: Report) -> str:
    """CSAT (4 or 5 of 5), its change in points, and how many of the asked rated."""
    now, then = figures.satisfaction.total, before.satisfaction.total
    change = _change(_points(now.csat), _points(then.csat), " points")
    return (
        f"• Satisfied (CSAT): {percent(now.csat)}{change} of {now.rated} ratings;"
        f" {now.rated} of {now.offered} asked rated"
    )


def _worst_intent(figures: Report) -> str | None:
    """The request the bot contained least (at least 5 of them), to look at first."""
    asked = [i for i in figures.intents if i.topic and i.turns >= 5]
    if not asked:
        return None
    worst = min(asked, key=lambda i: (i.contained / i.turns, -i.turns))
    return (
        f"• Least contained: {worst.intent}, {percent(worst.contained / worst.turns)}"
        f" of {worst.turns}"
    )


async def post_digest(slack: SlackSettings, text: str) -> str:
    """Posts ``text`` to the escalation channel; the message's ts."""
    client = AsyncWebClient(token=slack.bot_token.reveal(), base_url=slack.api_url, timeout=30)
    answer = await client.chat_postMessage(
        channel=slack.escalation_channel, text=text, unfurl_links=False
    )
    return str(answer["ts"])


async def run_digest(
    engine: Engine,
    settings: Settings,
    day: date | None = None,
    demo: bool = False,
    print_only: bool = False,
    threshold: float | None = None,
) -> int:
    """Posts the digest of ``day`` (default: yesterday, UTC) once; the exit status."""
    if threshold is None:
        from bot.evaluation import shipped_threshold

        threshold = shipped_threshold()
    day = day or (utcnow().date() - timedelta(days=1))
    text = compose(
        day,
        day_report(engine, day, threshold, demo, settings.analytics_parts),
        day_report(engine, day - timedelta(days=1), threshold, demo, settings.analytics_parts),
    )
    if print_only:
        print(text)
        return 0
    if settings.slack is None:
        print("digest: Slack is not configured (SLACK_BOT_TOKEN...)", flush=True)
        return 2
    key = f"{'demo-' if demo else ''}{day.isoformat()}"
    with Session(engine, future=True) as session:
        done = session.scalar(
            select(ProcessedEvent.id).where(
                ProcessedEvent.source == SOURCE, ProcessedEvent.event_id == key
            )
        )
    if done is not None:
        print(f"digest: {day} was posted already")
        return 0
    ts = await post_digest(settings.slack, text)
    with Session(engine, future=True) as session, session.begin():
        session.add(ProcessedEvent(source=SOURCE, event_id=key, created_at=utcnow()))
    logger.info("digest: %s posted (%s)", day, ts)
    print(f"digest: {day} posted")
    return 0
