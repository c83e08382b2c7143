"""The parts of X API v2 tweets and DM events the gateway reads, with strict types.

Checked before an item is read, so that one of another shape is set aside
with its raw payload instead of reaching the store. X's ids are 64-bit
integers sent as strings (up to 19 digits); a DM conversation id is two user
ids joined by ``-`` (one id for a group conversation). Text bounds are sanity
caps: a post can be 25,000 characters (long posts), a DM 10,000.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConstrainedStr, StrictStr, ValidationError

from bot.edge import Strict, short_reason
from bot.messages import CustomerRef, display


class XId(ConstrainedStr):
    """A tweet, user, DM event or conversation id: up to 19 digits."""

    strict = True
    regex = r"^[0-9]{1,19}\Z"


class DmConversationId(ConstrainedStr):
    """``<user id>-<user id>``, or one id for a group conversation."""

    strict = True
    regex = r"^[0-9]{1,19}(-[0-9]{1,19})?\Z"


class Text(ConstrainedStr):
    """A post or a DM (X allows 25,000 and 10,000 characters; kept up to 64k)."""

    strict = True
    max_length = 65_536


class Reference(Strict):
    """``referenced_tweets`` entry."""

    type: StrictStr
    id: XId | None = None


class Tweet(Strict):
    """A mention (``tweet_fields``: author, conversation, reply target, references)."""

    id: XId
    text: Text
    author_id: XId
    conversation_id: XId | None = None
    in_reply_to_user_id: XId | None = None
    created_at: StrictStr | None = None
    referenced_tweets: list[Reference] | None = None


class DmEvent(Strict):
    """A DM event (``dm_event_fields``)."""

    id: XId
    event_type: StrictStr
    text: Text | None = None
    sender_id: XId | None = None
    dm_conversation_id: DmConversationId | None = None
    created_at: StrictStr | None = None


class User(Strict):
    """An ``includes.users`` entry: who wrote."""

    id: XId
    username: StrictStr | None = None
    name: StrictStr | None = None


def users_of(page: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A page's ``includes.users`` by id (entries of another shape left out)."""
    found = (page.get("includes") or {}).get("users") or []
    return {u["id"]: u for u in found if isinstance(u, dict) and isinstance(u.get("id"), str)}


def customer(user_id: str, users: dict[str, dict[str, Any]]) -> CustomerRef:
    """Who wrote; ValueError when the platform described them in another shape."""
    user = users.get(user_id) or {"id": user_id}
    check(User, user)
    return CustomerRef(user_id, display(user.get("username"), 64), display(user.get("name")))


def check(model: type[BaseModel], data: Any) -> None:
    """Raises ValueError naming the first fields of ``data`` that do not fit ``model``."""
    try:
        model.parse_obj(data)
    except ValidationError as error:
        raise ValueError(f"not a readable {model.__name__}: {short_reason(error)}") from None
