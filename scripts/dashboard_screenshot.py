"""The README's picture of the dashboard: the demo month in headless Chromium.

    .venv/bin/python scripts/dashboard_screenshot.py [docs/images/dashboard.png]

Seeds the demo month into a throw-away SQLite store, serves the dashboard as
the gateway does (behind the agents' login, with a signed-in agent's cookie)
and saves a screenshot of the page. Needs Chromium (apt-get install chromium).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.analytics.dashboard import add_dashboard, agents_only  # noqa: E402
from bot.analytics.demo import seed_demo  # noqa: E402
from bot.desk.agents import SESSION_COOKIE, Login, add_login_routes  # noqa: E402
from bot.desk.passwords import hash_password  # noqa: E402
from bot.evaluation import shipped_threshold  # noqa: E402
from bot.settings import DeskSettings, Secret  # noqa: E402
from bot.store.db import make_engine, migrate  # noqa: E402


async def main(out: Path) -> None:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/demo.db")
        migrate(engine)
        seed_demo(engine, datetime.utcnow())
        login = Login(DeskSettings({"alice": Secret(hash_password("not a real password"))}))
        app = web.Application()
        add_dashboard(app, lambda: engine, agents_only, shipped_threshold())
        add_login_routes(app, login, protected=("/dashboard",))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=["--headless=new", "--no-sandbox"]
            )
            context = await browser.new_context(viewport={"width": 1200, "height": 1330})
            await context.add_cookies(
                [{"name": SESSION_COOKIE, "value": login.session_for("alice"), "url": url}]
            )
            page = await context.new_page()
            await page.goto(url + "/dashboard")
            await page.wait_for_selector("body[data-loaded=yes]")
            out.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(out))
            await browser.close()
        await runner.cleanup()
        engine.dispose()
    # A small file for the README: 64 colours are plenty for a page of flat charts.
    from PIL import Image

    Image.open(out).convert("RGB").quantize(colors=64).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    asyncio.run(
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs/images/dashboard.png")
    )
