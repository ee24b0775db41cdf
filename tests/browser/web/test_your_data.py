"""The dashboard's "Your data" section in a real browser: the download is a zip of the account, and deleting
asks for DELETE to be typed (a cancel keeps the account; only the typed word enables the button), then signs the
browser out with the account gone. No console error."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

from playwright.sync_api import expect

from tests.browser.web.support import signed_in_page
from tests.harness.dev_server import ARTIFACTS, DevServer

STEP_TIMEOUT = 20_000


def test_download_and_delete_with_a_typed_confirmation(browser, dev_server: DevServer) -> None:
    email = f"data-{uuid.uuid4().hex[:8]}@example.com"
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    errors: list[str] = []
    try:
        page = signed_in_page(context, dev_server.url, email, errors)
        page.goto(f"{dev_server.url}/dashboard#your-data")
        expect(page.locator("#acct-email")).to_have_text(email, timeout=STEP_TIMEOUT)

        with page.expect_download(timeout=STEP_TIMEOUT) as download:
            page.click("#export-data")
        archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
        assert json.loads(archive.read("profile.json"))["users"][0]["email"] == email
        expect(page.locator("#data-notice")).to_contain_text("downloaded", timeout=STEP_TIMEOUT)

        # A second thought: the dialog's cancel keeps everything.
        page.click("#delete-account")
        dialog = page.locator("#delete-dialog")
        expect(dialog).to_be_visible()
        expect(page.locator("#delete-confirm")).to_be_disabled()
        page.fill("#delete-confirm-input", "delete")
        expect(page.locator("#delete-confirm")).to_be_disabled()
        page.screenshot(path=str(ARTIFACTS / "delete-confirmation.png"))
        page.get_by_role("button", name="Keep my account").click()
        expect(dialog).to_have_count(0)
        assert context.request.get(f"{dev_server.url}/api/v1/users/me").ok

        page.click("#delete-account")
        page.fill("#delete-confirm-input", "DELETE")
        expect(page.locator("#delete-confirm")).to_be_enabled()
        page.click("#delete-confirm")
        page.wait_for_url(f"{dev_server.url}/?account=deleted", timeout=STEP_TIMEOUT)
        assert context.request.get(f"{dev_server.url}/api/v1/users/me").status == 401
        assert errors == []
    finally:
        context.close()
