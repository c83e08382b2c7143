"""A Slack request checked before the desk acts on it: signature first, then shape.

Bolt parses a request's body before it verifies its signature, and reads
fields of the parsed body with whatever type they have: an unsigned body
that is not JSON, a timestamp header that is not a number, a ``user`` that
is a number or an empty ``actions`` list all became 500s. Here, in order:

1. :func:`verify`: the signature (HMAC-SHA256 of ``v0:timestamp:body`` with
   the signing secret, over the body's bytes as received; a 5-minute window),
   before the body is read as anything: 401 otherwise.
2. :func:`parse`: the body as Bolt will parse it (JSON, a form whose
   ``payload`` is JSON, or a plain form), as strict UTF-8 with a bounded
   nesting depth: 400 otherwise.
3. :func:`check`: the fields Bolt and the desk's listeners read, with strict
   types (pydantic models), ticket and message numbers included: 400 otherwise.

Bolt then verifies the signature again and dispatches as usual.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import (
    BaseModel,
    ConstrainedList,
    ConstrainedStr,
    StrictBool,
    StrictStr,
    root_validator,
    validator,
)
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.edge import Refusal, Strict, parse_json, validated

logger = logging.getLogger(__name__)

#: Slack refuses requests older than five minutes; so do we.
WINDOW_SECONDS = 5 * 60
_STAMP = re.compile(r"[0-9]{1,12}")
#: Buttons whose value is a ticket number (bot/desk/cards.py).
TICKET_BUTTONS = frozenset({"claim", "resolve", "hand_back", "note", "relabel"})
#: Kinds of requests Bolt would read parts of that the desk never asks Slack for.
UNUSED_KINDS = frozenset({"workflow_step_edit"})
#: Ticket and message ids are 32-bit integer columns.
LARGEST_ID = 2**31 - 1
#: Buttons that open a modal (with the click's ``trigger_id``).
MODAL_BUTTONS = frozenset({"note", "relabel"})
#: Modals whose ``private_metadata`` is a ticket number.
TICKET_MODALS = frozenset({"internal_note", "relabel"})


async def bolt_request(request: web.Request, secret: str, now: float) -> AsyncBoltRequest:
    """The request as Bolt's, once its signature (401) and its shape (400) are checked."""
    body = await request.read()
    verify(secret, request.headers, body, now)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "the body is not UTF-8") from None
    content_type = request.headers.get("Content-Type", "").split(";")[0] or None
    check(parse(text, content_type))
    return AsyncBoltRequest(
        body=text,
        query=request.query_string,
        headers=request.headers,  # type: ignore[arg-type]
    )


