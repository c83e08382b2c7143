"""A :class:`~bot.analytics.metrics.Report` written out: JSON (the dashboard's API and
scripts), CSV (one figure a row, for spreadsheets) and Markdown (people, the digest)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any

from bot.analytics.figures import Satisfaction
from bot.analytics.metrics import Durations, Report
from bot.contract import reason_label


def rate(part: int, whole: int) -> float | None:
    """``part / whole``, None when there is no whole."""
    return part / whole if whole else None


def as_dict(report: Report) -> dict[str, Any]:
    """Every figure as JSON-ready data, with the rates computed."""
    window = report.window
    return {
        "window": {
            "since": window.since.isoformat(),
            "until": window.until.isoformat(),
            "channel": window.channel,
            "demo": window.demo,
        },
        "conversations": report.conversations,
        "messages": report.messages,
        "volume": [asdict(v) for v in report.volume],
        "containment": {
            "topic_turns": report.topic_turns,
            "contained": report.contained,
            "rate": report.containment,
        },
        "intents": [
            {
                **asdict(i),
                "containment": rate(i.contained, i.turns) if i.topic else None,
                "fallback_rate": rate(i.fallbacks, i.turns),
                "deny_rate": rate(i.denied, i.turns),
            }
            for i in report.intents
        ],
        "handovers": {
            "tickets": report.handovers,
            "rate": report.handover_rate,
            "reasons": [
                {
                    "reason": r.reason,
                    "label": reason_label(r.reason),
                    "tickets": r.tickets,
                    "rate": rate(r.tickets, report.conversations),
                }
                for r in report.reasons
            ],
        },
        "response_times": {
            "bot_first_response": asdict(report.bot_response),
            "agent_first_response": asdict(report.agent_first_response),
            "time_to_claim": asdict(report.time_to_claim),
            "time_to_resolve": asdict(report.time_to_resolve),
        },
        "sla_breaches": report.sla_breaches,
        "days": [
            {
                **asdict(d),
                "containment": rate(d.contained, d.topic_turns),
                "sentiment": rate(d.positive - d.negative, d.messages),
            }
            for d in report.days
        ],
        "fans": [asdict(p) for p in report.fans],
        "repeat_complainers": [asdict(p) for p in report.repeat_complainers],
        "satisfaction": {
            **_satisfaction(report.satisfaction.total),
            "scores": {str(score): n for score, n in report.satisfaction.scores.items()},
            "channels": [
                {"channel": channel, **_satisfaction(figures)}
                for channel, figures in report.satisfaction.channels.items()
            ],
            "days": [
                {"day": day, **_satisfaction(figures)}
                for day, figures in report.satisfaction.days.items()
            ],
        },
    }


def _satisfaction(figures: Satisfaction) -> dict[str, Any]:
    """Offers, ratings and the satisfied, with CSAT and the response rate."""
    return {**asdict(figures), "csat": figures.csat, "response_rate": figures.response_rate}


def as_csv(report: Report) -> str:
    """One figure a row: ``section,key,metric,value`` (long format: any tool can pivot it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "metric", "value"])
    data = as_dict(report)
    for key, value in data["window"].items():
        writer.writerow(["window", "", key, _cell(value)])
    writer.writerow(["total", "", "conversations", data["conversations"]])
    writer.writerow(["total", "", "messages", data["messages"]])
    for metric, value in data["containment"].items():
        writer.writerow(["containment", "", metric, _cell(value)])
    writer.writerow(["handovers", "", "tickets", data["handovers"]["tickets"]])
    writer.writerow(["handovers", "", "rate", _cell(data["handovers"]["rate"])])
    for volume in data["volume"]:
        key = f"{volume['channel']}/{volume['visibility']}"
        writer.writerow(["volume", key, "messages", volume["messages"]])
        writer.writerow(["volume", key, "conversations", volume["conversations"]])
    for intent in data["intents"]:
        for metric, value in intent.items():
            if metric != "intent":
                writer.writerow(["intent", intent["intent"], metric, _cell(value)])
    for reason in data["handovers"]["reasons"]:
        writer.writerow(["handover_reason", reason["reason"], "tickets", reason["tickets"]])
        writer.writerow(["handover_reason", reason["reason"], "rate", _cell(reason["rate"])])
    for name, durations in data["response_times"].items():
        for metric, value in durations.items():
            writer.writerow(["response_time", name, metric, _cell(value)])
    for mark, count in sorted(data["sla_breaches"].items()):
        writer.writerow(["sla_breaches", mark, "tickets", count])
    for day in data["days"]:
        for metric, value in day.items():
            if metric != "day":
                writer.writerow(["day", day["day"], metric, _cell(value)])
    for kind in ("fans", "repeat_complainers"):
        for person in data[kind]:
            key = f"{person['channel']}/{person['handle']}"
            writer.writerow([kind, key, "messages", person["messages"]])
    satisfaction = data["satisfaction"]
    parts = [("", satisfaction)]
    parts += [(f"channel/{c['channel']}", c) for c in satisfaction["channels"]]
    parts += [(f"day/{d['day']}", d) for d in satisfaction["days"]]
    for key, figures in parts:
        for metric in ("offered", "rated", "satisfied", "csat", "response_rate"):
            writer.writerow(["satisfaction", key, metric, _cell(figures[metric])])
    for score, count in satisfaction["scores"].items():
        writer.writerow(["satisfaction", f"score/{score}", "ratings", count])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    return value


