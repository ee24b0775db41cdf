"""The dashboard's "Memory" section in a real browser on `yourclaw dev`: the assistant's memory files on its
(stand-in) volume are listed with their text after the background read, one is forgotten after a confirmation
and is gone from the volume, an error is said in words next to the buttons (never its code), and forgetting
everything empties the section. No console error but the one refused request the test makes."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

import httpx
from playwright.sync_api import expect

from tests.browser.web.support import signed_in_page
from tests.harness.dev_journey import Newcomer
from tests.harness.dev_server import ARTIFACTS, DevServer

STEP_TIMEOUT = 30_000
MEMORY = "# Memory\n\n- Prefers tea to coffee.\n"
REFUSAL = "Your assistant's memory is still being updated; try again in a moment"


def _paid_user(dev_server: DevServer, email: str) -> str:
    """A user with a READY stand-in assistant (signed up over HTTP, in a thread of its own: the page's
    Playwright runs its own loop), and memory files on its volume; returns the user's id."""
    out: dict[str, str] = {}

    async def sign_up() -> None:
        async with httpx.AsyncClient(base_url=dev_server.url, timeout=15) as client:
            owner = Newcomer(client, email)
            await owner.sign_in()
            await owner.verify_and_pay()
            out["id"] = (await client.get("/api/v1/users/me")).json()["id"]

    thread = threading.Thread(target=lambda: asyncio.run(sign_up()))
    thread.start()
    thread.join(timeout=120)
    (host,) = (dev_server.workdir / "state" / "simulated").iterdir()
    workspace = host / "volumes" / f"yourclaw-data-{out['id']}" / "workspace"
    (workspace / "memory").mkdir(parents=True, exist_ok=True)
    (workspace / "MEMORY.md").write_text(MEMORY)
    (workspace / "memory" / "2026-12-07.md").write_text("Talked about tea.\n")
    return out["id"]


def test_memory_is_listed_and_forgotten_with_a_confirmation(browser, dev_server: DevServer) -> None:
    email = f"memory-{uuid.uuid4().hex[:8]}@example.com"
    user_id = _paid_user(dev_server, email)
    (host,) = (dev_server.workdir / "state" / "simulated").iterdir()
    workspace = host / "volumes" / f"yourclaw-data-{user_id}" / "workspace"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    try:
        page = signed_in_page(context, dev_server.url, email, errors)
        page.goto(f"{dev_server.url}/dashboard#memory")

        files = page.locator("#memory-files details")
        expect(files).to_have_count(2, timeout=STEP_TIMEOUT)
        expect(files.nth(0)).to_contain_text("Long-term memory")
        expect(files.nth(1)).to_contain_text("Notes from")
        files.nth(0).locator("summary").click()
        expect(files.nth(0).locator("pre")).to_contain_text("Prefers tea to coffee.")
        expect(page.locator("#memory-status")).to_contain_text("As of just now")

        # A second thought: cancel keeps the note.
        files.nth(1).locator("summary").click()
        files.nth(1).get_by_role("button", name="Forget this…").click()
        page.get_by_role("button", name="Cancel").click()
        expect(files).to_have_count(2)
        files.nth(1).get_by_role("button", name="Forget this…").click()
        page.get_by_role("button", name="Forget it").click()
        expect(files).to_have_count(1, timeout=STEP_TIMEOUT)
        expect(page.locator("#memory-files")).not_to_contain_text("null")
        assert not (workspace / "memory" / "2026-12-07.md").exists()

        # A refusal is said in words, under the buttons that caused it.
        page.route(
            "**/api/v1/users/me/memory?all=true",
            lambda route: route.fulfill(
                status=429,
                content_type="application/json",
                body=json.dumps({"detail": REFUSAL, "code": "TOO_MANY_MEMORY_REQUESTS"}),
            ),
        )
        page.click("#memory-forget-all")
        page.get_by_role("button", name="Forget everything", exact=True).click()
        expect(page.locator("#memory-actions-error")).to_have_text(REFUSAL)
        expect(page.locator("#memory")).not_to_contain_text("TOO_MANY")
        page.screenshot(path=str(ARTIFACTS / "memory-error.png"))
        page.unroute("**/api/v1/users/me/memory?all=true")

        page.click("#memory-forget-all")
        page.get_by_role("button", name="Forget everything", exact=True).click()
        expect(page.locator("#memory-empty")).to_be_visible(timeout=STEP_TIMEOUT)
        expect(page.locator("#memory-actions-error")).to_have_count(0)
        assert not (workspace / "MEMORY.md").exists()
        assert [e for e in errors if "429" not in e] == []
    finally:
        context.close()
