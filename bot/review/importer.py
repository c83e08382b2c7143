"""``python -m bot.review import FILE``: a brand's archive into the review inbox.

The stages, each resumable (an interrupted import, run again on the same
file, continues where it stopped and stores nothing twice):

1. **read**: the file's posts (bot/review/archives.py); only the customers'
   are kept, redacted as live items are (bot/review/redaction.py), with the
   thread around them (the brand's reply, the customer's next post). A post
   that is nothing but a value (a bare record locator: an answer to the
   brand's question) teaches no intent and is left out. Exact duplicates (the
   same words ignoring case, punctuation, handles and links) are counted on
   the post already stored. Committed every :data:`CHUNK` posts with the count
   read so far, which is where a second run starts.
2. **preview** (an import with the model): groups by wording (hashed
   character trigrams, no model: about a minute for 100,000 posts), so the
   review page has the posts in groups as soon as they are read, while the
   model reads them.
3. **suggest**: the model's intent, confidence and runner-up, and the sentence
   vector (bot/review/suggest.py), for pending posts without them, a batch at
   a time: the centres of the preview's largest groups first, each centre's
   margin putting its group in the review order at once. This is the long
   stage (the sentence encoder: about 20 ms a post on 2 cores); a trainer
   reviews the preview's groups meanwhile, and what they decide is not read.
4. **group** (bot/review/meaning.py): groups by meaning, near-duplicates,
   outliers and the review order, over every pending imported post.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from bot.review.archives import (
    DEFAULT_COLUMNS,
    Columns,
    Post,
    detect_format,
    read_archive,
    thread_context,
)
from bot.review.meaning import Placement, group_posts, priority
from bot.review.nludata import normalise
from bot.review.redaction import is_bare_value, plain_text, redact_for_training
from bot.review.suggest import Suggester, Thresholds, TrigramSuggester, margin
from bot.store.models import ArchiveImport, ArchivePost, ImportStage, ReviewStatus
from bot.store.records import utcnow

CHUNK = 1000
SUGGEST_BATCH = 256


@dataclass(frozen=True)
class ImportReport:
    """What an import did, for the terminal."""

    import_id: int
    read: int
    customers: int
    kept: int
    skipped: dict[str, int]
    groups: int
    resumed: bool


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as opened:
        for block in iter(lambda: opened.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_key(text: str) -> str:
    """The key exact duplicates share (see ``nludata.normalise``)."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def run_import(
    sessions: sessionmaker,
    path: Path,
    suggester: Callable[[], Suggester],
    thresholds: Thresholds,
    fmt: str | None = None,
    brand: Iterable[str] = (),
    columns: Columns = DEFAULT_COLUMNS,
    progress: bool = True,
    preview: bool = False,
) -> ImportReport:
    """Imports ``path`` (or continues its import); ``suggester`` is built only when needed,
    ``thresholds`` are its vectors' (``Suggester.thresholds``). With ``preview`` (an
    import with the model) the posts are grouped by wording before the model reads them."""
    fmt = fmt or detect_format(path)
    digest = fingerprint(path)
    with sessions.begin() as session:
        record = session.scalars(
            select(ArchiveImport).where(ArchiveImport.fingerprint == digest)
        ).first()
        resumed = record is not None
        if record is None:
            record = ArchiveImport(
                fingerprint=digest,
                name=path.name[:255],
                format=fmt,
                stage=ImportStage.READ,
                skipped={},
                started_at=utcnow(),
            )
            session.add(record)
            session.flush()
        import_id = int(record.id)
    posts = read_archive(path, fmt, brand, columns)
    _read(sessions, import_id, posts, progress)
    if preview:
        _preview(sessions, import_id, progress)
    _suggest(sessions, import_id, suggester, progress)
    groups = _group(sessions, thresholds, progress) if _has_work(sessions) else 0
    with sessions.begin() as session:
        record = session.get(ArchiveImport, import_id)
        record.stage, record.finished_at = ImportStage.DONE, record.finished_at or utcnow()
        return ImportReport(
            import_id,
            int(record.read),
            int(record.customers),
            int(record.kept),
            dict(record.skipped or {}),
            groups,
            resumed,
        )


