"""Imported archive posts as the review page and the command line decide them.

Posts come a page of groups at a time (groups in the review order, see
bot/review/meaning.py), filtered by the model's intent and confidence, so the
page stays fast with 100,000 posts. A group is decided at once: approving
files every member that is not an outlier (outliers are decided one by one);
near-duplicates follow the post they repeat and are never written themselves.
The checks and the writing into data/nlu.yml are the live inbox's
(:meth:`~bot.review.inbox.ReviewInbox.file_approved`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.review.inbox import Decision, ReviewError, ReviewInbox
from bot.store.db import reading
from bot.store.models import ArchivePost, ReviewStatus

PER_PAGE = 20
#: Members shown of a large group (the group's action covers all of them).
SHOWN = 8


@dataclass(frozen=True)
class Filters:
    """What the trainer narrowed the list to."""

    intent: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None


@dataclass(frozen=True)
class Seen:
    """A group as the trainer's page showed it: a group action applies only to that group.
    An import regroups pending posts (its model's pass ends in groups by meaning; a second
    archive joins the first's groups), and a group's id is its centre's, which may be a
    centre again with other members."""

    members: int  # members the page said the action covers
    shown: tuple[int, ...]  # the posts it showed


@dataclass(frozen=True)
class GroupDecision:
    group_id: int
    status: str
    intent: str | None
    decided: int  # posts decided, near-duplicates included
    written: int  # examples added to the NLU file
    already: int  # examples the file already had


def post_json(post: ArchivePost) -> dict[str, Any]:
    return {
        "id": int(post.id),
        "source": "imported",
        "text": post.text,
        "predicted_intent": post.intent,
        "confidence": post.confidence,
        "runner_up": post.runner_up,
        "runner_up_confidence": post.runner_up_confidence,
        "proposed": post.intent,
        "copies": int(post.copies),
        "removed": list(post.removed or ()),
        "reply": post.reply,
        "next_post": post.next_post,
        "outlier": bool(post.outlier),
        "centre": bool(post.centre),
    }


@dataclass(frozen=True)
class Counts:
    """What a group holds now, whatever the filters: the posts its action covers, all its
    pending posts (outliers too), and those posts with their exact copies."""

    covered: int = 0
    posts: int = 0
    messages: int = 0


def _group(group_id: int, members: list[ArchivePost], counts: Counts) -> dict[str, Any]:
    """A group as the page shows it: its shown members (those the filters let through),
    its outliers apart, and its :class:`Counts` (the title and the action's button say
    them, so that their numbers add up whatever the filters show)."""
    inliers = [m for m in members if not m.outlier]
    outliers = [m for m in members if m.outlier]
    shown = inliers[:SHOWN]
    return {
        "key": f"imported-{group_id}",
        "group_id": group_id,
        "size": sum(int(m.copies) for m in members),
        "posts": counts.posts,
        "messages": counts.messages,
        "members": counts.covered,
        "items": [post_json(m) for m in shown],
        "hidden": max(0, counts.covered - len(shown)),
        "outliers": [post_json(m) for m in outliers[:SHOWN]],
    }


class ImportedInbox:
    """Reads and decides imported posts; files approved ones through ``inbox``. Reads go
    through the inbox's read-only sessions, or the caller's session (as the inbox's)."""

    def __init__(self, sessions: sessionmaker, inbox: ReviewInbox) -> None:
        self.sessions = sessions
        self.inbox = inbox
        self.reads = inbox.reads

    @staticmethod
    def _shown() -> Any:
        return (ArchivePost.status == ReviewStatus.PENDING) & ArchivePost.near_duplicate_of.is_(
            None
        )

    def _covered(self) -> Any:
        """The posts a group action decides: pending, shown, not set apart as outliers."""
        return self._shown() & ArchivePost.outlier.is_(False)

    def _where(self, filters: Filters) -> list[Any]:
        where = [self._shown(), ArchivePost.group_id.is_not(None)]
        if filters.intent:
            where.append(
                or_(
                    ArchivePost.intent == filters.intent,
                    ArchivePost.intent.startswith(f"{filters.intent}/"),
                )
            )
        if filters.min_confidence is not None:
            where.append(ArchivePost.confidence >= filters.min_confidence)
        if filters.max_confidence is not None:
            where.append(ArchivePost.confidence <= filters.max_confidence)
        return where

    def page(
        self,
        number: int = 0,
        filters: Filters = Filters(),
        per_page: int = PER_PAGE,
        session: Session | None = None,
    ) -> dict[str, Any]:
        """One page of groups (each with its shown members and its outliers apart): four
        statements whatever the page holds."""
        where = self._where(filters)
        with reading(self.reads, session) as read:
            total = read.scalar(
                select(func.count(func.distinct(ArchivePost.group_id))).where(*where)
            )
            groups = [
                int(g.group_id)
                for g in read.execute(
                    select(ArchivePost.group_id, func.min(ArchivePost.priority).label("first"))
                    .where(*where)
                    .group_by(ArchivePost.group_id)
                    .order_by("first", ArchivePost.group_id)
                    .offset(number * per_page)
                    .limit(per_page)
                )
            ]
            members: dict[int, list[ArchivePost]] = {g: [] for g in groups}
            for post in read.scalars(
                select(ArchivePost)
                .where(ArchivePost.group_id.in_(groups), *where)
                .order_by(ArchivePost.centre.desc(), ArchivePost.id)
            ):
                members[int(post.group_id)].append(post)
            counts = {
                int(row.group_id): Counts(int(row.covered), int(row.posts), int(row.messages))
                for row in read.execute(
                    select(
                        ArchivePost.group_id,
                        func.sum(case((self._covered(), 1), else_=0)).label("covered"),
                        func.count().label("posts"),
                        func.sum(ArchivePost.copies).label("messages"),
                    )
                    .where(ArchivePost.group_id.in_(groups), self._shown())
                    .group_by(ArchivePost.group_id)
                )
            }
            return {
                "groups": [_group(g, members[g], counts.get(g, Counts())) for g in groups],
                "page": number,
                "pages": max(1, -(-int(total or 0) // per_page)),
                "total_groups": int(total or 0),
            }

    def pending(self, session: Session | None = None) -> int:
        """How many posts wait for a decision (near-duplicates follow theirs)."""
        with reading(self.reads, session) as read:
            return int(read.scalar(select(func.count()).where(self._shown())) or 0)

    def awaiting_model(self, session: Session | None = None) -> int:
        """Posts on the page that the model has not read yet: an import still running (or
        stopped) shows them in its preview's groups, by wording, without a suggestion."""
        with reading(self.reads, session) as read:
            return int(
                read.scalar(
                    select(func.count()).where(
                        self._shown(),
                        ArchivePost.group_id.is_not(None),
                        ArchivePost.vector.is_(None),
                    )
                )
                or 0
            )

    # -- deciding --------------------------------------------------------------

    def approve(
        self, post_id: int, trainer: str, intent: str | None = None, text: str | None = None
    ) -> Decision:
        with self.sessions.begin() as session:
            post = self._pending(session, post_id)
            filed = self.inbox.file_approved(
                intent or post.intent, [text if text is not None else post.text]
            )
            self._decide(
                session,
                [post],
                ReviewStatus.APPROVED,
                trainer,
                filed.intent,
                {post.id: filed.examples[0]},
            )
            return filed.decision(post_id)

    def discard(self, post_id: int, trainer: str) -> Decision:
        with self.sessions.begin() as session:
            post = self._pending(session, post_id)
            self._decide(session, [post], ReviewStatus.DISCARDED, trainer)
            return Decision(post_id, "discarded")

    def approve_group(
        self, group_id: int, trainer: str, intent: str, seen: Seen | None = None
    ) -> GroupDecision:
        """Files every pending member that is not an outlier under ``intent`` (refused if
        the group is no longer the one ``seen``)."""
        with self.sessions.begin() as session:
            members = self._members(session, group_id, seen)
            filed = self.inbox.file_approved(intent, [m.text for m in members])
            examples = {int(m.id): e for m, e in zip(members, filed.examples, strict=True)}
            decided = self._decide(
                session, members, ReviewStatus.APPROVED, trainer, filed.intent, examples
            )
            return GroupDecision(
                group_id, "approved", filed.intent, decided, len(filed.written), len(filed.already)
            )

    def discard_group(self, group_id: int, trainer: str, seen: Seen | None = None) -> GroupDecision:
        with self.sessions.begin() as session:
            members = self._members(session, group_id, seen)
            decided = self._decide(session, members, ReviewStatus.DISCARDED, trainer)
            return GroupDecision(group_id, "discarded", None, decided, 0, 0)

    def _members(self, session: Session, group_id: int, seen: Seen | None) -> list[ArchivePost]:
        members = session.scalars(
            select(ArchivePost).where(ArchivePost.group_id == group_id, self._covered())
        ).all()
        if not members:
            raise ReviewError(f"no pending group {group_id}")
        if seen is not None and self._changed(session, group_id, list(members), seen):
            raise ReviewError(
                "this group changed since the page showed it (an import regrouped the"
                " posts): reload the page"
            )
        return list(members)

    def _changed(
        self, session: Session, group_id: int, members: list[ArchivePost], seen: Seen
    ) -> bool:
        """Decisions only shrink a group; a larger one, or a shown post that is still
        pending in another group, means the posts were regrouped."""
        if len(members) > seen.members:
            return True
        moved = session.scalar(
            select(func.count()).where(
                ArchivePost.id.in_(seen.shown),
                self._shown(),
                ArchivePost.group_id != group_id,
            )
        )
        return bool(moved)

    @staticmethod
    def _pending(session: Session, post_id: int) -> ArchivePost:
        post = session.get(ArchivePost, post_id)
        if post is None or post.near_duplicate_of is not None:
            raise ReviewError(f"no imported post {post_id}")
        if post.status != ReviewStatus.PENDING:
            raise ReviewError(f"post {post_id} is already {post.status.value}")
        return post

    def _decide(
        self,
        session: Session,
        posts: list[ArchivePost],
        status: ReviewStatus,
        trainer: str,
        intent: str | None = None,
        texts: dict[int, str] | None = None,
    ) -> int:
        when = self.inbox.clock()
        for post in posts:
            post.status, post.final_intent, post.decided_by, post.decided_at = (
                status,
                intent,
                trainer,
                when,
            )
            post.final_text = (texts or {}).get(int(post.id))
        ids = [int(p.id) for p in posts]
        # Near-duplicates follow the post they repeat (never written themselves).
        followers = session.execute(
            update(ArchivePost)
            .where(
                ArchivePost.near_duplicate_of.in_(ids),
                ArchivePost.status == ReviewStatus.PENDING,
            )
            .values(status=status, final_intent=intent, decided_by=trainer, decided_at=when)
            .execution_options(synchronize_session=False)
        )
        return len(posts) + int(followers.rowcount or 0)
