"""The review page in a real headless Chromium, and its API's refusals."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bot.review.importer import run_import
from bot.review.inbox import ReviewInbox
from bot.review.nludata import NluFile
from bot.review.suggest import TrigramSuggester
from bot.store.models import ArchivePost, ReviewStatus
from tests.review.conftest import StoreMessage


async def test_a_trainer_approves_relabels_and_discards_in_the_browser(
    server: str, browser, inbox: ReviewInbox, store_message: StoreMessage, nlu_copy: Path
) -> None:
    store_message("@NorthwindAir where is my bag?? been 3 days, jane@example.com", "complaint", 0.3)
    store_message("where is my bag, its been 3 days already @NorthwindAir", "complaint", 0.25)
    store_message("is flt 881 leaving on time tmrw or not", "flight_delayed", 0.35)
    store_message('<img src=x onerror="window.pwned=1">ok?', "greet", 0.1)
    inbox.collect()
    page = await browser.new_page()
    await page.goto(server)
    await page.wait_for_selector(".item")
    assert await page.text_content("#counts") == "4 to review in 3 groups"
    assert await page.locator(".group h2", has_text="2 similar messages").count() == 1
    assert "jane@example.com" not in await page.content()
    assert await page.evaluate("window.pwned") is None  # customer text is never markup

    flight = page.locator(".item", has=page.locator("input[value*='881']"))
    annotated = "is flt [881](flight_number) leaving on time tmrw or not"
    await flight.locator("input.text").fill(annotated)
    await flight.locator("select.intent").select_option("flight_status")
    await flight.locator("button.approve").click()
    await page.wait_for_function("document.querySelector('#status').textContent.includes('Added')")
    assert await page.text_content("#status") == "Added to data/nlu.yml as flight_status."
    written = [e for e in NluFile(nlu_copy).examples() if "leaving on time tmrw" in e.text]
    assert [(e.intent, e.text) for e in written] == [("flight_status", annotated)]

    bags = page.locator(".item", has=page.locator("input[value*='my bag']"))
    assert await bags.count() == 2
    await bags.nth(1).locator("button.discard").click()
    await page.wait_for_function("document.querySelector('#status').textContent.startsWith('Disc')")

    before = nlu_copy.read_text(encoding="utf-8")
    remaining = page.locator(".item", has=page.locator("input[value*='my bag']"))
    await remaining.locator("input.text").fill("where is my bag?? call +44 7700 900123")
    await remaining.locator("button.approve").click()
    alert = remaining.locator(".error")
    await alert.wait_for(state="visible")
    await page.wait_for_function("document.querySelector('.item .error').textContent.length > 0")
    assert "personal data: phone" in await alert.text_content()
    assert nlu_copy.read_text(encoding="utf-8") == before

    await page.reload()
    await page.wait_for_selector(".item")
    assert await page.text_content("#counts") == "2 to review in 2 groups"
    assert await page.locator(".item").count() == 2
    await page.close()


async def test_the_api_refuses_what_a_page_would_not_send(
    server: str, inbox: ReviewInbox, store_message: StoreMessage
) -> None:
    store_message("huh", "greet", 0.1)
    inbox.collect()
    [item] = inbox.items()
    approve = f"{server}/api/items/{item.id}/approve"
    async with aiohttp.ClientSession() as http:
        forged = await http.post(approve, json={}, headers={"Origin": "https://evil.example"})
        assert forged.status == 403
        form = await http.post(approve, data={"intent": "greet"})
        assert form.status == 415
        assert (await http.post(f"{server}/api/items/nope/approve", json={})).status == 404
        assert (await http.post(f"{server}/api/items/999/approve", json={})).status == 400
        wrong = await http.post(approve, json={"intent": 5})
        assert wrong.status == 400
        huge = await http.post(approve, json={"text": "x" * 100_000})
        assert huge.status == 413
        ok = await http.post(approve, json={"intent": "greet"}, headers={"Origin": server})
        assert ok.status == 200 and (await ok.json())["status"] == "approved"
        again = await http.post(approve, json={"intent": "greet"})
        assert again.status == 409
        state = await (await http.get(f"{server}/api/inbox")).json()
        assert state["groups"] == [] and "flight_status" in state["intents"]


async def test_the_api_refuses_bad_pages_filters_and_group_decisions(
    server: str, inbox: ReviewInbox, store_message: StoreMessage
) -> None:
    first = store_message("where is my bag, 3 days now", "baggage_issue", 0.3)
    store_message("where is my bag?? 3 days now!!", "baggage_issue", 0.2)
    assert first and inbox.collect() == 2
    ids = [i.id for i in inbox.items()]
    async with aiohttp.ClientSession() as http:
        for query in ("view=all", "page=abc", "max_confidence=high"):
            assert (await http.get(f"{server}/api/inbox?{query}")).status == 400, query
        many = f"{server}/api/items/approve-many"
        for body in ({"ids": "1"}, {"ids": []}, {"ids": [True]}, {"ids": list(range(1001))}):
            assert (await http.post(many, json=body)).status == 400, body
        missing = await http.post(f"{server}/api/groups/999/approve", json={"intent": "greet"})
        assert missing.status == 400 and "no pending group" in (await missing.json())["error"]
        no_intent = await http.post(f"{server}/api/groups/999/approve", json={})
        assert no_intent.status == 400
        assert (await http.post(f"{server}/api/posts/999/discard", json={})).status == 400
        for query, shown in (("baggage_issue&max_confidence=0.25", []), ("baggage_issue", ids)):
            state = await (await http.get(f"{server}/api/inbox?intent={query}")).json()
            assert [i["id"] for g in state["groups"] for i in g["items"]] == shown, query
        done = await http.post(many, json={"ids": ids, "intent": "baggage_issue"})
        assert done.status == 200 and [d["status"] for d in await done.json()] == ["approved"] * 2


async def test_a_group_action_from_a_page_an_import_has_since_regrouped_is_refused(
    server: str, sessions: sessionmaker, tmp_path: Path
) -> None:
    def archive(name: str, flights: range) -> Path:
        path = tmp_path / name
        rows = [f"p{n},c{n},is there wifi on flight NW {n} to Oslo tomorrow" for n in flights]
        path.write_text("id,author,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
        return path

    def imports(path: Path) -> None:
        run_import(sessions, path, TrigramSuggester, TrigramSuggester.thresholds, progress=False)

    imports(archive("first.csv", range(101, 104)))
    async with aiohttp.ClientSession() as http:
        state = await (await http.get(f"{server}/api/inbox?view=imported")).json()
        [group] = state["groups"]
        seen = {"members": group["members"], "shown": [i["id"] for i in group["items"]]}
        # A second archive's rewordings join the group: the page no longer shows what
        # "Approve all 3" would file.
        imports(archive("second.csv", range(201, 206)))
        url = f"{server}/api/groups/{group['group_id']}/approve"
        stale = await http.post(url, json={"intent": "product_question/wifi", **seen})
        assert stale.status == 400 and "reload the page" in (await stale.json())["error"]
        assert (
            await http.post(url, json={"intent": "x", "members": "3", "shown": [1]})
        ).status == 400
        with sessions() as session:
            assert {p.status for p in session.scalars(select(ArchivePost))} == {
                ReviewStatus.PENDING
            }

        state = await (await http.get(f"{server}/api/inbox?view=imported")).json()
        [group] = state["groups"]
        seen = {"members": group["members"], "shown": [i["id"] for i in group["items"]]}
        url = f"{server}/api/groups/{group['group_id']}/approve"
        done = await http.post(url, json={"intent": "product_question/wifi", **seen})
        assert done.status == 200 and (await done.json())["decided"] == 8
