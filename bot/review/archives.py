"""Reads a brand's archive of posts: an X archive, a Telegram export, a CSV or JSONL file.

Every reader gives plain :class:`Post` records, the brand's own posts among
them (marked ``from_brand``): the importer keeps only the customers' posts as
items, and reads the brand's replies only as the thread around them.

* **X archive** (``tweets.js``): ``window.YTD.tweets.part0 = [{"tweet": {...}}]``.
  The author is the tweet's ``user.screen_name`` (or ``screen_name``); a tweet
  without one is the archive owner's, the brand's.
* **Telegram Desktop export** (``result.json``): ``messages`` with ``from``,
  ``from_id``, ``text`` (a string, or a list of strings and entities) and
  ``reply_to_message_id``. The brand's senders are named by ``brand_senders``
  (the bot's and the agents' ``from`` or ``from_id``).
* **CSV or JSONL**: a text column and optional id, author, time and thread
  columns (:class:`Columns`); a row whose author is the brand's is the brand's.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = ("x", "telegram", "csv", "jsonl")


class ArchiveError(ValueError):
    """A file the importer cannot read, with what is wrong in it."""


@dataclass(frozen=True)
class Post:
    """One post of an archive, as the source has it (not yet redacted)."""

    key: str  # the source's id, or the line number
    text: str
    author: str
    at: str | None = None
    thread: str | None = None  # posts of one conversation share it
    reply_to: str | None = None  # the key of the post this one answers
    from_brand: bool = False


@dataclass(frozen=True)
class Columns:
    """Column names of a CSV or JSONL archive."""

    text: str = "text"
    id: str = "id"
    author: str = "author"
    time: str = "time"
    thread: str = "thread"


DEFAULT_COLUMNS = Columns()


def detect_format(path: Path) -> str:
    """The archive's format from its name and first bytes."""
    with path.open(encoding="utf-8", errors="replace") as opened:
        start = opened.read(4096).lstrip("\ufeff").lstrip()
    if start.startswith("window.YTD."):
        return "x"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json" and start.startswith("{") and '"messages"' in _head(path):
        return "telegram"
    raise ArchiveError(f"{path.name}: not an X archive, Telegram export, CSV or JSONL file")


def _head(path: Path, size: int = 1 << 20) -> str:
    with path.open(encoding="utf-8", errors="replace") as opened:
        return opened.read(size)


def read_archive(
    path: Path,
    fmt: str | None = None,
    brand: Iterable[str] = (),
    columns: Columns = DEFAULT_COLUMNS,
) -> list[Post]:
    """Every post of the archive, in the file's order. ``brand``: the brand's handles,
    names or sender ids (compared without case or a leading @)."""
    fmt = fmt or detect_format(path)
    ours = {_name(b) for b in brand if b}
    if fmt == "x":
        return list(_x_posts(path, ours))
    if fmt == "telegram":
        return list(_telegram_posts(path, ours))
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as opened:
            return list(_rows(csv.DictReader(opened), columns, ours, path.name))
    if fmt == "jsonl":
        return list(_rows(_json_lines(path), columns, ours, path.name))
    raise ArchiveError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def _name(value: str) -> str:
    return value.strip().lstrip("@").casefold()


def _x_posts(path: Path, ours: set[str]) -> Iterator[Post]:
    raw = path.read_text(encoding="utf-8").lstrip("\ufeff")
    _, equals, body = raw.partition("=")
    try:
        items = json.loads(body if equals else raw)
    except ValueError as error:
        raise ArchiveError(f"{path.name}: not X's tweets.js ({error})") from None
    if not isinstance(items, list):
        raise ArchiveError(f"{path.name}: expected a list of tweets")
    for item in items:
        tweet = item.get("tweet", item) if isinstance(item, dict) else None
        if not isinstance(tweet, dict):
            continue
        text = html.unescape(str(tweet.get("full_text") or tweet.get("text") or ""))
        user = tweet.get("user")
        user = user if isinstance(user, dict) else {}
        author = str(user.get("screen_name") or tweet.get("screen_name") or "")
        key = str(tweet.get("id_str") or tweet.get("id") or "")
        if not key or not text.strip():
            continue
        reply_to = tweet.get("in_reply_to_status_id_str") or None
        yield Post(
            key=key,
            text=text,
            author=author,
            at=tweet.get("created_at"),
            thread=str(tweet.get("conversation_id_str") or "") or None,
            reply_to=str(reply_to) if reply_to else None,
            # An archive holds its owner's tweets without an author.
            from_brand=not author or _name(author) in ours,
        )


def telegram_text(text: Any) -> str:
    """A Telegram export's ``text``: a string, or a list of strings and entities."""
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text") or "")
            for part in text
            if isinstance(part, str | dict)
        )
    return ""


