"""A fake X/Twitter API v2 over TLS, reached by the real tweepy client.

tweepy always calls ``https://api.twitter.com``. Tests give the gateway an
aiohttp connector whose resolver sends that host to this server on loopback
and whose TLS context trusts its self-signed certificate: tweepy itself runs
unchanged, signing requests with OAuth 1.0a as it would for the real API.
"""

from __future__ import annotations

import datetime as dt
import itertools
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver

HOST = "api.twitter.com"
BRAND_ID = "1000"
BRAND_USERNAME = "NorthwindAir"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for api.twitter.com, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "twitter.pem", directory / "twitter.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class LoopbackResolver(AbstractResolver):
    """Resolves api.twitter.com to the fake's loopback port; nothing else resolves."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        if host != HOST:
            raise OSError(f"the test network only knows {HOST}, not {host}")
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": self.port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None


def connector_for(port: int, cert: Path) -> aiohttp.TCPConnector:
    """What the gateway's tweepy session uses to reach the fake."""
    context = ssl.create_default_context(cafile=str(cert))
    return aiohttp.TCPConnector(resolver=LoopbackResolver(port), ssl=context)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


@dataclass
class FakeTwitter:
    """Mentions, DM events and what the brand posted; rate limits on demand."""

    consumer_key: str
    mentions: list[dict[str, Any]] = field(default_factory=list)
    dm_events: list[dict[str, Any]] = field(default_factory=list)
    tweets_sent: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    # endpoint name -> number of upcoming calls answered with 429
    rate_limited: dict[str, int] = field(default_factory=dict)
    fail_after_send: int = 0  # upcoming sends that succeed but answer 503

    def __post_init__(self) -> None:
        self._ids = itertools.count(1_800_000_000_000_000_000)

    def _next_id(self) -> str:
        return str(next(self._ids))

    # ------------------------------------------------------------- helpers
    def user(self, user_id: str, username: str) -> None:
        self.users[user_id] = {"id": user_id, "username": username, "name": username.title()}

    def mention(self, author_id: str, text: str, **fields: Any) -> str:
        """A tweet mentioning the brand; returns its id."""
        self.user(author_id, fields.pop("username", f"user{author_id}"))
        tweet_id = self._next_id()
        tweet = {
            "id": tweet_id,
            "text": text,
            "author_id": author_id,
            "conversation_id": fields.pop("conversation_id", tweet_id),
            "created_at": dt.datetime.utcnow().isoformat(timespec="milliseconds") + "Z",
        }
        tweet.update(fields)
        self.mentions.append(tweet)
        return tweet_id

    def dm(self, sender_id: str, text: str, username: str | None = None) -> str:
        """A DM from a customer to the brand; returns the event id."""
        self.user(sender_id, username or f"user{sender_id}")
        return self._add_dm(sender_id, sender_id, text)

    def _add_dm(self, sender_id: str, customer_id: str, text: str) -> str:
        event_id = self._next_id()
        pair = sorted([customer_id, BRAND_ID], key=int)
        self.dm_events.append(
            {
                "id": event_id,
                "text": text,
                "event_type": "MessageCreate",
                "sender_id": sender_id,
                "dm_conversation_id": f"{pair[0]}-{pair[1]}",
                "created_at": dt.datetime.utcnow().isoformat() + "Z",
            }
        )
        return event_id

    def replies_to(self, tweet_id: str) -> list[str]:
        return [t["text"] for t in self.tweets_sent if t.get("in_reply_to") == tweet_id]

    def dms_to(self, customer_id: str) -> list[str]:
        pair = "-".join(sorted([customer_id, BRAND_ID], key=int))
        return [
            e["text"]
            for e in self.dm_events
            if e["dm_conversation_id"] == pair and e["sender_id"] == BRAND_ID
        ]

    # ----------------------------------------------------------------- API
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/2/users/me", self._me)
        app.router.add_get("/2/users/{id}/mentions", self._get_mentions)
        app.router.add_get("/2/users/{id}/tweets", self._get_brand_tweets)
        app.router.add_get("/2/dm_events", self._get_dm_events)
        app.router.add_get("/2/dm_conversations/with/{pid}/dm_events", self._get_dm_events)
        app.router.add_post("/2/tweets", self._create_tweet)
        app.router.add_post("/2/dm_conversations/with/{pid}/messages", self._create_dm)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("OAuth ") or f'oauth_consumer_key="{self.consumer_key}"' not in auth:
            return web.json_response({"title": "Unauthorized", "status": 401}, status=401)
        name = (
            request.match_info.route.resource.canonical
            if request.match_info.route.resource
            else "?"
        )
        self.requests.append(f"{request.method} {name}")
        key = name.rsplit("/", 1)[-1]
        if self.rate_limited.get(key, 0) > 0:
            self.rate_limited[key] -= 1
            return web.json_response(
                {"title": "Too Many Requests", "status": 429},
                status=429,
                headers={"x-rate-limit-reset": str(int(time.time()) + 1)},
            )
        return await handler(request)

    async def _me(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"data": {"id": BRAND_ID, "username": BRAND_USERNAME, "name": "Northwind Airways"}}
        )

    @staticmethod
    def _page(
        items: list[dict[str, Any]], request: web.Request
    ) -> tuple[list[dict[str, Any]], str | None]:
        size = int(request.query.get("max_results", "10"))
        start = int(request.query.get("pagination_token", "0"))
        page = items[start : start + size]
        more = str(start + size) if start + size < len(items) else None
        return page, more

    def _includes(self, ids: list[str]) -> dict[str, Any]:
        return {"users": [self.users[i] for i in dict.fromkeys(ids) if i in self.users]}

    async def _get_mentions(self, request: web.Request) -> web.Response:
        since = request.query.get("since_id")
        items = sorted(
            (t for t in self.mentions if since is None or int(t["id"]) > int(since)),
            key=lambda t: -int(t["id"]),
        )
        page, more = self._page(items, request)
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if more:
            meta["next_token"] = more
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
            body["includes"] = self._includes([t["author_id"] for t in page if "author_id" in t])
        return web.json_response(body)

    async def _get_dm_events(self, request: web.Request) -> web.Response:
        pid = request.match_info.get("pid")
        items = self.dm_events
        if pid:
            pair = "-".join(sorted([pid, BRAND_ID], key=int))
            items = [e for e in items if e["dm_conversation_id"] == pair]
        items = sorted(items, key=lambda e: -int(e["id"]))
        page, more = self._page(items, request)
        body: dict[str, Any] = {"meta": {"result_count": len(page)}}
        if more:
            body["meta"]["next_token"] = more
        if page:
            body["data"] = page
            body["includes"] = self._includes([e["sender_id"] for e in page])
        return web.json_response(body)

    async def _get_brand_tweets(self, request: web.Request) -> web.Response:
        items = sorted(self.tweets_sent, key=lambda t: -int(t["id"]))
        data = [
            {
                "id": t["id"],
                "text": t["text"],
                "referenced_tweets": [{"type": "replied_to", "id": t["in_reply_to"]}]
                if t.get("in_reply_to")
                else [],
            }
            for t in items
        ]
        return web.json_response({"data": data, "meta": {"result_count": len(data)}})

    def _after_send(self, body: dict[str, Any]) -> web.Response:
        if self.fail_after_send > 0:
            self.fail_after_send -= 1
            return web.json_response({"title": "Service Unavailable", "status": 503}, status=503)
        return web.json_response(body, status=201)

    async def _create_tweet(self, request: web.Request) -> web.Response:
        body = await request.json()
        if len(body.get("text", "")) > 280:
            return web.json_response(
                {"title": "Invalid Request", "detail": "text too long"}, status=400
            )
        tweet_id = self._next_id()
        self.tweets_sent.append(
            {
                "id": tweet_id,
                "text": body["text"],
                "in_reply_to": (body.get("reply") or {}).get("in_reply_to_tweet_id"),
            }
        )
        return self._after_send({"data": {"id": tweet_id, "text": body["text"]}})

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = await request.json()
        pid = request.match_info["pid"]
        event_id = self._add_dm(BRAND_ID, pid, body["text"])
        pair = "-".join(sorted([pid, BRAND_ID], key=int))
        return self._after_send({"data": {"dm_conversation_id": pair, "dm_event_id": event_id}})
