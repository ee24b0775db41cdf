"""Signed Twilio WhatsApp webhooks as raw HTTP/1.1 requests, built before a phase so that signing costs the
load generator nothing while it measures."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

WEBHOOK_PATH = "/api/v1/webhooks/twilio/whatsapp"
TWILIO_NUMBER = "whatsapp:+14155238886"


class Webhooks:
    """Signed Twilio WhatsApp webhooks with unique MessageSids from a set of numbers, as raw HTTP/1.1 requests.
    Signed with the twilio SDK's own RequestValidator (what Twilio does, what `serve` checks)."""

    def __init__(self, api_url: str, auth_token: str, account_sid: str, phones: list[str]) -> None:
        self.url = api_url.rstrip("/") + WEBHOOK_PATH
        self.host = api_url.split("://", 1)[1].rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.account_sid = account_sid
        self.phones = phones
        self.run = secrets.token_hex(6)
        self.count = 0

    def build(self, from_phone: str | None = None, text: str | None = None) -> bytes:
        self.count += 1
        n = self.count
        phone = from_phone or self.phones[n % len(self.phones)]
        sid = f"SM{self.run}{n:020x}"
        params = {
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ProfileName": f"Bench {n % 1000}",
            "MessageType": "text",
            "SmsSid": sid,
            "WaId": phone.lstrip("+"),
            "SmsStatus": "received",
            "Body": text or f"Hi! Can you remind me to call the dentist tomorrow at 10? ({n})",
            "To": TWILIO_NUMBER,
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:{phone}",
            "ApiVersion": "2010-04-01",
        }
        signature = self.validator.compute_signature(self.url, params)
        body = urlencode(params).encode()
        head = (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: TwilioProxy/1.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nX-Twilio-Signature: {signature}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    def batch(self, n: int) -> list[bytes]:
        return [self.build() for _ in range(n)]