def as_markdown(report: Report) -> str:
    """A page a person reads."""
    data = as_dict(report)
    window = report.window
    scope = window.channel or "all channels"
    lines = [
        f"# Care report {window.since:%Y-%m-%d %H:%M} to {window.until:%Y-%m-%d %H:%M} UTC"
        f" ({scope}{', demo data' if window.demo else ''})",
        "",
        f"- Conversations: {report.conversations}; customer messages: {report.messages}",
        f"- Containment: {percent(report.containment)}"
        f" ({report.contained} of {report.topic_turns} requests)",
        f"- Handovers: {report.handovers} ({percent(report.handover_rate)} of conversations)",
        f"- Bot first response: {duration(report.bot_response)}",
        f"- Agent first response: {duration(report.agent_first_response)}",
        f"- Time to claim: {duration(report.time_to_claim)}",
        f"- Time to resolve: {duration(report.time_to_resolve)}",
        f"- Service-level breaches: {sum(report.sla_breaches.values())}",
        f"- Satisfied (CSAT, 4 or 5 of 5): {satisfied(report.satisfaction.total)}",
        "",
        "## Volume",
        "",
        "| channel | visibility | messages | conversations |",
        "|---|---|---:|---:|",
        *(
            f"| {v.channel} | {v.visibility} | {v.messages} | {v.conversations} |"
            for v in report.volume
        ),
        "",
        "## Intents",
        "",
        '| intent | turns | containment | fallback | "no, that\'s not it" |',
        "|---|---:|---:|---:|---:|",
        *(
            f"| {i['intent']} | {i['turns']} | {percent(i['containment'])} |"
            f" {percent(i['fallback_rate'])} | {percent(i['deny_rate'])} |"
            for i in data["intents"]
        ),
        "",
        "## Handovers by reason",
        "",
        "| reason | tickets | rate |",
        "|---|---:|---:|",
        *(
            f"| {r['label']} | {r['tickets']} | {percent(r['rate'])} |"
            for r in data["handovers"]["reasons"]
        ),
        "",
        "## Satisfaction by channel",
        "",
        "| channel | offered | rated | response rate | satisfied (CSAT) |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {channel} | {s.offered} | {s.rated} | {percent(s.response_rate)} |"
            f" {percent(s.csat)} |"
            for channel, s in report.satisfaction.channels.items()
        ),
        "",
        "## Fans to thank",
        "",
        *(f"- {p.handle} ({p.channel}): {p.messages}" for p in report.fans),
        *(["- nobody yet"] if not report.fans else []),
        "",
        "## Complained more than once",
        "",
        *(f"- {p.handle} ({p.channel}): {p.messages}" for p in report.repeat_complainers),
        *(["- nobody"] if not report.repeat_complainers else []),
        "",
    ]
    return "\n".join(lines)


def satisfied(figures: Satisfaction) -> str:
    """CSAT, of how many ratings, and the response rate: ``75.0% of 4 ratings (4 of 8
    asked rated)``; ``–`` without ratings."""
    if not figures.offered:
        return "–"
    asked = f"{figures.rated} of {figures.offered} asked rated"
    if not figures.rated:
        return f"– ({asked})"
    return f"{percent(figures.csat)} of {figures.rated} ratings ({asked})"


def percent(value: float | None) -> str:
    """``0.4`` as ``40.0%``; ``–`` when there is no figure."""
    return "–" if value is None else f"{value:.1%}"


def seconds(value: float | None) -> str:
    """A duration as people say it: ``4 s``, ``5.0 min``, ``1.2 h``."""
    if value is None:
        return "–"
    if value < 60:
        return f"{value:g} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def duration(figures: Durations) -> str:
    """Median and 90th percentile, and of how many."""
    if not figures.count:
        return "–"
    return f"median {seconds(figures.p50)}, p90 {seconds(figures.p90)} (of {figures.count})"
