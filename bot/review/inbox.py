"""The trainers' review inbox: what the assistant should learn from, and the decisions on it.

Four sources fill it (``ReviewSource``): customer messages whose top intent
fell under the fallback threshold, messages that led to a handover, messages
the bot answered with confidence and the customer then contradicted
(bot/review/sources.py), and messages an agent relabelled from the desk.
:meth:`ReviewInbox.collect` finds the first three in the stored conversations
(idempotently: a message enters once per source); the desk adds relabels as
agents make them.

Every text is redacted before it is stored here. A trainer approves (as is,
relabelled, or with the text edited to annotate entities) or discards; an
approval writes the example into ``data/nlu.yml`` at once.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.brand import PROJECT_ROOT, load_brand
from bot.contract import HandoverReason
from bot.evaluation import shipped_threshold
from bot.privacy import Kind, find_personal_data
from bot.review import sources
from bot.review.groups import group_near_duplicates
from bot.review.nludata import NLU_FILE, NluFile
from bot.review.redaction import (
    ANNOTATION,
    PLACEHOLDER_OF,
    SURROGATES,
    plain_text,
    redact_for_training,
)
from bot.store.db import reading, reads_beside
from bot.store.models import (
    AuditEvent,
    Author,
    Message,
    ReviewItem,
    ReviewSource,
    ReviewStatus,
    Ticket,
)
from bot.store.records import move_cursor, read_cursor, utcnow

#: Handovers a trainer can learn nothing from: the bot never saw the message (the
#: assistant was down, or the gateway answered text it could not take).
UNLEARNABLE_REASONS = frozenset(
    {HandoverReason.BOT_UNAVAILABLE.value, HandoverReason.UNREADABLE.value}
)
TICKETS_CURSOR = ("review", "tickets")
CURSOR_SETTLE = timedelta(minutes=5)
_SURROGATE_VALUES = {value for values in SURROGATES.values() for value in values}
# Serialises writes of the data file within a process (the page serves requests in threads).
_FILE_LOCK = threading.Lock()


def domain_entities(domain: Path = PROJECT_ROOT / "domain.yml") -> list[str]:
    """The entities an example may annotate: those the domain declares."""
    loaded = yaml.safe_load(domain.read_text(encoding="utf-8")) or {}
    return [str(e if isinstance(e, str) else next(iter(e))) for e in loaded.get("entities") or []]


class ReviewError(ValueError):
    """A decision the inbox refuses, with a reason a trainer can act on."""


@dataclass(frozen=True)
class ItemView:
    """One inbox item as the command line and the page show it."""

    id: int
    source: str
    text: str
    message_id: int
    predicted_intent: str | None
    confidence: float | None
    suggested_intent: str | None  # an agent's relabel
    reason: str | None
    channel: str
    conversation_id: int
    status: str
    created_at: str
    in_training_data: str | None = None  # the intent of an equal example in data/nlu.yml
    removed: tuple[str, ...] = ()

    @property
    def proposed_intent(self) -> str | None:
        """The intent to approve with unless the trainer says otherwise."""
        return self.suggested_intent or self.predicted_intent

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "removed": list(self.removed), "proposed": self.proposed_intent}


@dataclass(frozen=True)
class Group:
    """Pending items that say (nearly) the same thing; the first is the representative."""

    items: list[ItemView] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"size": len(self.items), "items": [i.as_json() for i in self.items]}


@dataclass(frozen=True)
class Decision:
    """What an approval or a discard did."""

    item_id: int
    status: str
    intent: str | None = None
    text: str | None = None
    written: bool = False  # False when data/nlu.yml already had the example
    already_under: str | None = None  # then: the intent the file has it under


@dataclass(frozen=True)
class Filed:
    """Approved texts as the NLU file took them (:meth:`ReviewInbox.file_approved`)."""

    intent: str
    examples: list[str]  # each approved text with its spaces folded, in the order given
    written: list[str]  # the examples added to the file
    already: dict[str, str]  # the ones it had, with the intent it has each under

    def decision(self, item_id: int) -> Decision:
        """The decision on one item approved alone."""
        [example] = self.examples
        return Decision(
            item_id,
            ReviewStatus.APPROVED.value,
            self.intent,
            example,
            bool(self.written),
            self.already.get(example),
        )


class ReviewInbox:
    """Reads and decides review items; writes approved examples into the NLU file.

    Decisions go through ``sessions``; reads through read-only sessions (``reads``, by
    default on the same engine), which on SQLite take no write lock. Each read takes
    the caller's session if given one: a page of the inbox is one session.
    """

    def __init__(
        self,
        sessions: sessionmaker,
        threshold: float | None = None,
        nlu_file: Path = NLU_FILE,
        entities: Iterable[str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        reads: sessionmaker | None = None,
    ) -> None:
        self.sessions = sessions
        self.reads = reads or reads_beside(sessions)
        # The shipped fallback threshold unless told otherwise: under it the
        # bot itself was unsure.
        self.threshold = threshold if threshold is not None else shipped_threshold()
        self.nlu_file = nlu_file
        self.entities = frozenset(entities if entities is not None else domain_entities())
        self.clock = clock
        self._read: tuple[tuple[int, int], NluFile] | None = None
        self._clusters: dict[int, int] | None = None  # item id -> its group, last grouped

    def _nlu(self) -> NluFile:
        """The NLU file for reading, loaded again only when it changed (a load takes ~1 s)."""
        stat = self.nlu_file.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        if self._read is None or self._read[0] != key:
            self._read = (key, NluFile(self.nlu_file))
        return self._read[1]

    # -- filling the inbox ---------------------------------------------------

    def collect(self) -> int:
        """Adds what the sources find (bot/review/sources.py); returns how many items."""
        with self.sessions.begin() as session:
            added = 0
            for message in sources.low_confidence(session, self.threshold):
                session.add(self._item(message, ReviewSource.LOW_CONFIDENCE))
                added += 1
            added += self._collect_handovers(session)
            for message, said in sources.contradicted(session, self.threshold):
                session.add(self._item(message, ReviewSource.CONTRADICTED, reason=said))
                added += 1
        return added

    def _collect_handovers(self, session: Session) -> int:
        # A ticket is opened in the same transaction that records the message
        # behind it, so tickets past the cursor are all there is to look at.
        # With several gateway workers, a ticket with a lower id can commit
        # after a higher one: the cursor only passes tickets old enough that
        # no such transaction can still be open.
        seen = int(read_cursor(session, *TICKETS_CURSOR) or 0)
        tickets = session.scalars(select(Ticket).where(Ticket.id > seen).order_by(Ticket.id)).all()
        added = 0
        for ticket in tickets:
            if ticket.reason in UNLEARNABLE_REASONS:
                continue
            message = sources.message_behind(session, ticket)
            if message is None or sources.has_item(session, message.id, ReviewSource.HANDOVER):
                continue
            session.add(self._item(message, ReviewSource.HANDOVER, reason=ticket.reason))
            added += 1
        settled = self.clock() - CURSOR_SETTLE
        done = list(itertools.takewhile(lambda t: t.created_at <= settled, tickets))
        if done:
            move_cursor(session, *TICKETS_CURSOR, str(done[-1].id), self.clock())
        return added

    def add_relabel(self, message_id: int, intent: str, agent: str) -> int:
        """An agent says the bot understood ``message_id`` wrong; it is ``intent``."""
        if intent not in self.known_intents():
            raise ReviewError(f"unknown intent {intent!r}")
        with self.sessions.begin() as session:
            message = session.get(Message, message_id)
            if message is None or message.author != Author.CUSTOMER:
                raise ReviewError(f"no customer message {message_id}")
            item = session.scalars(
                select(ReviewItem).where(
                    ReviewItem.message_id == message_id,
                    ReviewItem.source == ReviewSource.RELABELLED,
                )
            ).first()
            if item is None:
                item = self._item(message, ReviewSource.RELABELLED)
                session.add(item)
            # A second agent's relabel of the same message replaces the first.
            item.suggested_intent, item.suggested_by = intent, agent
            if item.status != ReviewStatus.APPROVED:
                item.status = ReviewStatus.PENDING
            session.flush()
            _audit(session, agent, "relabel", message, {"intent": intent, "was": message.intent})
            return int(item.id)

    def _item(
        self, message: Message, source: ReviewSource, reason: str | None = None
    ) -> ReviewItem:
        redacted = redact_for_training(message.text or "")
        return ReviewItem(
            message_id=message.id,
            conversation_id=message.conversation_id,
            channel=message.channel,
            source=source,
            text=redacted.text,
            removed=list(redacted.removed),
            predicted_intent=message.intent,
            confidence=message.confidence,
            reason=reason,
            status=ReviewStatus.PENDING,
            created_at=self.clock(),
        )

    # -- reading ---------------------------------------------------------------

    def items(
        self, status: ReviewStatus | None = ReviewStatus.PENDING, session: Session | None = None
    ) -> list[ItemView]:
        """Items (pending by default), oldest first, each checked against the NLU file."""
        nlu = self._nlu()
        query = select(ReviewItem).order_by(ReviewItem.id)
        if status is not None:
            query = query.where(ReviewItem.status == status)
        with reading(self.reads, session) as read:
            rows = read.scalars(query).all()
            return [_view(row, nlu) for row in rows]

    def groups(self, session: Session | None = None) -> list[Group]:
        """Pending items grouped with their near-duplicates, biggest groups first."""
        items = [i for i in self.items(session=session) if i.text.strip()]
        by_id = {i.id: i for i in items}
        known = self._clusters
        if known is None or not by_id.keys() <= known.keys():
            # New items: group them all again (seconds for 10,000). Otherwise the
            # items were only decided, and the groups they leave stay as they were.
            clusters = group_near_duplicates([plain_text(i.text) for i in items])
            known = {items[i].id: n for n, cluster in enumerate(clusters) for i in cluster}
            self._clusters = known
        grouped: dict[int, list[ItemView]] = {}
        for item in items:
            grouped.setdefault(known[item.id], []).append(item)
        groups = [Group(members) for members in grouped.values()]
        return sorted(groups, key=lambda g: (-len(g.items), g.items[0].id))

    def pending(self, session: Session | None = None) -> int:
        """How many items wait for a decision (counted, not loaded)."""
        with reading(self.reads, session) as read:
            query = select(func.count()).where(ReviewItem.status == ReviewStatus.PENDING)
            return int(read.scalar(query) or 0)

    def threads(
        self, items: Iterable[ItemView], session: Session | None = None
    ) -> dict[int, dict[str, str | None]]:
        """The thread around each item's message (its reply, the customer's next message)."""
        shown = list(items)
        with reading(self.reads, session) as read:
            found = sources.threads_around(read, [i.message_id for i in shown])
        return {i.id: found[i.message_id] for i in shown}

    def known_intents(self) -> list[str]:
        """Intents an example can be filed under: those the NLU file has examples for."""
        return self._nlu().intents()

    # -- deciding --------------------------------------------------------------

    def approve(
        self, item_id: int, trainer: str, intent: str | None = None, text: str | None = None
    ) -> Decision:
        """Files the item under ``intent`` (default: the proposed one) in the NLU file."""
        with self.sessions.begin() as session:
            item = self._pending(session, item_id)
            filed = self.file_approved(
                intent or item.suggested_intent or item.predicted_intent,
                [text if text is not None else item.text],
            )
            item.status, item.final_intent = ReviewStatus.APPROVED, filed.intent
            item.final_text = filed.examples[0]
            item.decided_by, item.decided_at = trainer, self.clock()
            return filed.decision(item_id)

    def file_approved(self, intent: str | None, texts: list[str]) -> Filed:
        """What approving does, in this inbox and the imported posts'
        (bot/review/imported.py): checks ``intent`` and each text (spaces folded), then
        writes those the NLU file does not have yet. Raises :class:`ReviewError`, having
        written nothing, when one is refused."""
        chosen = self._check_intent(intent)
        examples = [" ".join(text.split()) for text in texts]
        for example in examples:
            self._check_example(example)
        written, already = self._file_examples(chosen, list(dict.fromkeys(examples)))
        return Filed(chosen, examples, written, already)

    def _check_intent(self, chosen: str | None) -> str:
        """``chosen`` if examples can be filed under it; a retrieval intent needs its
        sub-intent (``product_question/wifi``), and the refusal lists them."""
        known = self.known_intents()
        if chosen and chosen in known:
            return chosen
        subs = [name for name in known if chosen and name.startswith(f"{chosen}/")]
        if subs:
            raise ReviewError(f"choose which {chosen}: {', '.join(subs)}")
        raise ReviewError(f"choose a known intent (got {chosen!r})")

    def _file_examples(self, intent: str, examples: list[str]) -> tuple[list[str], dict[str, str]]:
        """Writes ``examples`` under ``intent``; returns those written, and for those the
        file already had, the intent it has them under (which may be another)."""
        with _FILE_LOCK:
            nlu = self._nlu()
            already = {}
            for example in examples:
                known = nlu.find(example)
                if known is not None:
                    already[example] = known.intent
            written = nlu.add(intent, [e for e in examples if e not in already])
            if written:
                nlu.save()
                # What was just written is what is loaded: no second load of the file.
                stat = self.nlu_file.stat()
                self._read = ((stat.st_mtime_ns, stat.st_size), nlu)
            return written, already

    def discard(self, item_id: int, trainer: str) -> Decision:
        """Drops the item: nothing to learn from it."""
        with self.sessions.begin() as session:
            item = self._pending(session, item_id)
            item.status, item.decided_by, item.decided_at = (
                ReviewStatus.DISCARDED,
                trainer,
                self.clock(),
            )
            return Decision(item_id, item.status.value)

    @staticmethod
    def _pending(session: Session, item_id: int) -> ReviewItem:
        item = session.get(ReviewItem, item_id)
        if item is None:
            raise ReviewError(f"no review item {item_id}")
        if item.status != ReviewStatus.PENDING:
            raise ReviewError(f"item {item_id} is already {item.status.value}")
        return item

    def _check_example(self, example: str) -> None:
        """Refuses an example that is empty, badly annotated or still carries personal data."""
        if not plain_text(example).strip():
            raise ReviewError("the example is empty")
        if example.count("[") != example.count("]"):
            raise ReviewError("unbalanced [ ] in the example; annotate as [value](entity)")
        for match in ANNOTATION.finditer(example):
            if match.group(2) not in self.entities:
                known = ", ".join(sorted(self.entities))
                raise ReviewError(f"unknown entity {match.group(2)!r} (known: {known})")
        left = [
            f.kind.value
            for f in find_personal_data(plain_text(example))
            if f.text not in _SURROGATE_VALUES and not _is_placeholder(f.kind, f.text)
        ]
        if left:
            raise ReviewError(f"the example still carries personal data: {', '.join(left)}")


def _is_placeholder(kind: Kind, text: str) -> bool:
    brand = f"@{load_brand().twitter_handle}".lower()
    return kind == Kind.HANDLE and text.lower() in {PLACEHOLDER_OF[Kind.HANDLE], brand}


def _audit(
    session: Session, actor: str, action: str, message: Message, details: dict[str, Any]
) -> None:
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=actor,
            action=action,
            conversation_id=message.conversation_id,
            details={"message_id": message.id, **details},
        )
    )


def _view(row: ReviewItem, nlu: NluFile) -> ItemView:
    known = nlu.find(row.text)
    return ItemView(
        id=int(row.id),
        source=row.source.value,
        text=row.text,
        message_id=int(row.message_id),
        predicted_intent=row.predicted_intent,
        confidence=row.confidence,
        suggested_intent=row.suggested_intent,
        reason=row.reason,
        channel=row.channel,
        conversation_id=int(row.conversation_id),
        status=row.status.value,
        created_at=row.created_at.isoformat(timespec="seconds"),
        in_training_data=known.intent if known else None,
        removed=tuple(row.removed or ()),
    )