def _read(sessions: sessionmaker, import_id: int, posts: list[Post], progress: bool) -> None:
    customers = [p for p in posts if not p.from_brand]
    context = thread_context(posts)
    with sessions() as session:
        record = session.get(ArchiveImport, import_id)
        done, stage = int(record.customers), record.stage
    if stage != ImportStage.READ:
        return
    bar = tqdm(total=len(customers), initial=done, desc="read", unit="post", disable=not progress)
    for start in range(done, len(customers), CHUNK):
        chunk = customers[start : start + CHUNK]
        with sessions.begin() as session:
            record = session.get(ArchiveImport, import_id)
            skipped = dict(record.skipped or {})
            kept = _store_chunk(session, import_id, chunk, context, skipped)
            record.kept += kept
            record.customers = start + len(chunk)
            record.skipped = skipped
        bar.update(len(chunk))
    bar.close()
    with sessions.begin() as session:
        record = session.get(ArchiveImport, import_id)
        record.read = len(posts)
        brand = len(posts) - len(customers)
        record.skipped = {**(record.skipped or {}), "brand": brand}
        record.stage = ImportStage.SUGGESTED


def _store_chunk(
    session: Session,
    import_id: int,
    chunk: list[Post],
    context: dict[str, Any],
    skipped: dict[str, int],
) -> int:
    fresh: dict[str, dict[str, Any]] = {}
    rows = []
    for post in chunk:
        redacted = redact_for_training(post.text)
        if is_bare_value(redacted.text):
            skipped["bare value"] = skipped.get("bare value", 0) + 1
            continue
        rows.append((post, redacted, text_key(redacted.text), context.get(post.key)))
    keys = [key for _, _, key, _ in rows]
    known = {
        row.text_key: row
        for row in session.scalars(select(ArchivePost).where(ArchivePost.text_key.in_(keys)))
    }
    for post, redacted, key, around in rows:
        if key in known or key in fresh:
            if key in known:
                known[key].copies += 1
            else:
                fresh[key]["copies"] += 1
            skipped["duplicate"] = skipped.get("duplicate", 0) + 1
            continue
        fresh[key] = {
            "import_id": import_id,
            "source_key": post.key[:64],
            "posted_at": (post.at or "")[:40] or None,
            "text": redacted.text,
            "removed": list(redacted.removed),
            "text_key": key,
            "copies": 1,
            "reply": _redacted(around.reply if around else None),
            "next_post": _redacted(around.next_post if around else None),
            "status": ReviewStatus.PENDING,
            "centre": False,
            "outlier": False,
        }
    if fresh:
        # One executemany: the ORM would insert row by row to learn each id.
        session.execute(insert(ArchivePost), list(fresh.values()))
    return len(fresh)


def _redacted(text: str | None) -> str | None:
    return redact_for_training(text).plain if text else None


def _preview(sessions: sessionmaker, import_id: int, progress: bool) -> None:
    """Groups by wording the posts that have neither a vector nor a group yet (all of an
    import's posts, once: it commits in one transaction)."""
    with sessions() as session:
        rows = session.execute(
            select(ArchivePost.id, ArchivePost.text, ArchivePost.copies)
            .where(
                ArchivePost.import_id == import_id,
                ArchivePost.vector.is_(None),
                ArchivePost.group_id.is_(None),
                ArchivePost.status == ReviewStatus.PENDING,
            )
            .order_by(ArchivePost.id)
        ).all()
    if not rows:
        return
    wording = TrigramSuggester()
    placed = group_posts(
        wording.vectors([plain_text(r.text) for r in rows]),
        np.ones(len(rows), dtype=np.float32),  # no margins yet: large groups first
        [None] * len(rows),
        [int(r.copies) for r in rows],
        wording.thresholds,
        progress=progress,
        label="group by wording",
    )
    _place(sessions, [int(r.id) for r in rows], placed)