async def checked(body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> Any:
    """Bolt middleware: the same shape check for Socket Mode envelopes (HTTP requests
    had it before Bolt parsed them); a 400 instead of a listener reading a wrong type."""
    try:
        check(body)
    except Refusal as refusal:
        logger.warning("desk: a Slack request of another shape: %s", refusal.reason)
        return BoltResponse(status=refusal.status, body=refusal.reason)
    return await next()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Raises a 401 :class:`Refusal` unless Slack signed ``body`` within the window."""
    stamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not _STAMP.fullmatch(stamp):
        raise Refusal(401, "missing or malformed X-Slack-Request-Timestamp")
    if abs(now - int(stamp)) > WINDOW_SECONDS:
        raise Refusal(401, "stale request")
    expected = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    given = signature.encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(b"v0=" + expected.hexdigest().encode(), given):
        raise Refusal(401, "invalid signature")


def parse(body: str, content_type: str | None) -> dict[str, Any]:
    """The body as Bolt parses it (``slack_bolt.request.internals.parse_body``)."""
    if not body:
        return {}
    if content_type == "application/json" or body.startswith("{"):
        return _object(parse_json(body))
    params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
    if "payload" not in body:  # Bolt looks for the word anywhere in the body
        return params
    payload = params.get("payload")
    return _object(parse_json(payload)) if payload is not None else {}


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Refusal(400, "expected a JSON object")
    return value


def check(payload: Any) -> None:
    """Raises a 400 :class:`Refusal` naming the first fields of another shape."""
    _object(payload)
    kind = payload.get("type")
    kind = kind if isinstance(kind, str) else None  # else Scope refuses it, with its reason
    if kind in UNUSED_KINDS:
        raise Refusal(400, f"{kind} requests are not used by the desk")
    model = _KINDS.get(kind) if kind is not None else None
    if model is None:
        model = SlashCommand if "command" in payload else Scope
    validated(model, payload)


# --------------------------------------------------------------------- models


class SlackId(ConstrainedStr):
    """A user, channel, team, app or event id (``U0123ABCD``, ``Ev0123``...)."""

    strict = True
    regex = r"^[A-Za-z0-9_.:-]{1,64}\Z"


class Ts(ConstrainedStr):
    """A message timestamp, ``1700000000.000100``."""

    strict = True
    regex = r"^[0-9]{1,12}\.[0-9]{1,9}\Z"


class Text(ConstrainedStr):
    """A message or an input's text (Slack allows 40,000 characters)."""

    strict = True
    max_length = 40_000


class Short(ConstrainedStr):
    """An action id, a callback id, an option's value."""

    strict = True
    max_length = 255


class Ref(Strict):
    """``{"id": ...}``, as Slack describes a team, user, channel or enterprise."""

    id: SlackId | None = None


class Team(Ref):
    enterprise_id: SlackId | None = None


class User(Ref):
    team_id: SlackId | None = None


class Actor(User):
    """The person who clicked or submitted: their id is required."""

    id: SlackId


class Option(Strict):
    value: Short


class Input(Strict):
    """One input of a modal's state."""

    type: Short | None = None
    value: Text | None = None
    selected_option: Option | None = None


class State(Strict):
    values: dict[StrictStr, dict[StrictStr, Input]]


class View(Strict):
    """A modal as Slack sends it back."""

    callback_id: Short | None = None
    private_metadata: Short | None = None
    state: State | None = None
    team_id: SlackId | None = None
    app_installed_team_id: SlackId | None = None


class FunctionData(Strict):
    execution_id: StrictStr | None = None
    inputs: dict[StrictStr, Any] | None = None


class ResponseUrl(Strict):
    response_url: StrictStr | None = None


class Scope(Strict):
    """The fields Bolt reads from any body, and from its nested parts, to build a
    request's context (``slack_bolt.request.internals``): each with the type Bolt
    expects, or absent."""

    type: Short | None = None
    enterprise: SlackId | Ref | None = None
    enterprise_id: SlackId | None = None
    team: SlackId | Team | None = None
    team_id: SlackId | None = None
    user: SlackId | User | None = None
    user_id: SlackId | None = None
    user_team: SlackId | None = None
    channel: SlackId | Ref | None = None
    channel_id: SlackId | None = None
    thread_ts: Ts | None = None
    is_enterprise_install: StrictBool | StrictStr | None = None
    is_ext_shared_channel: StrictBool | None = None
    function_execution_id: StrictStr | None = None
    bot_access_token: StrictStr | None = None
    function_data: FunctionData | None = None
    response_url: StrictStr | None = None
    response_urls: list[ResponseUrl] | None = None
    authorizations: list[Scope] | None = None
    event: Scope | None = None
    message: Scope | None = None
    previous_message: Scope | None = None
    item: Scope | None = None
    assistant_thread: Scope | None = None
    view: View | None = None

    @root_validator(pre=True)
    def _no_null_where_bolt_reads_inside(cls, values: dict[str, Any]) -> dict[str, Any]:
        # Bolt reads these as body.get(key, {}).get(...), body[key].get(...) or len(body[key]):
        # absent or an object (a list), never null. Slack itself sends null elsewhere
        # ("enterprise", "team"), which Bolt expects.
        for key in ("event", "view", "response_urls"):
            if key in values and values[key] is None:
                raise ValueError(f"{key}: must not be null")
        return values


Scope.update_forward_refs()


class Event(Scope):
    """An Events API event; a message in a ticket's thread is read by the desk."""

    type: Short
    text: Text | None = None
    ts: Ts | None = None
    subtype: Short | None = None
    bot_id: SlackId | None = None


class EventCallback(Scope):
    event_id: SlackId | None = None
    event: Event


class UrlVerification(Scope):
    challenge: Short


class Action(Strict):
    action_id: Short
    block_id: Short | None = None
    value: Short | None = None
    selected_option: Option | None = None


class Actions(ConstrainedList):
    item_type = Action
    __args__ = (Action,)
    min_items = 1


class BlockActions(Scope):
    """A click on a card: the buttons carry a ticket number, the priority menu
    ``<ticket>:<priority>``."""

    user: Actor
    actions: Actions
    trigger_id: Short | None = None

    @root_validator(skip_on_failure=True)
    def _ticket_numbers(cls, values: dict[str, Any]) -> dict[str, Any]:
        action = values["actions"][0]
        if action.action_id in TICKET_BUTTONS:
            _ticket_number(action.value, "actions.0.value")
        if action.action_id in MODAL_BUTTONS and not values.get("trigger_id"):
            raise ValueError("trigger_id: required to open a modal")
        elif action.action_id == "priority":
            option = action.selected_option.value if action.selected_option else None
            ticket, _, level = (option or "").partition(":")
            _ticket_number(ticket, "actions.0.selected_option.value")
            if not re.fullmatch(r"[a-z]{1,16}", level):
                raise ValueError("actions.0.selected_option.value: expected <ticket>:<priority>")
        return values


class SentView(View):
    """A modal Slack sends back: Bolt reads its ``type`` (a ``workflow_step`` would need
    parts the desk never uses)."""

    type: Short

    @validator("type")
    def _not_a_workflow_step(cls, value: str) -> str:
        if value == "workflow_step":
            raise ValueError("workflow steps are not used by the desk")
        return value


class ViewClosed(Scope):
    user: Actor
    view: SentView


class ViewSubmission(Scope):
    """A submitted modal: an internal note, or a correction of the bot."""

    user: Actor
    view: SentView

    @root_validator(skip_on_failure=True)
    def _fields(cls, values: dict[str, Any]) -> dict[str, Any]:
        view: View = values["view"]
        if view.callback_id not in TICKET_MODALS:
            return values
        _ticket_number(view.private_metadata, "view.private_metadata")
        state = view.state.values if view.state else {}
        if view.callback_id == "internal_note" and "text" not in state.get("note", {}):
            raise ValueError("view.state.values.note.text: field required")
        if view.callback_id == "relabel":
            for block in ("message", "intent"):
                if "choice" not in state.get(block, {}):
                    raise ValueError(f"view.state.values.{block}.choice: field required")
            chosen = state["message"]["choice"].selected_option
            if chosen is not None:
                _ticket_number(chosen.value, "the chosen message")
        return values


class SlashCommand(Scope):
    """``/care-queue`` (a form: every value is text)."""

    command: Short
    user_id: SlackId
    text: Text | None = None


def _ticket_number(value: Any, where: str) -> None:
    if not (isinstance(value, str) and re.fullmatch(r"[0-9]{1,10}", value)):
        raise ValueError(f"{where}: expected a ticket number")
    if not 1 <= int(value) <= LARGEST_ID:
        raise ValueError(f"{where}: no such ticket number")


_KINDS: dict[str, type[BaseModel]] = {
    "event_callback": EventCallback,
    "url_verification": UrlVerification,
    "block_actions": BlockActions,
    "view_submission": ViewSubmission,
    "view_closed": ViewClosed,
}
