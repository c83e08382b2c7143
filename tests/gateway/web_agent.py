"""An agent at the web desk, for tests: logs in with a real client and calls the desk's API."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import aiohttp

from bot.desk.passwords import hash_password
from bot.settings import DeskSettings, Secret

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-22"}


@cache
def _hashes() -> dict[str, str]:
    return {name: hash_password(password) for name, password in PASSWORDS.items()}


def desk_settings() -> DeskSettings:
    """The web desk on, with the accounts in :data:`PASSWORDS`."""
    return DeskSettings({name: Secret(hashed) for name, hashed in _hashes().items()})


class WebAgent:
    """A logged-in agent: ``await agent.act(ticket_id, "claim")``."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        # unsafe: keep the cookies of an IP address (127.0.0.1), as a browser does
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> WebAgent:
        form = await (await self.http.get(f"{self.url}/desk/login")).text()
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token, "the login form has its token"
        response = await self.http.post(
            f"{self.url}/desk/login",
            data={"csrf": token.group(1), "name": self.name, "password": PASSWORDS[self.name]},
            headers={"Origin": self.url},
        )
        page = await response.text()
        assert response.status == 200 and response.url.path == "/desk", page[:200]
        # Only its own script, never inside another site's frame.
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
        found = re.search(r'<meta name="csrf" content="([^"]+)">', page)
        assert found, "the desk page carries the session's token"
        self.csrf = found.group(1)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.http.close()

    async def get(self, path: str) -> Any:
        response = await self.http.get(f"{self.url}/desk/api/{path}")
        assert response.status == 200, await response.text()
        return await response.json()

    async def act(self, ticket_id: int, operation: str, **body: Any) -> tuple[int, dict[str, Any]]:
        """A POST as the page makes it; the status and the JSON answer."""
        response = await self.http.post(
            f"{self.url}/desk/api/tickets/{ticket_id}/{operation}",
            json=body,
            headers={"Origin": self.url, "X-CSRF-Token": self.csrf},
        )
        return response.status, await response.json()
