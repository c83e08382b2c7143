"""The live counters (Prometheus), counted as things happen by one-line hooks in the core.

Apart from bot/analytics/live.py, which serves them with the figures read from
the store, so that the core's lowest modules (bot/assistant.py, bot/outbox.py,
bot/conversation/handover.py) can count without importing the store's readers
or the web server: this module imports nothing of ours.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Not prometheus_client's global registry: tests start several gateways in one process.
REGISTRY = CollectorRegistry(auto_describe=True)

TURNS = Counter(
    "care_turns", "Customer messages the assistant answered", ["channel"], registry=REGISTRY
)
RASA_SECONDS = Histogram(
    "care_rasa_seconds",
    "Time the assistant took to answer a customer message",
    buckets=(0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
HANDOVERS = Counter(
    "care_handovers", "Conversations handed to a person", ["reason"], registry=REGISTRY
)
SEND_ERRORS = Counter(
    "care_send_errors", "Replies a platform did not take (retried or given up)", ["channel"],
    registry=REGISTRY,
)  # fmt: skip


def channel_of(sender: str) -> str:
    """The channel of an assistant sender id (``telegram-12``: see Conversation.rasa_sender_id)."""
    return sender.split("-", 1)[0]
