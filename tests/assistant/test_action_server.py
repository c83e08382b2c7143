"""The action server as Rasa uses it: through a pool of kept-alive connections."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest

from actions import ACTION_SERVER_KEEP_ALIVE_SECONDS
from tests.conftest import Assistant

pytestmark = pytest.mark.model

# aiohttp's connection pool (Rasa's client) keeps an idle connection this long.
AIOHTTP_POOL_KEEP_ALIVE_SECONDS = 15
# Sanic's default: a server connection idle longer than this is closed.
SANIC_DEFAULT_KEEP_ALIVE_SECONDS = 5


def _health_over(connection: socket.socket, host: str) -> bytes:
    connection.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = connection.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_the_server_outlives_the_clients_idle_connections() -> None:
    # Otherwise the server closes connections the client may still pick from
    # its pool, and a turn under load loses its action.
    assert ACTION_SERVER_KEEP_ALIVE_SECONDS > AIOHTTP_POOL_KEEP_ALIVE_SECONDS


def test_an_idle_connection_to_the_action_server_stays_usable(assistant: Assistant) -> None:
    address = urlsplit(assistant.actions_url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    with socket.create_connection((host, port), timeout=10) as connection:
        assert b" 200 " in _health_over(connection, host)
        # Longer than Sanic's default keep-alive, as between two turns under load.
        time.sleep(SANIC_DEFAULT_KEEP_ALIVE_SECONDS + 1.5)
        second = _health_over(connection, host)
    assert b" 200 " in second, "the action server closed an idle kept-alive connection"
