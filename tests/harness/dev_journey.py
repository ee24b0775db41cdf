"""A newcomer's journey on `yourclaw dev` over HTTP, as the dashboard walks it: sign in (cookie session), enter
the number, verify it from the simulator, pay on the Stripe stand-in, wait for READY, chat."""

from __future__ import annotations

import httpx

from tests.harness.waiting import wait_for

PHONE = "+14155552671"


class Newcomer:
    def __init__(self, client: httpx.AsyncClient, email: str, phone: str = PHONE) -> None:
        self.client, self.email, self.phone = client, email, phone
        self.headers: dict[str, str] = {}

    async def sign_in(self) -> None:
        token = (await self.client.post("/api/v1/dev/login", json={"email": self.email})).json()["access_token"]
        session = await self.client.post("/api/v1/session", json={"access_token": token})
        assert session.status_code == 200, session.text
        self.headers = {"X-CSRF-Token": session.json()["csrf_token"]}

    async def whatsapp(self, text: str) -> None:
        sent = await self.client.post("/api/v1/dev/simulator/messages", json={"text": text}, headers=self.headers)
        assert sent.status_code == 202, sent.text

    async def verify(self) -> None:
        phone = await self.client.post("/api/v1/users/me/phone", json={"phone": self.phone}, headers=self.headers)
        assert phone.status_code == 200, phone.text
        await self.whatsapp(phone.json()["verification"]["message"])

        async def verified() -> bool:
            me = (await self.client.get("/api/v1/users/me")).json()
            return bool((me.get("phone") or {}).get("verified"))

        await wait_for(verified, timeout=30, message="the number verified")

    async def verify_and_pay(self) -> None:
        await self.verify()
        checkout = await self.client.post("/api/v1/checkout", headers=self.headers)
        assert checkout.status_code == 200, checkout.text
        paid = await self.client.post(checkout.json()["checkout_url"] + "/pay")
        assert paid.status_code < 400, paid.text

        async def ready() -> bool:
            return (await self.client.get("/api/v1/assistants")).json().get("status") == "READY"

        await wait_for(ready, timeout=60, message="the assistant READY")

    async def chat(self, text: str) -> None:
        """Sends `text` and waits for the stand-in assistant's answer (it echoes the text)."""
        await self.whatsapp(text)

        async def answered() -> bool:
            page = (await self.client.get("/api/v1/messages")).json()["messages"]
            return any(m["direction"] == "OUTBOUND" and text in m["body"] for m in page)

        await wait_for(answered, timeout=60, message="the assistant's answer")