def _suggest(
    sessions: sessionmaker, import_id: int, suggester: Callable[[], Suggester], progress: bool
) -> None:
    with sessions() as session:
        # The page's order: a preview group's centre first, the largest groups first.
        todo = session.scalars(
            select(ArchivePost.id)
            .where(
                ArchivePost.import_id == import_id,
                ArchivePost.vector.is_(None),
                ArchivePost.status == ReviewStatus.PENDING,
            )
            .order_by(
                ArchivePost.centre.desc(),
                func.coalesce(ArchivePost.group_size, 0).desc(),
                ArchivePost.id,
            )
        ).all()
    if todo:
        model = suggester()
        bar = tqdm(total=len(todo), desc="suggest", unit="post", disable=not progress)
        for start in range(0, len(todo), SUGGEST_BATCH):
            with sessions.begin() as session:
                rows = session.scalars(
                    select(ArchivePost).where(
                        ArchivePost.id.in_(todo[start : start + SUGGEST_BATCH])
                    )
                ).all()
                found = model.suggest([plain_text(row.text) for row in rows])
                for row, suggestion in zip(rows, found, strict=True):
                    row.intent, row.confidence = suggestion.intent, suggestion.confidence
                    row.runner_up = suggestion.runner_up
                    row.runner_up_confidence = suggestion.runner_up_confidence
                    row.vector = suggestion.vector.astype(np.float16).tobytes()
                    if row.centre and row.group_id == row.id:
                        _order_preview_group(session, row, suggestion.margin)
            bar.update(len(rows))
        bar.close()
    with sessions.begin() as session:
        session.execute(
            update(ArchiveImport)
            .where(ArchiveImport.id == import_id)
            .values(stage=ImportStage.GROUPED)
        )


def _order_preview_group(session: Session, centre: ArchivePost, centre_margin: float) -> None:
    """A preview group takes its place in the review order from its centre's margin."""
    session.execute(
        update(ArchivePost)
        .where(ArchivePost.group_id == centre.id, ArchivePost.status == ReviewStatus.PENDING)
        .values(priority=priority(centre_margin, int(centre.group_size or 1)))
    )


def _has_work(sessions: sessionmaker) -> bool:
    with sessions() as session:
        return (
            session.scalars(
                select(ArchivePost.id).where(ArchivePost.status == ReviewStatus.PENDING).limit(1)
            ).first()
            is not None
        )


def _group(sessions: sessionmaker, thresholds: Thresholds, progress: bool) -> int:
    """Groups every pending imported post anew (a second import joins the first's groups)."""
    with sessions() as session:
        rows = session.execute(
            select(
                ArchivePost.id,
                ArchivePost.vector,
                ArchivePost.confidence,
                ArchivePost.runner_up_confidence,
                ArchivePost.intent,
                ArchivePost.copies,
            )
            .where(ArchivePost.status == ReviewStatus.PENDING, ArchivePost.vector.is_not(None))
            .order_by(ArchivePost.id)
        ).all()
    vectors = np.stack([np.frombuffer(r.vector, dtype=np.float16) for r in rows]).astype(np.float32)
    margins = np.array([margin(r.confidence, r.runner_up_confidence) for r in rows], np.float32)
    placed = group_posts(
        vectors,
        margins,
        [r.intent for r in rows],
        [int(r.copies) for r in rows],
        thresholds,
        progress=progress,
    )
    _place(sessions, [int(r.id) for r in rows], placed)
    return len({p.centre for p in placed})


def _place(sessions: sessionmaker, ids: list[int], placed: list[Placement]) -> None:
    """Writes each post's group, role and place in the review order."""
    with sessions.begin() as session:
        session.bulk_update_mappings(
            ArchivePost,
            [
                {
                    "id": ids[i],
                    "group_id": ids[p.centre],
                    "group_size": p.size,
                    "centre": p.centre == i,
                    "outlier": p.outlier,
                    "near_duplicate_of": ids[p.near_duplicate_of]
                    if p.near_duplicate_of is not None
                    else None,
                    "priority": p.priority,
                }
                for i, p in enumerate(placed)
            ],
        )
