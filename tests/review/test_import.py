"""Importing a brand's archive: the four formats, customers only, redacted, deduplicated,
grouped, and resumable; with the model, grouped by wording first, while the model reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.review import importer
from bot.review.archives import ArchiveError, Columns, detect_format, read_archive
from bot.review.imported import ImportedInbox
from bot.review.importer import run_import
from bot.review.inbox import ReviewInbox
from bot.review.suggest import Suggestion, TrigramSuggester
from bot.store.models import ArchiveImport, ArchivePost, ImportStage

FIXTURES = Path(__file__).with_name("fixtures")
BRAND = ["NorthwindAir", "user999"]


def test_each_format_is_recognised_and_read_with_the_brands_posts_marked() -> None:
    assert [detect_format(FIXTURES / n) for n in ("tweets.js", "result.json")] == ["x", "telegram"]
    tweets = read_archive(FIXTURES / "tweets.js", brand=BRAND)
    assert [p.key for p in tweets if p.from_brand] == ["9002", "9008"]  # 9008: no author
    assert "tag NWXAB12345 & nobody" in tweets[0].text  # &amp; as the customer wrote it
    chat = read_archive(FIXTURES / "result.json", brand=BRAND)
    assert [p.key for p in chat] == ["1", "2", "3", "4", "6", "7"]  # the service message left out
    assert chat[3].text == "can I get a refund instead of a new flight?"  # text from entities
    assert [p.from_brand for p in chat] == [False, True, False, False, True, False]
    rows = read_archive(FIXTURES / "posts.csv", brand=["northwindair"])
    assert [p.key for p in rows] == ["c1", "c2", "c3", "c4", "c5", "c6"]  # the blank one left out
    with pytest.raises(ArchiveError, match="no 'body' column"):
        read_archive(FIXTURES / "posts.jsonl", columns=Columns(text="body"))


def test_a_file_that_is_none_of_them_is_refused(tmp_path: Path) -> None:
    odd = tmp_path / "notes.txt"
    odd.write_text("hello", encoding="utf-8")
    with pytest.raises(ArchiveError, match="not an X archive"):
        detect_format(odd)
    broken = tmp_path / "tweets.js"
    broken.write_text("window.YTD.tweets.part0 = [{", encoding="utf-8")
    with pytest.raises(ArchiveError, match=r"not X.s tweets\.js"):
        read_archive(broken)


def _import(sessions: sessionmaker, name: str, suggester: type = TrigramSuggester) -> object:
    return run_import(
        sessions,
        FIXTURES / name,
        suggester,
        TrigramSuggester.thresholds,
        brand=[*BRAND, "northwindair"],
        progress=False,
    )


def _posts(sessions: sessionmaker) -> list[ArchivePost]:
    with sessions() as session:
        return list(session.scalars(select(ArchivePost).order_by(ArchivePost.id)))


def test_customers_posts_are_kept_redacted_deduplicated_and_in_their_thread(
    sessions: sessionmaker,
) -> None:
    _import(sessions, "tweets.js")
    posts = {p.text: p for p in _posts(sessions)}
    lost = posts[
        "@NorthwindAir my suitcase never came off the belt at Lisbon,"
        " tag [NWXAB12345](baggage_ref) & nobody at the desk"
    ]
    assert lost.reply and lost.reply.startswith("@someone So sorry about your bag!")
    assert lost.next_post == "@NorthwindAir ABC123"  # shown as context, never an item
    assert not any("QX7K2P" in p.text or "ABC123" in p.text for p in posts.values())
    assert "@NorthwindAir can I change my flight to friday instead, email me at <email>" in posts
    oslo = posts["@NorthwindAir is NW 214 to Oslo leaving on time? board says nothing"]
    assert oslo.copies == 2  # "on time??" from another customer is the same post
    assert not any("spring timetable" in text for text in posts)  # the brand's own


def test_near_duplicates_share_a_group_and_unrelated_posts_do_not(sessions: sessionmaker) -> None:
    _import(sessions, "posts.csv")
    posts = {p.text: p for p in _posts(sessions)}
    rome = posts["how much is it to bring a second bag on a flight to Rome?"]
    again = posts["how much is a second bag on a flight to rome"]
    wifi = posts["do you have wifi on the plane to New York"]
    assert again.group_id == rome.group_id != wifi.group_id
    assert rome.group_size == 2 and rome.priority < wifi.priority  # the bigger group first


class _Interrupted(RuntimeError):
    pass


class _Failing(TrigramSuggester):
    def suggest(self, texts: list[str]) -> list:
        raise _Interrupted


def test_running_an_interrupted_import_again_continues_without_duplicates(
    sessions: sessionmaker,
) -> None:
    with pytest.raises(_Interrupted):
        _import(sessions, "result.json", _Failing)
    stored = _posts(sessions)
    assert len(stored) == 3 and all(p.vector is None for p in stored)
    report = _import(sessions, "result.json")
    assert report.resumed  # type: ignore[attr-defined]
    again = _posts(sessions)
    assert [p.id for p in again] == [p.id for p in stored]
    assert all(p.vector is not None and p.copies == 1 for p in again)
    _import(sessions, "result.json")
    assert len(_posts(sessions)) == 3
    with sessions() as session:
        [record] = session.scalars(select(ArchiveImport)).all()
        assert record.stage == ImportStage.DONE and record.skipped == {"bare value": 1, "brand": 2}


# -- an import with the model: groups by wording first, then the model's pass ----------

WIFI = [f"is there wifi on flight NW {n} to Oslo tomorrow" for n in (101, 202, 303, 404, 505)]
BAGS = [f"my suitcase never arrived in Rome after flight NW {n}" for n in (606, 707, 808)]
SINGLES = ["you lost my cat carrier", "thanks for the upgrade yesterday", "refund me now"]


def _archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive.csv"
    rows = ["id,author,text"] + [
        f"p{i},customer{i},{text}" for i, text in enumerate(SINGLES + BAGS + WIFI)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


class _Model(TrigramSuggester):
    """Stands in for the Rasa model (the import's side of it is under test): an intent by
    keyword, the bag posts doubtful, the wifi posts sure; records what it was asked."""

    asked: list[list[str]] = []
    stop_after: int | None = None

    def suggest(self, texts: list[str]) -> list:
        if self.stop_after is not None and len(self.asked) >= self.stop_after:
            raise _Interrupted
        self.asked.append(list(texts))
        found = []
        for text, plain in zip(texts, super().suggest(texts), strict=True):
            sure = 0.95 if "wifi" in text else 0.4
            intent = "product_question/wifi" if "wifi" in text else "baggage_issue"
            found.append(Suggestion(intent, sure, "complaint", 0.3, plain.vector))
        return found


def _model_import(sessions: sessionmaker, path: Path) -> object:
    return run_import(sessions, path, _Model, _Model.thresholds, progress=False, preview=True)


def test_a_model_import_shows_groups_by_wording_before_the_model_has_read_a_post(
    sessions: sessionmaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Model, "asked", [])
    monkeypatch.setattr(_Model, "stop_after", 0)  # the model's pass stops at once
    with pytest.raises(_Interrupted):
        _model_import(sessions, _archive(tmp_path))
    imported = ImportedInbox(sessions, ReviewInbox(sessions, threshold=0.4))
    page = imported.page()
    sizes = sorted(group["size"] for group in page["groups"])
    assert sizes == [1, 1, 1, 3, 5]  # the rewordings together, by wording alone
    assert page["groups"][0]["size"] == 5  # no margins yet: the largest group first
    assert imported.awaiting_model() == len(SINGLES + BAGS + WIFI)
    assert all(p.intent is None and p.vector is None for p in _posts(sessions))

    monkeypatch.setattr(_Model, "stop_after", None)
    _model_import(sessions, _archive(tmp_path))  # run again: it continues
    assert imported.awaiting_model() == 0
    assert all(p.intent is not None and p.vector is not None for p in _posts(sessions))
    with sessions() as session:
        [record] = session.scalars(select(ArchiveImport)).all()
        assert record.stage == ImportStage.DONE


def test_the_model_reads_the_largest_groups_centres_first_and_they_take_their_place(
    sessions: sessionmaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "SUGGEST_BATCH", 2)
    monkeypatch.setattr(_Model, "asked", [])
    monkeypatch.setattr(_Model, "stop_after", 1)  # one batch of two posts, then it stops
    with pytest.raises(_Interrupted):
        _model_import(sessions, _archive(tmp_path))
    [first] = _Model.asked
    assert {("wifi" in text) for text in first} == {True, False}  # one centre of each group
    assert not set(first) & set(SINGLES)
    page = ImportedInbox(sessions, ReviewInbox(sessions, threshold=0.4)).page()
    # The bag group's centre is doubtful (margin 0.1): it now comes before the larger,
    # sure wifi group (0.65), and both before the unread singles (margin 1 meanwhile).
    assert [g["size"] for g in page["groups"]] == [3, 5, 1, 1, 1]
    unread = [p for p in _posts(sessions) if p.vector is None]
    assert len(unread) == len(SINGLES + BAGS + WIFI) - 2
