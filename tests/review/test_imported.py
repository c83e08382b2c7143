"""Approving imported archive posts (bot/review/imported.py): the live inbox's checks and
writing (``ReviewInbox.file_approved``), for one post and for a group at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.review.imported import Filters, ImportedInbox, Seen
from bot.review.inbox import ReviewError, ReviewInbox
from bot.review.nludata import NluFile
from bot.store.models import ArchivePost, ReviewStatus
from tests.review.conftest import store_posts

GROUP = 1


@pytest.fixture
def posts(sessions: sessionmaker, inbox: ReviewInbox, nlu_copy: Path) -> dict[str, int]:
    """One group of imported posts: its centre, a member the NLU file already has, a
    near-duplicate of the centre, an outlier; and a post of its own. Their ids by name."""
    known = next(NluFile(nlu_copy).examples())
    texts = {
        "centre": "my bag never came off the belt at JFK",
        "known": known.text,
        "copy": "my bag never came off the belt at JFK!!",
        "outlier": "what a lovely crew on the way out",
        "alone": "can I pay for seats with miles",
    }
    ids = store_posts(
        sessions,
        {
            name: (text, None if name == "alone" else GROUP, name == "outlier")
            for name, text in texts.items()
        },
    )
    with sessions.begin() as session:
        session.get(ArchivePost, ids["copy"]).near_duplicate_of = ids["centre"]
    return ids


def _statuses(sessions: sessionmaker) -> dict[str, str]:
    with sessions() as session:
        return {p.source_key: p.status.value for p in session.scalars(select(ArchivePost)).all()}


def test_a_group_is_filed_once_with_what_the_file_already_had_counted(
    sessions: sessionmaker, inbox: ReviewInbox, nlu_copy: Path, posts: dict[str, int]
) -> None:
    imported = ImportedInbox(sessions, inbox)
    decision = imported.approve_group(GROUP, "trainer", "baggage_issue")
    # The centre and the known member; the near-duplicate follows the centre, unwritten.
    assert (decision.decided, decision.written, decision.already) == (3, 1, 1)
    texts = [e.text for e in NluFile(nlu_copy).examples() if e.intent == "baggage_issue"]
    assert "my bag never came off the belt at JFK" in texts
    assert "my bag never came off the belt at JFK!!" not in texts
    assert _statuses(sessions) == {
        "centre": "approved",
        "known": "approved",
        "copy": "approved",
        "outlier": "pending",
        "alone": "pending",
    }


@pytest.mark.parametrize(
    ("intent", "text", "why"),
    [
        ("baggage_issue", "call me on +44 7700 900123", "personal data: phone"),
        ("baggage_issue", "bag [881](flight_nr) lost", "unknown entity 'flight_nr'"),
        ("lost_luggage", None, "known intent"),
        ("product_question", None, "choose which product_question: product_question/"),
    ],
)
def test_imported_posts_are_refused_as_the_live_inbox_refuses(
    sessions: sessionmaker,
    inbox: ReviewInbox,
    nlu_copy: Path,
    posts: dict[str, int],
    intent: str,
    text: str | None,
    why: str,
) -> None:
    imported = ImportedInbox(sessions, inbox)
    before = nlu_copy.read_text(encoding="utf-8")
    with pytest.raises(ReviewError, match=why):
        imported.approve(posts["alone"], "trainer", intent=intent, text=text)
    if text is None:
        with pytest.raises(ReviewError, match=why):
            imported.approve_group(GROUP, "trainer", intent)
    assert nlu_copy.read_text(encoding="utf-8") == before
    assert set(_statuses(sessions).values()) == {ReviewStatus.PENDING.value}


def test_one_post_approved_with_its_text_edited(
    sessions: sessionmaker, inbox: ReviewInbox, nlu_copy: Path, posts: dict[str, int]
) -> None:
    imported = ImportedInbox(sessions, inbox)
    edited = "can I pay for  seats with [miles](payment)"
    with pytest.raises(ReviewError, match="unknown entity 'payment'"):
        imported.approve(posts["alone"], "trainer", "product_question/loyalty", edited)
    decision = imported.approve(
        posts["alone"], "trainer", "product_question/loyalty", "can I pay for  seats with miles"
    )
    assert (decision.status, decision.intent, decision.written) == (
        "approved",
        "product_question/loyalty",
        True,
    )
    assert decision.text == "can I pay for seats with miles"  # spaces folded
    with sessions() as session:
        post = session.get(ArchivePost, posts["alone"])
        assert (post.final_text, post.final_intent) == (decision.text, decision.intent)
    with pytest.raises(ReviewError, match="already approved"):
        imported.discard(posts["alone"], "trainer")


def test_a_group_action_applies_only_to_the_group_the_page_showed(
    sessions: sessionmaker, inbox: ReviewInbox, nlu_copy: Path, posts: dict[str, int]
) -> None:
    imported = ImportedInbox(sessions, inbox)
    [shown] = imported.page()["groups"][:1]
    seen = Seen(shown["members"], tuple(i["id"] for i in shown["items"]))
    assert shown["group_id"] == GROUP and seen.members == 2  # the centre and the known one
    with sessions.begin() as session:  # regrouped: the known post now has a group of its own
        session.get(ArchivePost, posts["known"]).group_id = posts["known"]
    before = nlu_copy.read_text(encoding="utf-8")
    with pytest.raises(ReviewError, match="reload the page"):
        imported.approve_group(GROUP, "trainer", "baggage_issue", seen)
    with pytest.raises(ReviewError, match="reload the page"):
        imported.discard_group(GROUP, "trainer", seen)
    assert nlu_copy.read_text(encoding="utf-8") == before
    assert set(_statuses(sessions).values()) == {ReviewStatus.PENDING.value}
    # A member decided on its own since only shrinks the group: still the same one.
    imported.discard(posts["known"], "trainer")
    assert imported.approve_group(GROUP, "trainer", "baggage_issue", seen).decided == 2


def test_a_groups_counts_add_up_whatever_the_filters_show(
    sessions: sessionmaker, inbox: ReviewInbox, posts: dict[str, int]
) -> None:
    """The page's title says the group's posts and messages, and its button the posts the
    action covers: with a filter that shows only the centre, the numbers stay the group's
    (before, the title counted the copies of the members the filter let through, so
    "1 message" stood over "Approve all 2")."""
    with sessions.begin() as session:
        for name, post_id in posts.items():
            post = session.get(ArchivePost, post_id)
            post.intent = "baggage_issue" if name == "centre" else "complaint"
        session.get(ArchivePost, posts["centre"]).copies = 3
    imported = ImportedInbox(sessions, inbox)
    for filters in (Filters(), Filters(intent="baggage_issue")):
        [group] = [g for g in imported.page(filters=filters)["groups"] if g["group_id"] == GROUP]
        # centre (3 copies), known, outlier; the near-duplicate follows the centre, unshown
        assert (group["posts"], group["messages"], group["members"]) == (3, 5, 2)
    assert [i["id"] for i in group["items"]] == [posts["centre"]]
    assert group["size"] == 3  # what the filter let through, copies counted
