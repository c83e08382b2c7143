"""The dashboard, served by the real gateway: never without an agent's login, and its
figures as a real headless Chromium renders them for the story in conftest.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine

from bot.desk.agents import LOGIN, SESSION_COOKIE
from bot.desk.passwords import hash_password
from bot.settings import DeskSettings, Secret
from tests.analytics.conftest import tell_the_story
from tests.conftest import PROJECT_ROOT
from tests.gateway.conftest import RunningGateway
from tests.gateway.web_agent import WebAgent, desk_settings

SCREENSHOTS = PROJECT_ROOT / "results" / "screenshots"
ROUTES = [
    "/dashboard",
    "/dashboard/api/report",
    "/dashboard/api/report?since=2026-11-02&until=2026-11-04",
    "/dashboard/static/chart.umd.min.js",
    "/dashboard/static/dashboard.js",
    "/dashboard/static/nothing.js",
]
DESK = DeskSettings({"alice": Secret(hash_password("correct horse battery"))})
Start = Callable[..., Awaitable[RunningGateway]]


@pytest_asyncio.fixture
async def gateway(
    engine: Engine, start_gateway: Start, fake_assistant: tuple[object, str]
) -> RunningGateway:
    tell_the_story(engine)
    return await start_gateway(rasa_url=fake_assistant[1], desk=DESK)


def session_cookie(gateway: RunningGateway, agent: str = "alice") -> str:
    """A logged-in agent's cookie, signed by the gateway's own login."""
    return gateway.app[LOGIN].session_for(agent)


async def test_nothing_of_the_dashboard_without_an_agents_login(
    gateway: RunningGateway, start_gateway: Start, fake_assistant: tuple[object, str]
) -> None:
    without_accounts = await start_gateway(rasa_url=fake_assistant[1])
    forged = {SESSION_COOKIE: "eyJhZ2VudCI6ImFsaWNlIn0.forged.signature"}
    async with aiohttp.ClientSession() as http:
        for site in (gateway, without_accounts):
            for route in ROUTES:
                for headers in ({}, {"Accept": "text/html"}):
                    for cookies in ({}, forged):
                        answer = await http.get(
                            site.url + route,
                            headers=headers,
                            cookies=cookies,
                            allow_redirects=False,
                        )
                        assert answer.status in (401, 303), (route, headers, answer.status)
                        if answer.status == 303:
                            assert answer.headers["Location"].startswith("/desk/login?next=")


async def test_an_agent_reads_the_figures_and_bad_queries_are_refused(
    gateway: RunningGateway,
) -> None:
    cookies = {SESSION_COOKIE: session_cookie(gateway)}
    async with aiohttp.ClientSession(cookies=cookies) as http:
        api = gateway.url + "/dashboard/api/report"
        answer = await http.get(api, params={"since": "2026-11-02", "until": "2026-11-04"})
        assert answer.status == 200
        data = await answer.json()
        assert (data["conversations"], data["messages"], data["only_demo_data"]) == (5, 9, False)
        assert data["containment"] == {"topic_turns": 6, "contained": 2, "rate": 2 / 6}
        assert (data["satisfaction"]["csat"], data["satisfaction"]["response_rate"]) == (
            2 / 3,
            0.75,
        )
        for query, reason in [
            ({"since": "yesterday"}, "since: a date"),
            ({"since": "2026-11-04", "until": "2026-11-02"}, "since must be before until"),
            ({"since": "2020-01-01", "until": "2026-01-01"}, "at most 367 days"),
            ({"channel": "fax"}, "channel: one of"),
            ({"demo": "yes"}, "demo: 0 or 1"),
        ]:
            refused = await http.get(api, params=query)
            assert refused.status == 400, query
            assert reason in await refused.text()
        page = await http.get(gateway.url + "/dashboard")
        assert page.status == 200
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]


async def test_the_page_shows_the_storys_figures(
    gateway: RunningGateway, browser, request: pytest.FixtureRequest
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 1500})
    await context.add_cookies(
        [{"name": SESSION_COOKIE, "value": session_cookie(gateway), "url": gateway.url}]
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda r: errors.append(r.url))
    await page.goto(gateway.url + "/dashboard?since=2026-11-02&until=2026-11-04")
    await page.wait_for_selector("body[data-loaded=yes]")

    tiles = {
        "conversations": "5",
        "messages": "9",
        "containment": "33.3%",  # 2 of 6 requests
        "handover-rate": "40.0%",  # 2 tickets, 5 conversations
        "bot-response": "2 s",  # median of 1 1 2 2 3 4 6
        "agent-response": "5.0 min",  # 300 s and 1200 s: rank 1
        "time-to-resolve": "1.0 h",
        "sla-breaches": "2",  # dave's first response, bob's next one
        "csat": "66.7%",  # alice 5 and 4, bob 2: two of three ratings 4 or 5
        "csat-response": "75.0%",  # three of four asked rated (erin did not)
    }
    for tile, text in tiles.items():
        assert await page.text_content(f"#{tile}") == text, tile
    assert await page.is_hidden("#demo-banner")
    intents = await page.eval_on_selector_all(
        "#intents tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert intents[0] == ["baggage_issue", "2", "50.0%", "50.0%", "50.0%"]
    assert ["deny", "1", "–", "0.0%", "0.0%"] in intents
    assert await page.text_content("#fans") == "erin (telegram): 2"
    assert await page.text_content("#complainers") == "dave (twitter): 2"
    # What Chart.js drew: the reasons and the days, from its own chart objects.
    reasons = await page.evaluate(
        "() => { const c = Chart.getChart('chart-reasons');"
        " return [c.data.labels, c.data.datasets[0].data]; }"
    )
    assert reasons == [["Complaint", "Needs a decision by a person (policy)"], [1, 1]]
    days = await page.evaluate("() => Chart.getChart('chart-days').data.datasets.map(d => d.data)")
    assert days == [[7, 2], [2, 0]]
    csat = await page.evaluate(
        "() => { const c = Chart.getChart('chart-csat');"
        " return [c.data.labels, ...c.data.datasets.map(d => d.data)]; }"
    )
    assert csat == [["telegram", "webchat"], [0, 1], [0.5, 1]]
    per_day = await page.evaluate("() => Chart.getChart('chart-quality').data.datasets[2].data")
    assert per_day == [0.5, 1]  # 2 Nov: alice 5, bob 2; 3 Nov: alice 4
    satisfaction = await page.eval_on_selector_all(
        "#satisfaction tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert satisfaction == [
        ["telegram", "2", "1", "50.0%", "0.0%"],
        ["webchat", "2", "2", "100.0%", "100.0%"],
    ]
    shot = SCREENSHOTS / f"dashboard-{request.node.callspec.id}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shot), full_page=True)

    await page.select_option("#channel", "twitter")
    await page.click("#apply")
    await page.wait_for_selector("body[data-loaded=yes]")
    assert await page.text_content("#messages") == "5"
    assert await page.text_content("#handover-rate") == "50.0%"  # 1 ticket, 2 conversations
    assert await page.text_content("#fans") == "nobody in this window"
    assert await page.text_content("#csat") == "–"  # no ratings offered in public
    assert errors == []
    await context.close()


async def test_an_agent_logged_in_at_the_desk_reads_the_dashboard(
    engine: Engine, start_gateway: Start, fake_assistant: tuple[object, str]
) -> None:
    tell_the_story(engine)
    gateway = await start_gateway(rasa_url=fake_assistant[1], desk=desk_settings())
    async with WebAgent(gateway.url, "alice") as alice:
        answer = await alice.http.get(
            gateway.url + "/dashboard/api/report",
            params={"since": "2026-11-02", "until": "2026-11-04"},
        )
        assert answer.status == 200
        assert (await answer.json())["conversations"] == 5
        await alice.http.post(gateway.url + "/desk/logout", headers={"X-CSRF-Token": alice.csrf})
        after = await alice.http.get(gateway.url + "/dashboard/api/report")
        assert after.status == 401
