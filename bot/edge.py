"""What every HTTP entry point does before it acts on a request.

* The body is bounded: aiohttp refuses one over ``Settings.max_body_bytes``
  (413) before it is read.
* JSON is parsed only after its nesting depth is known to be small (the
  standard parser recurses, and a body of 1,000 brackets exhausted Python's
  stack), as strict UTF-8, without ``NaN`` or ``Infinity`` (not JSON, and
  PostgreSQL refuses them in a JSON column).
* The parsed value is checked against a pydantic model with strict types
  before anything reads it.

Whatever fails is a :class:`Refusal`: a status (400 for a malformed request,
401 or 403 for authentication, 422 for a well-formed one the gateway cannot
take, 503 while the store is unavailable) and a short reason for the client,
turned into a response by :func:`refusals`, the one place that maps them to
HTTP.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConstrainedStr, ValidationError

#: Deep enough for every platform's payloads (a Slack view submission is the
#: deepest, about 8 levels), shallow enough for the parser's recursion.
MAX_DEPTH = 32

M = TypeVar("M", bound=BaseModel)

# A JSON string (unrolled: linear time), a quote that opens none (the body is
# not JSON), or a bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|"|[\[\]{}]')
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class PageId(ConstrainedStr):
    """An id one of our pages makes (a web-chat session or message, a desk reply):
    8-64 letters, digits, - or _."""

    strict = True
    regex = r"^[A-Za-z0-9_-]{8,64}\Z"  # \Z: "$" would let a final newline through


class Strict(BaseModel):
    """A model that takes only a JSON object: pydantic 1 would also build one from anything
    ``dict()`` accepts (``[]`` is an empty object to it)."""

    @classmethod
    def validate(cls: type[M], value: Any) -> M:
        if not isinstance(value, dict | cls):
            raise TypeError("must be a JSON object")
        return super().validate(value)


class Refusal(Exception):
    """A request refused at the edge, with its HTTP status and a short reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def depth(text: str) -> int | None:
    """How deep the brackets of a JSON text nest; None when a string never ends."""
    steps = []
    for token in _TOKENS.findall(text):
        if token == '"':
            return None
        step = _STEP.get(token)
        if step is not None:
            steps.append(step)
    return max(itertools.accumulate(steps), default=0)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number too large")
    return value


def parse_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The value of a JSON document; a 400 :class:`Refusal` for anything else."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refusal(400, "the body is not UTF-8") from None
    nesting = depth(raw)
    if nesting is None:
        raise Refusal(400, "the body is not JSON")
    if nesting > max_depth:
        raise Refusal(400, f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except ValueError:  # includes integers of more than 4,300 digits
        raise Refusal(400, "the body is not JSON") from None


async def read_json(request: web.Request, max_depth: int = MAX_DEPTH) -> Any:
    """The request's body as JSON (413 from aiohttp over the size limit)."""
    return parse_json(await request.read(), max_depth)


async def read_form(request: web.Request) -> dict[str, str]:
    """A browser form's fields (URL-encoded, strict UTF-8), the last of a repeated one.

    aiohttp's ``request.post()`` answers 500 to a multipart body without its
    boundary, to an unknown charset and to bytes that are not UTF-8; our forms
    are never multipart. Another body (or none: a logout sends its token in a
    header) has no fields, as with aiohttp's reader."""
    if request.content_type != "application/x-www-form-urlencoded":
        return {}
    try:
        text = (await request.read()).decode("ascii")  # a URL-encoded form is ASCII
        pairs = urllib.parse.parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "the form is not URL-encoded UTF-8") from None
    return dict(pairs)


def validated(model: type[M], data: Any, status: int = 400) -> M:
    """``data`` as ``model``; a :class:`Refusal` that says which field is wrong."""
    if not isinstance(data, dict):
        raise Refusal(status, "expected a JSON object")
    try:
        return model.parse_obj(data)
    except ValidationError as error:
        raise Refusal(status, short_reason(error)) from None


def short_reason(error: ValidationError) -> str:
    """The first problems pydantic found, as ``field: problem`` (never the value)."""
    problems = [
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors()[:3]
    ]
    return "; ".join(problems)[:300]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns a :class:`Refusal` into its response: ``{"error": reason}``."""
    try:
        return await handler(request)
    except Refusal as refusal:
        return web.json_response({"error": refusal.reason}, status=refusal.status)
