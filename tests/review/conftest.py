"""A care store with stored conversations, a scratch copy of the NLU file, the review page
served, and headless Chromium."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy.orm import sessionmaker

from bot.review.inbox import ReviewInbox
from bot.review.nludata import NLU_FILE
from bot.review.web import create_app
from bot.store.db import make_engine, migrate, session_factory
from bot.store.models import (
    ArchiveImport,
    ArchivePost,
    Author,
    Conversation,
    Customer,
    Direction,
    ImportStage,
    InboundStatus,
    Message,
    Owner,
    Ticket,
)

START = datetime(2026, 11, 23, 9, 0)


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker:
    engine = make_engine(f"sqlite:///{tmp_path / 'care.db'}")
    migrate(engine)
    return session_factory(engine)


@pytest.fixture
def nlu_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "nlu.yml"
    shutil.copy(NLU_FILE, copy)
    return copy


@pytest.fixture
def inbox(sessions: sessionmaker, nlu_copy: Path) -> ReviewInbox:
    return ReviewInbox(sessions, threshold=0.4, nlu_file=nlu_copy)


StoreMessage = Callable[..., int]


@pytest.fixture
def store_message(sessions: sessionmaker) -> StoreMessage:
    """Stores a customer message as the gateway would, after the bot's turn; returns its id."""
    counter = iter(range(1, 10_000))

    def store(
        text: str,
        intent: str | None,
        confidence: float | None,
        channel: str = "telegram",
        handover: str | None = None,
    ) -> int:
        n = next(counter)
        at = START + timedelta(minutes=n)
        with sessions.begin() as session:
            customer = Customer(channel=channel, platform_user_id=f"user-{n}", created_at=at)
            conversation = Conversation(
                channel=channel,
                place=f"chat-{n}",
                visibility="private",
                customer=customer,
                owner=Owner.AGENT if handover else Owner.BOT,
                created_at=at,
                updated_at=at,
            )
            message = Message(
                conversation=conversation,
                channel=channel,
                direction=Direction.IN,
                author=Author.CUSTOMER,
                text=text,
                status=InboundStatus.DONE,
                intent=intent,
                confidence=confidence,
                created_at=at,
                handled_at=at,
            )
            session.add(message)
            if handover:
                session.add(
                    Ticket(
                        conversation=conversation,
                        reason=handover,
                        context={},
                        created_at=at + timedelta(seconds=1),
                    )
                )
            session.flush()
            return int(message.id)

    return store


@pytest_asyncio.fixture
async def server(inbox: ReviewInbox) -> AsyncIterator[str]:
    runner = web.AppRunner(create_app(inbox, "trainer-1"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def store_posts(
    sessions: sessionmaker, posts: dict[str, tuple[str, int | None, bool]]
) -> dict[str, int]:
    """Stores imported posts as an archive import leaves them, grouped and suggested:
    ``{name: (text, group id or None, outlier)}``, in review order; returns their ids."""
    ids = {}
    with sessions.begin() as session:
        archive = ArchiveImport(
            fingerprint=uuid.uuid4().hex * 2,  # 64 characters, like a SHA-256
            name="archive.csv",
            format="csv",
            stage=ImportStage.DONE,
            started_at=START,
        )
        session.add(archive)
        session.flush()
        for n, (name, (text, group, outlier)) in enumerate(posts.items()):
            post = ArchivePost(
                import_id=archive.id,
                source_key=name,
                text=text,
                text_key=f"{archive.id}:{n}",
                intent="baggage_issue",
                confidence=0.5,
                group_id=group,
                outlier=outlier,
                priority=float(n),
            )
            session.add(post)
            session.flush()
            ids[name] = int(post.id)
    return ids
