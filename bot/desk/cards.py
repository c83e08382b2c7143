"""The Slack card of a handover (Block Kit), built from plain data."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.contract import reason_label

PRIORITIES = ["urgent", "high", "normal", "low"]
PRIORITY_ICONS = {"urgent": "🔴", "high": "🟠", "normal": "🟢", "low": "⚪"}
CHANNEL_NAMES = {"telegram": "Telegram", "twitter": "X/Twitter", "webchat": "Web chat"}
SHOWN_TURNS = 6
# Slots the agent does not need (bookkeeping of the assistant).
HIDDEN_SLOTS = {"visibility", "handover_reason", "pending_offer", "requested_slot"}


@dataclass(frozen=True)
class TicketView:
    """Everything a card shows about a ticket, read from the store."""

    ticket_id: int
    reason: str
    status: str
    priority: str
    agent_id: str | None
    created_at: datetime
    channel: str
    visibility: str
    customer_handle: str | None
    customer_name: str | None
    customer_platform_id: str
    link: str | None
    transcript: list[dict[str, Any]]
    understood: list[dict[str, Any]]
    slots: dict[str, Any]
    earlier_tickets: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    # The request handed over and the second intent it carried ("flight_cancelled",
    # "refund_request"), when it carried one.
    request: tuple[str, ...] = ()
    claimed_at: datetime | None = None
    resolved_at: datetime | None = None  # closed: resolved or handed back
    # Since when the customer has waited for the agents' reply; None: the agents answered
    # last (bot/desk/service_levels.py, the service levels' measure).
    waiting_since: datetime | None = None


def waited(since: datetime, now: datetime) -> str:
    """ "4 min", "2 h 5 min", "3 d" """
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} d"


def wait_ended(view: TicketView) -> datetime | None:
    """When the customer's wait for an agent ended: one took the ticket, or (no one did)
    it closed; None while the ticket waits for one."""
    if view.status == "open":
        return None
    return view.claimed_at or view.resolved_at


def wait_words(view: TicketView, now: datetime) -> str:
    """The wait as the desk says it when asked now: "waiting 4 min" while no one has the
    ticket; once claimed, for how long, and how long the customer has waited for a reply
    (not the ticket's age: an agent has it); a closed ticket's wait no longer runs:
    "waited 4 min, closed 2 h ago"."""
    if view.status == "claimed":
        # Not "claimed ... ago": the status beside it already says "claimed by @alice".
        claimed = (
            f"with an agent for {waited(view.claimed_at, now)}"
            if view.claimed_at
            else "with an agent"
        )
        if view.waiting_since is None:
            return f"{claimed}, customer's last message answered"
        return f"{claimed}, customer waiting {waited(view.waiting_since, now)} for a reply"
    ended = wait_ended(view)
    if ended is None or view.resolved_at is None:
        return f"waiting {waited(view.created_at, now)}"
    return f"waited {waited(view.created_at, ended)}, closed {waited(view.resolved_at, now)} ago"


def ticket_actions(view: TicketView, agent: str | None = None) -> tuple[str, ...]:
    """The operations on the ticket that the desk accepts in its state
    (:class:`~bot.desk.operations.CareDesk`): an open ticket anyone may claim, resolve or
    hand back, or reply to (which claims it); a claimed one only its owner may reply to,
    resolve or hand back; the priority changes
    while the ticket is open or claimed; a closed ticket takes none of them.

    ``agent``: who is looking (the web desk); None for a card every agent sees (Slack),
    which offers what the ticket's owner may do.
    """
    if view.status == "open":  # a reply claims it
        return ("claim", "reply", "resolve", "hand_back", "priority")
    if view.status == "claimed":
        mine = agent is None or agent == view.agent_id
        return ("reply", "resolve", "hand_back", "priority") if mine else ("priority",)
    return ()


def customer_label(view: TicketView) -> str:
    """The customer as the card names them: name, @handle, or their platform id."""
    parts = []
    if view.customer_name:
        parts.append(view.customer_name)
    if view.customer_handle:
        parts.append(f"@{view.customer_handle}")
    return " ".join(parts) or f"customer {view.customer_platform_id}"


def status_words(view: TicketView, mention: Callable[[str], str]) -> str:
    """Where the ticket stands, for the Slack card and the web desk (``mention`` writes
    an agent as the desk shows a person)."""
    if view.status == "open":
        return "waiting for an agent"
    if view.status == "claimed":
        return f"claimed by {mention(view.agent_id or '')}"
    if view.status == "handed_back" and view.agent_id is None:  # bot/conversation/waiting.py
        return "back with the bot: no one took it in time"
    if view.status == "handed_back":
        return f"handed back to the bot by {mention(view.agent_id or '')}"
    return f"resolved by {mention(view.agent_id or '')}"


def _status_line(view: TicketView) -> str:
    return f"*Status:* {status_words(view, SlackMarkup().mention)}"


def _understood(view: TicketView) -> str:
    lines = []
    if len(view.request) > 1:
        lines.append("*Two requests in one:* " + " + ".join(f"`{i}`" for i in view.request))
    if not view.understood:
        return "\n".join([*lines, "_The bot did not get to understand anything._"])
    for turn in view.understood:
        confidence = turn.get("confidence")
        shown = f"{confidence:.0%}" if isinstance(confidence, float) else "?"
        text = (turn.get("text") or "").replace("\n", " ")
        lines.append(f"• `{turn.get('intent')}` {shown} — “{text[:120]}”")
    return "\n".join(lines)


def shown_slots(view: TicketView) -> dict[str, Any]:
    """What the bot collected that an agent needs, by name (bookkeeping slots left out)."""
    return {
        k: v for k, v in sorted(view.slots.items()) if k not in HIDDEN_SLOTS and v not in (None, "")
    }


def _slots(view: TicketView) -> str:
    shown = shown_slots(view)
    if not shown:
        return "_none_"
    return ", ".join(f"*{k}*: `{v}`" for k, v in shown.items())


def _transcript(view: TicketView) -> str:
    lines = []
    for turn in view.transcript[-SHOWN_TURNS:]:
        who = {"customer": "👤", "bot": "🤖", "agent": "🧑‍💼", "system": "⚙️"}.get(
            turn["author"], "•"
        )
        text = (turn.get("text") or f"[{turn.get('kind')}]").replace("\n", " ")
        lines.append(f"{who} {text[:300]}")
    return "\n".join(lines) or "_empty_"


def card_blocks(view: TicketView, now: datetime) -> list[dict[str, Any]]:
    """The card: who and where, why, what the bot understood, slots, transcript, buttons."""
    where = CHANNEL_NAMES.get(view.channel, view.channel)
    where += " (public)" if view.visibility == "public" else " (private)"
    if view.link:
        where += f" · <{view.link}|original post>"
    earlier = (
        ", ".join(
            f"#{t['id']} {reason_label(t['reason'])} ({t['status']})" for t in view.earlier_tickets
        )
        or "none"
    )
    icon = PRIORITY_ICONS.get(view.priority, "")
    header = f"Ticket #{view.ticket_id} · {reason_label(view.reason)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header[:150]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Customer:*\n{customer_label(view)}"},
                {"type": "mrkdwn", "text": f"*Where:*\n{where}"},
                {"type": "mrkdwn", "text": f"*Priority:*\n{icon} {view.priority}"},
                {"type": "mrkdwn", "text": _wait_field(view, now)},
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _status_line(view)}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*What the bot understood:*\n{_understood(view)}"},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Collected:* {_slots(view)}"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Conversation:*\n{_transcript(view)}"[:2900]},
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Earlier tickets: {earlier}"}],
        },
    ]
    if view.error:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Assistant error: `{view.error[:200]}`"}],
            }
        )
    if ticket_actions(view):  # a closed card has no buttons
        blocks.append(_actions(view))
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "Reply in this thread to answer the customer. Internal notes: "
                        "the *Add internal note* button (never sent to the customer).",
                    }
                ],
            }
        )
    return blocks


def _wait_field(view: TicketView, now: datetime) -> str:
    # A card is drawn again when its ticket changes, not as time passes: once an agent has
    # the ticket (or it closed), how long the customer waited for one, not a stale wait.
    ended = wait_ended(view)
    if ended is None:
        return f"*Waiting:*\n{waited(view.created_at, now)}"
    return f"*Waited:*\n{waited(view.created_at, ended)}"


# The card's buttons for the operations of ticket_actions, in this order.
BUTTONS = {"claim": "Claim", "resolve": "Resolve", "hand_back": "Hand back to bot"}


def _actions(view: TicketView) -> dict[str, Any]:
    value = str(view.ticket_id)
    offered = ticket_actions(view)
    elements: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": action,
            "value": value,
            **({"style": "primary"} if action == "claim" else {}),
            "text": {"type": "plain_text", "text": label},
        }
        for action, label in BUTTONS.items()
        if action in offered
    ]
    elements += [
        {
            "type": "button",
            "action_id": "relabel",
            "value": value,
            "text": {"type": "plain_text", "text": "Correct the bot"},
        },
        {
            "type": "button",
            "action_id": "note",
            "value": value,
            "text": {"type": "plain_text", "text": "Add internal note"},
        },
    ]
    if "priority" in offered:
        elements.append(
            {
                "type": "static_select",
                "action_id": "priority",
                "placeholder": {"type": "plain_text", "text": "Priority"},
                "initial_option": _option(view.ticket_id, view.priority),
                "options": [_option(view.ticket_id, p) for p in PRIORITIES],
            }
        )
    return {"type": "actions", "block_id": f"ticket-{view.ticket_id}", "elements": elements}


def _option(ticket_id: int, priority: str) -> dict[str, Any]:
    return {
        "text": {"type": "plain_text", "text": f"{PRIORITY_ICONS[priority]} {priority}"},
        "value": f"{ticket_id}:{priority}",
    }


def card_text(view: TicketView) -> str:
    """The notification text of the card (what phones and screen readers show)."""
    where = CHANNEL_NAMES.get(view.channel, view.channel)
    return (
        f"Ticket #{view.ticket_id}: {reason_label(view.reason)}, {customer_label(view)} on {where}"
    )


def note_modal(ticket_id: int) -> dict[str, Any]:
    """The modal an agent writes an internal note in."""
    return {
        "type": "modal",
        "callback_id": "internal_note",
        "private_metadata": str(ticket_id),
        "title": {"type": "plain_text", "text": "Internal note"},
        "submit": {"type": "plain_text", "text": "Add note"},
        "blocks": [
            {
                "type": "input",
                "block_id": "note",
                "label": {
                    "type": "plain_text",
                    "text": f"Note on ticket #{ticket_id} (agents only)",
                },
                "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
            }
        ],
    }


@dataclass(frozen=True)
class UnderstoodMessage:
    """A customer message and what the bot made of it, for the relabel modal."""

    message_id: int
    text: str
    intent: str | None
    confidence: float | None

    def label(self) -> str:
        sure = f" {self.confidence:.0%}" if self.confidence is not None else ""
        said = " ".join(self.text.split())
        return _clip(f"{self.intent}{sure}: {said}", 75)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain_option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": _clip(text, 75)}, "value": value}


def relabel_modal(
    ticket_id: int, messages: list[UnderstoodMessage], intents: list[str]
) -> dict[str, Any]:
    """The modal in which an agent says what a customer message really was about.

    The correction goes to the trainers' review inbox, not straight into the
    training data: a trainer confirms it (bot/review).
    """
    choices = [_plain_option(m.label(), str(m.message_id)) for m in messages[-5:]]
    return {
        "type": "modal",
        "callback_id": "relabel",
        "private_metadata": str(ticket_id),
        "title": {"type": "plain_text", "text": "Correct the bot"},
        "submit": {"type": "plain_text", "text": "Send to trainers"},
        "blocks": [
            {
                "type": "input",
                "block_id": "message",
                "label": {"type": "plain_text", "text": "Which message did the bot get wrong?"},
                "element": {
                    "type": "static_select",
                    "action_id": "choice",
                    "options": choices,
                    "initial_option": choices[-1],
                },
            },
            {
                "type": "input",
                "block_id": "intent",
                "label": {"type": "plain_text", "text": "What was the customer asking about?"},
                "element": {
                    "type": "static_select",
                    "action_id": "choice",
                    "options": [_plain_option(i, i) for i in intents[:100]],
                },
            },
        ],
    }


def queue_text(views: list[TicketView], now: datetime) -> str:
    """The answer to ``/care-queue``: one line per open ticket."""
    lines = [
        f"#{v.ticket_id} {v.priority} · {reason_label(v.reason)} · {v.channel} · "
        f"{wait_words(v, now)} · " + (f"<@{v.agent_id}>" if v.agent_id else "unclaimed")
        for v in views
    ]
    return "Open tickets:\n" + "\n".join(lines) if lines else "The queue is empty. 🎉"


class SlackMarkup:
    """How Slack's mrkdwn writes a person and a code word (:class:`bot.desk.ports.Markup`)."""

    def mention(self, user: str) -> str:
        return f"<@{user}>"

    def code(self, word: str) -> str:
        return f"`{word}`"


# <url|label>, <@U1|name>, <#C1|name>, <!here>, <!subteam^S1|@team>, <!date^...|fallback>:
# Slack's own markup in what an agent types (api.slack.com "Formatting text").
_SLACK_REFERENCE = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def plain_text(text: str) -> str:
    """An agent's Slack message as the customer should read it: links written out,
    mentions of colleagues and channel-wide pings left out, Slack's escapes undone.

    Written here rather than taken from a library: slack_sdk has no such decoder,
    and the markup is three escapes and one bracket form.
    """

    def reference(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "!")):  # a colleague, @here, @channel, a user group
            return label if target.startswith(("!subteam", "!date")) and label else ""
        if target.startswith("#"):
            return f"#{label}" if label else ""
        url = target.removeprefix("mailto:")
        if not label or label in (url, target):
            return url
        return f"{label} ({url})"

    decoded = _SLACK_REFERENCE.sub(reference, text)
    for escaped, char in (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")):
        decoded = decoded.replace(escaped, char)
    return re.sub(r"[ \t]{2,}", " ", decoded).strip()