def _telegram_posts(path: Path, ours: set[str]) -> Iterator[Post]:
    try:
        export = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ArchiveError(f"{path.name}: not a Telegram export ({error})") from None
    if not isinstance(export, dict) or not isinstance(export.get("messages"), list):
        raise ArchiveError(f"{path.name}: a Telegram export has a list of messages")
    chat = str(export.get("id") or path.stem)
    root: dict[str, str] = {}
    for message in export["messages"]:
        if not isinstance(message, dict) or message.get("type", "message") != "message":
            continue
        text = telegram_text(message.get("text"))
        key = str(message.get("id") or "")
        if not key or not text.strip():
            continue
        reply_to = message.get("reply_to_message_id")
        reply = str(reply_to) if reply_to is not None else None
        # A reply chain is a thread; without replies the chat is one conversation.
        root[key] = root.get(reply, reply) if reply else key
        sender, sender_id = str(message.get("from") or ""), str(message.get("from_id") or "")
        yield Post(
            key=key,
            text=text,
            author=sender_id or sender,
            at=message.get("date"),
            thread=f"{chat}:{root[key]}" if reply else chat,
            reply_to=reply,
            from_brand=_name(sender) in ours or _name(sender_id) in ours,
        )


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as opened:
        for number, line in enumerate(opened, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise ArchiveError(f"{path.name}, line {number}: not JSON") from None
            if isinstance(row, dict):
                yield row


def _rows(
    rows: Iterable[dict[str, Any]], columns: Columns, ours: set[str], name: str
) -> Iterator[Post]:
    for number, row in enumerate(rows, 1):
        if columns.text not in row:
            raise ArchiveError(f"{name}: no {columns.text!r} column (--text-column)")
        text = str(row.get(columns.text) or "")
        if not text.strip():
            continue
        author = str(row.get(columns.author) or "")
        thread = row.get(columns.thread)
        yield Post(
            key=str(row.get(columns.id) or number),
            text=text,
            author=author,
            at=str(row[columns.time]) if row.get(columns.time) else None,
            thread=str(thread) if thread not in (None, "") else None,
            from_brand=bool(author) and _name(author) in ours,
        )


@dataclass(frozen=True)
class Context:
    """The thread around a customer's post: the brand's reply, the customer's next post."""

    reply: str | None = None
    next_post: str | None = None


def thread_context(posts: list[Post]) -> dict[str, Context]:
    """For each customer post (by key): the brand's first reply after it in its thread, and
    the same customer's next post there."""
    parent = {p.key: p.reply_to for p in posts}
    by_thread: dict[str, list[Post]] = {}
    for post in posts:
        by_thread.setdefault(post.thread or _root(post.key, parent), []).append(post)
    found: dict[str, Context] = {}
    for thread in by_thread.values():
        for index, post in enumerate(thread):
            if post.from_brand:
                continue
            later = thread[index + 1 :]
            reply = next((p.text for p in later if p.from_brand), None)
            following = next((p.text for p in later if p.author == post.author), None)
            found[post.key] = Context(reply, following)
    return found


def _root(key: str, parent: dict[str, str | None]) -> str:
    # For sources without thread ids (X replies): the reply chain's first post.
    seen = set()
    while parent.get(key) and key not in seen:
        seen.add(key)
        key = str(parent[key])
    return key
