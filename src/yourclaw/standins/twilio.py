"""A local stand-in for the part of Twilio's REST API we use, spoken to by the real twilio SDK.

It checks what Twilio checks (basic auth as account SID + auth token, `whatsapp:+E164` numbers, a body or
a content template, the 1600-character limit, URLs), answers with Twilio's JSON shapes and error codes,
and records every message it accepted. Like Twilio with test credentials, it refuses sends to its documented
magic recipients (`+15005550004` has unsubscribed: 21610), so a dev walk can meet a refusal too. Tests
inject failures (HTTP 500, 429, error 63016, a response lost after the message was accepted, a response held
back until released) and ask for signed status callbacks or signed inbound webhooks. `yourclaw dev`
(MOCK_TWILIO) runs one in-process.

The server runs in a thread of its own; the helpers that post to our app (`post_inbound`, `post_status`)
block, so async tests call them through `asyncio.to_thread` when the app runs in their own event loop.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

import httpx
from twilio.request_validator import RequestValidator

from yourclaw.messaging.outbound.splitting import TWILIO_BODY_LIMIT, twilio_length
from yourclaw.standins.local_server import LocalServer
from yourclaw.standins.twilio_http import MAGIC_RECIPIENTS, make_handler, twilio_error

API = "/2010-04-01/Accounts/"
WHATSAPP_ADDRESS = re.compile(r"^whatsapp:\+[1-9][0-9]{6,14}$")
DEV_ACCOUNT_SID = "AC" + "0" * 32
HOLD_TIMEOUT = 60.0


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class SentMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    content_sid: str | None
    content_variables: dict | None
    media_urls: list[str]
    status_callback: str | None
    date_created: datetime
    status: str = "queued"

    def resource(self) -> dict:
        uri = f"{API}{self.account_sid}/Messages/{self.sid}"
        created = format_datetime(self.date_created)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": created,
            "date_updated": created,
            "date_sent": None,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": str(len(self.media_urls)),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass
class _Plan:
    """What happens to one coming POST of a message."""

    kind: str  # "error": refused; "lost": accepted, answered 500; "hold": accepted, answer held; "pass"
    status: int = 201
    code: int | None = None
    message: str = ""


@dataclass
class _Media:
    data: bytes
    content_type: str


@dataclass
class TwilioStandin:
    account_sid: str = DEV_ACCOUNT_SID
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    # Statuses posted, signed, to each message's StatusCallback after it is accepted, e.g. ("sent", "delivered").
    status_callbacks: tuple[str, ...] = ()
    # Post those statuses before answering the send, as Twilio may: its callback then reaches our webhook
    # before the sender has read the message's sid from the answer.
    statuses_before_answer: bool = False
    # Seconds each send takes: widens the window in which two sends to one number would overlap.
    latency: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[SentMessage] = []
        self._plans: deque[_Plan] = deque()
        self._media: dict[str, _Media] = {}
        self._released = threading.Event()
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()
        self.attempts = 0  # valid POSTs to Messages.json, whether they then failed or not
        self._typing_shown: list[str] = []  # the MessageSid of each typing indicator accepted
        self._typing_failures = 0
        self.held = 0  # answers currently held back
        self._in_flight: dict[str, int] = {}
        # The most sends to one number that were ever in progress at once (1 when a sender serialises).
        self.max_concurrent_per_recipient = 0
        self._local = LocalServer("Twilio stand-in")

    # --- life -------------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        return self._local.start(make_handler(self), port)

    def stop(self) -> None:
        self._released.set()
        with self._http_lock:
            if self._http is not None:
                self._http.close()
                self._http = None
        self._local.stop()

    @property
    def base_url(self) -> str:
        return self._local.base_url

    # --- what tests look at and control ----------------------------------------------------------

    @property
    def messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self._messages)

    def messages_to(self, to: str) -> list[SentMessage]:
        address = to if to.startswith("whatsapp:") else f"whatsapp:{to}"
        return [m for m in self.messages if m.to == address]

    def _plan(self, plan: _Plan, count: int, after: int) -> None:
        with self._lock:
            self._plans.extend([_Plan("pass")] * after + [plan] * count)

    def fail_next(
        self, count: int = 1, *, status: int = 500, code: int | None = None, message: str = "", after: int = 0
    ) -> None:
        """Refuse the next `count` messages (after letting `after` through) with this HTTP status."""
        reason = message or _REASONS.get(status, "Error")
        self._plan(_Plan("error", status, code or _CODES.get(status, status), reason), count, after)

    def refuse_window_next(self, count: int = 1, *, after: int = 0) -> None:
        """Free-form text outside the 24-hour window (error 63016)."""
        self.fail_next(count, status=400, code=63016, message=_WINDOW_MESSAGE, after=after)

    def lose_next_response(self, count: int = 1, *, after: int = 0) -> None:
        """Accept (and record) the next messages but answer 500, as when a response is lost on the way."""
        self._plan(_Plan("lost", 500, 20500, "Internal Server Error"), count, after)

    def hold_next(self, count: int = 1, *, after: int = 0) -> None:
        """Accept the next messages but keep the answer until `release_held()` (or stop)."""
        self._released.clear()
        self._plan(_Plan("hold"), count, after)

    def release_held(self) -> None:
        self._released.set()

    @property
    def typing(self) -> list[str]:
        """The inbound MessageSid of every typing indicator shown, in order."""
        with self._lock:
            return list(self._typing_shown)

    def fail_typing_next(self, count: int = 1) -> None:
        """Answer the next typing indicators with a 500."""
        with self._lock:
            self._typing_failures += count

    def add_media(self, data: bytes, content_type: str) -> str:
        """A media URL as an inbound webhook carries it (fetching it needs our credentials)."""
        media_sid = _sid("ME")
        with self._lock:
            self._media[media_sid] = _Media(data, content_type)
        return f"{self.base_url}{API}{self.account_sid}/Messages/{_sid('MM')}/Media/{media_sid}"

    def sign(self, url: str, params: dict[str, str]) -> str:
        return RequestValidator(self.auth_token).compute_signature(url, params)

    def post_signed(self, url: str, params: dict[str, str]) -> httpx.Response:
        headers = {"X-Twilio-Signature": self.sign(url, params)}
        # One kept-alive client: a new one per callback builds a TLS context each time (costly).
        with self._http_lock:
            if self._http is None:
                self._http = httpx.Client(timeout=10.0)
            http = self._http
        return http.post(url, data=params, headers=headers)

    def post_inbound(
        self,
        url: str,
        from_phone: str,
        body: str = "",
        *,
        to: str = "whatsapp:+14155238886",
        media: list[tuple[bytes, str]] = (),
        profile_name: str | None = "Test User",
        message_sid: str | None = None,
        button_payload: str | None = None,
    ) -> tuple[str, httpx.Response]:
        """Twilio delivering a user's WhatsApp message to our webhook: returns its MessageSid and our answer.
        With `button_payload`, a tap on a quick-reply button (its title is the body, as WhatsApp sends it)."""
        sid = message_sid or _sid("SM")
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.account_sid,
            "From": f"whatsapp:{from_phone}",
            "To": to,
            "Body": body,
            "NumMedia": str(len(media)),
            "WaId": from_phone.lstrip("+"),
            "ApiVersion": "2010-04-01",
        }
        if profile_name:
            params["ProfileName"] = profile_name
        if button_payload is not None:
            params["ButtonPayload"] = button_payload
            params["ButtonText"] = body
        for index, (data, content_type) in enumerate(media):
            params[f"MediaUrl{index}"] = self.add_media(data, content_type)
            params[f"MediaContentType{index}"] = content_type
        return sid, self.post_signed(url, params)

    def post_status(self, sid: str, status: str, *, error_code: int | None = None) -> int:
        """A signed status callback for an accepted message; returns our webhook's HTTP status."""
        message = next((m for m in self.messages if m.sid == sid), None)
        if message is None or not message.status_callback:
            raise LookupError(f"no accepted message {sid} with a StatusCallback")
        message.status = status
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": self.account_sid,
            "From": message.from_,
            "To": message.to,
            "ApiVersion": "2010-04-01",
            "ChannelPrefix": "whatsapp",
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self.post_signed(message.status_callback, params).status_code

    # --- the API ----------------------------------------------------------------------------------

    def _authorized(self, header: str | None, account_sid: str) -> bool:
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (
            hmac.compare_digest(user.encode(), self.account_sid.encode())
            and hmac.compare_digest(password.encode(), self.auth_token.encode())
            and account_sid == self.account_sid
        )

    @contextmanager
    def _sending_to(self, to: str) -> Iterator[None]:
        with self._lock:
            self._in_flight[to] = self._in_flight.get(to, 0) + 1
            self.max_concurrent_per_recipient = max(self.max_concurrent_per_recipient, self._in_flight[to])
        try:
            if self.latency:
                time.sleep(self.latency)
            yield
        finally:
            with self._lock:
                self._in_flight[to] -= 1

    def _create(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        def one(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        to, from_, body, content_sid = one("To"), one("From"), one("Body"), one("ContentSid")
        media_urls = form.get("MediaUrl", [])
        callback = one("StatusCallback")
        if not to or not WHATSAPP_ADDRESS.match(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not from_ or not WHATSAPP_ADDRESS.match(from_):
            return twilio_error(400, 21212, f"The 'From' number {from_} is not a valid phone number.")
        if not body and not content_sid and not media_urls:
            return twilio_error(400, 21619, "A text message body or media urls must be specified.")
        if body and twilio_length(body) > TWILIO_BODY_LIMIT:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if any(urlsplit(url).scheme not in ("http", "https") for url in media_urls) or len(media_urls) > 10:
            return twilio_error(400, 21620, "Invalid media URL(s).")
        if callback and urlsplit(callback).scheme not in ("http", "https"):
            return twilio_error(400, 21609, "Invalid StatusCallback url.")
        variables = None
        if content_sid:
            if not re.fullmatch(r"HX[0-9a-f]{32}", content_sid):
                return twilio_error(400, 21655, "The ContentSid is Invalid.")
            try:
                variables = json.loads(one("ContentVariables") or "{}")
            except ValueError:
                variables = None
            if not isinstance(variables, dict):
                return twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
            body = f"[{content_sid}] " + " | ".join(str(v) for v in variables.values())

        with self._lock:
            self.attempts += 1
            if magic := MAGIC_RECIPIENTS.get(to.removeprefix("whatsapp:")):
                return twilio_error(400, *magic)
            plan = self._plans.popleft() if self._plans else _Plan("pass")
            if plan.kind == "error":
                return twilio_error(plan.status, plan.code, plan.message)
            message = SentMessage(
                sid=_sid("SM"),
                account_sid=self.account_sid,
                to=to,
                from_=from_,
                body=body or "",
                content_sid=content_sid,
                content_variables=variables,
                media_urls=list(media_urls),
                status_callback=callback,
                date_created=datetime.now(UTC).replace(microsecond=0),
            )
            self._messages.append(message)
            if plan.kind == "hold":
                self.held += 1
        if plan.kind == "hold":
            self._released.wait(HOLD_TIMEOUT)
            with self._lock:
                self.held -= 1
        if plan.kind == "lost":
            return twilio_error(plan.status, plan.code, plan.message)
        answer = message.resource()  # the status at acceptance, whatever the callbacks say next
        if callback and self.status_callbacks and self.statuses_before_answer:
            self._post_statuses(message.sid)
        elif callback and self.status_callbacks:
            threading.Thread(target=self._post_statuses, args=(message.sid,), daemon=True).start()
        return 201, answer

    def _post_statuses(self, sid: str) -> None:
        for status in self.status_callbacks:
            try:
                self.post_status(sid, status)
            except (httpx.HTTPError, LookupError):
                return

    def _typing(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        """Twilio's checks: channel whatsapp, a message SID (SM or MM) of a conversation; answers `success`."""
        channel, message_id = form.get("channel", [""])[0], form.get("messageId", [""])[0]
        if channel != "whatsapp":
            return twilio_error(400, 20001, "Invalid channel")
        if not re.fullmatch(r"(SM|MM)[0-9a-fA-F]{32}", message_id):
            return twilio_error(400, 20001, "Invalid messageId")
        with self._lock:
            if self._typing_failures:
                self._typing_failures -= 1
                return twilio_error(500, 20500, "Internal Server Error")
            self._typing_shown.append(message_id)
        return 200, {"success": True}

    def _list(self, query: dict[str, list[str]]) -> dict:
        to, from_ = query.get("To", [None])[0], query.get("From", [None])[0]
        page_size = int(query.get("PageSize", ["50"])[0])
        found = [m for m in reversed(self.messages) if (not to or m.to == to) and (not from_ or m.from_ == from_)]
        return {
            "messages": [m.resource() for m in found[:page_size]],
            "page": 0,
            "page_size": page_size,
            "start": 0,
            "end": max(0, min(page_size, len(found)) - 1),
            "first_page_uri": f"{API}{self.account_sid}/Messages.json?PageSize={page_size}&Page=0",
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": f"{API}{self.account_sid}/Messages.json?PageSize={page_size}&Page=0",
        }


_REASONS = {500: "Internal Server Error", 429: "Too Many Requests", 503: "Service Unavailable"}
_CODES = {500: 20500, 429: 20429, 503: 20503}
_WINDOW_MESSAGE = (
    "Failed to send freeform message because you are outside the allowed window. "
    "If you are using WhatsApp, please use a Message Template."
)
