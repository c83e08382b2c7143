"""Custom actions of the Northwind assistant, one module per topic.

``rasa run actions`` imports every module of this package; the action classes
register themselves by subclassing ``rasa_sdk.Action``.
"""

import contextlib

from sanic import Sanic
from sanic.exceptions import SanicException

# Rasa calls the action server through a pooled aiohttp session, which keeps an
# idle connection for 15 s; Sanic closes one after 5 s by default. A
# connection closed by the server while Rasa's event loop is busy (a turn's NLU
# holds it ~100 ms) is still taken from the pool, the write fails ("Cannot
# write to closing transport"), Rasa drops the action's events and the turn
# comes back empty, which the gateway must treat as the assistant being down.
# The side that keeps a connection longer must be the server. rasa_sdk creates
# its app before importing this package and runs it after, so the setting
# still applies; Rasa's own server already keeps 120 s.
ACTION_SERVER_KEEP_ALIVE_SECONDS = 75

# Outside the action server (tests, tools) there is no such app.
with contextlib.suppress(SanicException):
    Sanic.get_app("rasa_sdk").config.KEEP_ALIVE_TIMEOUT = ACTION_SERVER_KEEP_ALIVE_SECONDS
