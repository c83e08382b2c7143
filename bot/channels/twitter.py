"""Twitter/X with tweepy 4 (API v2): polling mentions and DMs within a request budget.

* **Budget**: ``requests_per_window`` requests per 15-minute window are
  shared by the mentions and the DM polls (the paid tiers' limits are per
  15 minutes); a 429 waits for the rate-limit reset the platform gives.
* **Cursors**: the newest mention id and the newest DM event id are stored
  with the messages they cover, in one transaction, so a restart neither
  skips nor replays.
* **What is left alone**: the brand's own tweets and DMs, retweets, and
  chatter where the brand is only carried along in a reply chain between
  other people (its handle is in the auto-filled reply prefix, not in the
  words, and the tweet does not reply to the brand).
* **Replies**: a mention gets a public reply in its thread (split into a
  thread of tweets if longer than 280 characters); a DM gets a DM. A public
  reply that invites the customer to a private message carries the deep link
  that opens a DM with the brand.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeGuard

import aiohttp
from tweepy import errors as tweepy_errors
from tweepy.asynchronous import AsyncClient

from bot.brand import Brand
from bot.channels import twitter_items
from bot.channels.twitter_limits import Budget, split_for_tweets
from bot.contract import Visibility
from bot.conversation.ingest import Intake
from bot.messages import (
    CANNOT_TELL,
    NOT_SENT,
    InboundMessage,
    OutboundReply,
    SendError,
    SentLookup,
    Unreadable,
    found,
)
from bot.settings import TwitterSettings
from bot.text import clean_text, tweet_words

logger = logging.getLogger(__name__)

NAME = "twitter"
_LEADING_MENTIONS = re.compile(r"^(?:@\w{1,15}\s+)*")
_MENTION = re.compile(r"@\w{1,15}")
_URL = re.compile(r"https?://\S+")
TWEET_FIELDS = [
    "author_id",
    "conversation_id",
    "created_at",
    "in_reply_to_user_id",
    "referenced_tweets",
]
DM_FIELDS = ["id", "text", "event_type", "dm_conversation_id", "created_at", "sender_id"]


class TwitterChannel:
    """Polls mentions and DMs and sends replies, with the real tweepy client."""

    name = NAME

    def __init__(
        self,
        settings: TwitterSettings,
        intake: Intake,
        brand: Brand,
        connector: aiohttp.BaseConnector | None = None,
    ) -> None:
        self.settings = settings
        self.intake = intake
        self.brand = brand
        self.connector = connector
        self.client = AsyncClient(
            consumer_key=settings.api_key.reveal(),
            consumer_secret=settings.api_secret.reveal(),
            access_token=settings.access_token.reveal(),
            access_token_secret=settings.access_token_secret.reveal(),
            return_type=dict,
        )
        self.budget = Budget(settings.requests_per_window)
        self.user_id: str = settings.user_id or ""
        self.username: str = brand.twitter_handle
        self._poller: asyncio.Task[None] | None = None

    # ---------------------------------------------------------- life cycle
    async def start(self) -> None:
        """Opens the HTTP session, learns the brand's user id, starts polling."""
        self.client.session = aiohttp.ClientSession(
            connector=self.connector, timeout=aiohttp.ClientTimeout(total=20)
        )
        if not self.user_id:
            me = await self.client.get_me(user_auth=True)
            self.user_id = str(me["data"]["id"])
            self.username = str(me["data"].get("username") or self.username)
        self._poller = asyncio.create_task(self._poll_forever())
        logger.info("twitter: @%s on, %.0f s between requests", self.username, self.budget.interval)

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        if self.client.session is not None:
            await self.client.session.close()
            # aiohttp closes TLS connections asynchronously; give them a moment
            # (as its documentation advises) before the loop moves on.
            await asyncio.sleep(0.25)

    async def _poll_forever(self) -> None:
        failures = 0
        while True:
            for poll in (self.poll_mentions, self.poll_dms):
                try:
                    await poll()
                    failures = 0
                except tweepy_errors.TooManyRequests as error:
                    reset = getattr(error, "reset_time", None) or (time.time() + 60)
                    self.budget.block_until(time.monotonic() + max(1.0, reset - time.time()))
                    logger.warning("twitter: rate limited until %s", reset)
                except Exception as error:
                    # The API unreachable, or the store failing: the cursor moves
                    # only with the messages it covers, so nothing is skipped.
                    failures += 1
                    expected = (
                        tweepy_errors.TweepyException,
                        aiohttp.ClientError,
                        asyncio.TimeoutError,
                    )
                    logger.warning(
                        "twitter: %s failed: %s: %s",
                        poll.__name__,
                        type(error).__name__,
                        error,
                        exc_info=not isinstance(error, expected),
                    )
                    await asyncio.sleep(min(60.0, 2.0**failures))

    async def _request(self, call: Callable[..., Any], **params: Any) -> dict[str, Any]:
        await self.budget.take()
        return await call(**params)

    # ------------------------------------------------------------ mentions
    async def poll_mentions(self) -> int:
        """Reads new mentions; returns how many were stored."""
        since = await self.intake.cursor(NAME, "mentions_since")
        params: dict[str, Any] = {
            "id": self.user_id,
            "max_results": 100,
            "tweet_fields": TWEET_FIELDS,
            "expansions": ["author_id"],
            "user_fields": ["username", "name"],
            "user_auth": True,
        }
        if since:
            params["since_id"] = since
        tweets: list[dict[str, Any]] = []
        users: dict[str, dict[str, Any]] = {}
        newest = since
        while True:
            page = await self._request(self.client.get_users_mentions, **params)
            tweets += page.get("data") or []
            users.update(twitter_items.users_of(page))
            meta = page.get("meta") or {}
            top = meta.get("newest_id")
            if _is_id(top) and (newest is None or int(top) > int(newest)):
                newest = top
            # Without a since_id (first start) read one page: the recent past, not all history.
            if not since or not meta.get("next_token"):
                break
            params["pagination_token"] = meta["next_token"]
        messages, unreadable = self._read(self.mention_to_inbound, tweets, users)
        if newest and newest != since:
            await self.intake.accept(messages, (NAME, "mentions_since", newest), unreadable)
        return len(messages)

    @staticmethod
    def _read(
        convert: Callable[[dict[str, Any], dict[str, dict[str, Any]]], InboundMessage | None],
        items: list[Any],
        users: dict[str, dict[str, Any]],
    ) -> tuple[list[InboundMessage], list[Unreadable]]:
        """Our messages for ``items``, oldest first (the API gives newest first), so that a
        customer's messages are answered in order; and the items that cannot be read, set
        aside: retrying them could never succeed and would hold up everything after them."""
        messages, unreadable = [], []
        for item in sorted(items, key=_id_order):
            try:
                message = convert(item, users)
            except (AttributeError, KeyError, TypeError, ValueError) as error:
                platform_id = str(item.get("id"))[:40] if isinstance(item, dict) else None
                why = f"{type(error).__name__}: {error}"[:300]
                logger.warning("twitter: %s cannot be read: %s", platform_id, why)
                unreadable.append(Unreadable(NAME, platform_id, item, why))
                continue
            if message is not None:
                messages.append(message)
        return messages, unreadable

    def needs_no_reply(self, tweet: dict[str, Any]) -> bool:
        """The brand's own tweets, retweets, and chatter that only carries the brand along."""
        if str(tweet.get("author_id")) == self.user_id:
            return True
        if any(r.get("type") == "retweeted" for r in tweet.get("referenced_tweets") or []):
            return True
        text = tweet.get("text") or ""
        body = _LEADING_MENTIONS.sub("", text)
        addressed = f"@{self.username}".lower() in body.lower()
        replying_to_brand = str(tweet.get("in_reply_to_user_id") or "") == self.user_id
        is_reply = bool(tweet.get("in_reply_to_user_id"))
        if is_reply and not replying_to_brand and not addressed:
            return True
        words = _URL.sub("", _MENTION.sub("", text)).strip()
        return not words

    def mention_to_inbound(
        self, tweet: dict[str, Any], users: dict[str, dict[str, Any]]
    ) -> InboundMessage | None:
        """Our message for a mention, or None for one that needs no reply; ValueError for
        one of another shape."""
        twitter_items.check(twitter_items.Tweet, tweet)
        if self.needs_no_reply(tweet):
            return None
        author = str(tweet["author_id"])
        thread = tweet.get("conversation_id") or tweet["id"]
        return InboundMessage(
            channel=NAME,
            platform_message_id=f"tweet:{tweet['id']}",
            place=f"thread:{thread}:{author}",
            visibility=Visibility.PUBLIC,
            customer=twitter_items.customer(author, users),
            text=tweet_words(tweet["text"]),
            reply_to_platform_id=str(tweet["id"]),
            sent_at=_parse_time(tweet.get("created_at")),
            raw=tweet,
        )

    # ----------------------------------------------------------------- DMs
    async def poll_dms(self) -> int:
        """Reads DM events newer than the last seen one; returns how many were stored."""
        last = await self.intake.cursor(NAME, "dm_last_id")
        params: dict[str, Any] = {
            "dm_event_fields": DM_FIELDS,
            "event_types": "MessageCreate",
            "expansions": ["sender_id"],
            "user_fields": ["username", "name"],
            "max_results": 100,
            "user_auth": True,
        }
        events: list[dict[str, Any]] = []
        users: dict[str, dict[str, Any]] = {}
        while True:
            page = await self._request(self.client.get_direct_message_events, **params)
            batch = page.get("data") or []
            users.update(twitter_items.users_of(page))
            fresh = [e for e in batch if last is None or _id_order(e) > int(last)]
            events += fresh
            token = (page.get("meta") or {}).get("next_token")
            # Events come newest first: stop at the first page that reaches the last seen one.
            if last is None or len(fresh) < len(batch) or not token:
                break
            params["pagination_token"] = token
        if not events:
            return 0
        newest = max(_id_order(e) for e in events)
        messages, unreadable = self._read(self.dm_to_inbound, events, users)
        cursor = (NAME, "dm_last_id", str(newest)) if newest >= 0 else None
        await self.intake.accept(messages, cursor, unreadable)
        return len(messages)

    def dm_to_inbound(
        self, event: dict[str, Any], users: dict[str, dict[str, Any]]
    ) -> InboundMessage | None:
        """Our message for a DM event, or None for the brand's own; ValueError for one of
        another shape."""
        twitter_items.check(twitter_items.DmEvent, event)
        sender = str(event.get("sender_id") or "")
        if not sender or sender == self.user_id or event.get("event_type") != "MessageCreate":
            return None
        return InboundMessage(
            channel=NAME,
            platform_message_id=f"dm:{event['id']}",
            place=f"dm:{event.get('dm_conversation_id') or sender}",
            visibility=Visibility.PRIVATE,
            customer=twitter_items.customer(sender, users),
            # A DM is the customer's words as typed (only posts carry reply handles).
            text=clean_text(event.get("text") or ""),
            sent_at=_parse_time(event.get("created_at")),
            raw=event,
        )

    # ------------------------------------------------------------- sending
    def dm_link(self) -> str:
        """The deep link that opens a DM with the brand."""
        return f"https://twitter.com/messages/compose?recipient_id={self.user_id}"

    def _public_text(self, reply: OutboundReply) -> str:
        if not reply.invite_private:
            return reply.text
        return f"{reply.text} {self.brand.message('invite_private_link', link=self.dm_link())}"

    async def send(self, reply: OutboundReply) -> str:
        """A reply in the customer's thread, or a DM; returns the platform id."""
        try:
            if reply.visibility == Visibility.PRIVATE:
                result = await self.client.create_direct_message(
                    participant_id=reply.customer_platform_id, text=reply.text, user_auth=True
                )
                return str(result["data"]["dm_event_id"])
            in_reply_to = reply.reply_to_platform_id
            sent_id = ""
            for part in split_for_tweets(self._public_text(reply)):
                result = await self.client.create_tweet(
                    text=part, in_reply_to_tweet_id=in_reply_to, user_auth=True
                )
                sent_id = str(result["data"]["id"])
                in_reply_to = sent_id
            return sent_id
        except tweepy_errors.TooManyRequests as error:
            reset = getattr(error, "reset_time", None)
            wait = max(1.0, reset - time.time()) if reset else 60.0
            raise SendError(f"rate limited: {error}", retry_after=wait) from error
        except (
            tweepy_errors.BadRequest,
            tweepy_errors.Forbidden,
            tweepy_errors.NotFound,
            tweepy_errors.Unauthorized,
        ) as error:
            raise SendError(f"{type(error).__name__}: {error}", permanent=True) from error
        except (tweepy_errors.TweepyException, aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise SendError(f"{type(error).__name__}: {error}", maybe_sent=True) from error

    async def find_sent(self, reply: OutboundReply, after: datetime) -> SentLookup:
        """Looks for the reply among the brand's recent tweets or the customer's DM thread."""
        try:
            if reply.visibility == Visibility.PRIVATE:
                page = await self.client.get_direct_message_events(
                    participant_id=reply.customer_platform_id,
                    dm_event_fields=DM_FIELDS,
                    max_results=50,
                    user_auth=True,
                )
                for event in page.get("data") or []:
                    if (
                        str(event.get("sender_id")) == self.user_id
                        and event.get("text") == reply.text
                    ):
                        return found(str(event["id"]))
                return NOT_SENT
            first = split_for_tweets(self._public_text(reply))[0]
            page = await self.client.get_users_tweets(
                id=self.user_id,
                max_results=50,
                tweet_fields=["referenced_tweets", "created_at"],
                start_time=after.replace(tzinfo=timezone.utc).isoformat(timespec="seconds"),
                user_auth=True,
            )
            for tweet in page.get("data") or []:
                replied = [
                    r.get("id")
                    for r in tweet.get("referenced_tweets") or []
                    if r.get("type") == "replied_to"
                ]
                if tweet.get("text") == first and reply.reply_to_platform_id in replied:
                    return found(str(tweet["id"]))
            return NOT_SENT
        except (tweepy_errors.TweepyException, aiohttp.ClientError, asyncio.TimeoutError):
            return CANNOT_TELL


def _is_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19


def _id_order(item: Any) -> int:
    """An item's numeric id (ids grow with time); -1 for one without, read and skipped later."""
    try:
        return int(item["id"])
    except (KeyError, TypeError, ValueError):
        return -1


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
