"""The ids the assistant knows a customer message by (bot/conversation/leases.py)."""

from __future__ import annotations

from datetime import datetime

from bot.contract import Visibility
from bot.conversation.leases import PendingMessage
from bot.store.models import Owner


def pending(message_id: int, accepted_at: datetime) -> PendingMessage:
    return PendingMessage(
        message_id=message_id,
        text="is NW881 on time?",
        kind="text",
        conversation_id=1,
        channel="telegram",
        owner=Owner.BOT,
        visibility=Visibility.PRIVATE,
        accepted_at=accepted_at,
    )


def test_a_store_started_afresh_never_reuses_an_id_the_assistant_has_answered() -> None:
    # Rasa takes a turn once per message id (in_rasa/bridge.py, take_once) and its tracker
    # store may outlive the care store: message 1 of a new store is not message 1 of the old.
    before = pending(1, datetime(2026, 12, 1, 9, 30, 0, 123456))
    again = pending(1, datetime(2026, 12, 6, 8, 0, 0, 654321))
    assert before.rasa_sender_id == again.rasa_sender_id
    assert before.rasa_message_id != again.rasa_message_id


def test_the_same_message_asked_again_keeps_its_id() -> None:
    # A turn cut and asked again, or read back after a restart, is the same turn for Rasa.
    stored = datetime(2026, 12, 6, 8, 0, 0, 1)
    assert pending(7, stored).rasa_message_id == pending(7, stored).rasa_message_id
    assert pending(7, stored).rasa_message_id != pending(8, stored).rasa_message_id
