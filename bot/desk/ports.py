"""What the desk's operations need from outside the desk, as small interfaces.

The operations (bot/desk/operations.py) know no desk platform and no training
files: the platform adapter (bot/desk/slack.py) supplies its :class:`Markup`,
and the gateway the :class:`Trainers` (the review inbox, built when first used).
"""

from __future__ import annotations

from typing import Protocol


class Markup(Protocol):
    """How the desk writes a person and a code word in its messages (Slack: ``<@U1>``)."""

    def mention(self, user: str) -> str:
        """``user`` (the desk's id of an agent), as the desk shows a person."""

    def code(self, word: str) -> str:
        """An intent name or other code word."""


class PlainMarkup:
    """Plain text: ``@user``, and words as they are."""

    def mention(self, user: str) -> str:
        return f"@{user}"

    def code(self, word: str) -> str:
        return word


class Trainers(Protocol):
    """Where agents' corrections of the bot go: the trainers' review inbox (bot/review)."""

    def known_intents(self) -> list[str]:
        """The intents an agent may choose from."""

    def add_relabel(self, message_id: int, intent: str, agent: str) -> int:
        """Files the correction; raises ValueError (with a message for the agent) when it
        cannot be taken."""
