"""Helpers for the end-to-end journey: what a user, Twilio, Stripe and an operator do to the control plane,
and what the test reads back from the standins, the database and the Docker engine. Docker calls block, and
the API under test runs in the test's own event loop, so they run in threads."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import subprocess
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import docker
import httpx
from sqlalchemy import func, select

from tests.harness.dockerd import TlsDockerd
from tests.harness.waiting import wait_for
from yourclaw.db.models import Assistant, CreditLedgerEntry, InboundMessage, UserPhone
from yourclaw.kit.settings import Settings
from yourclaw.llm import catalog
from yourclaw.runtime.container_spec import DATA_DIR, HOME, LABEL_USER, volume_name
from yourclaw.runtime.reconciler import Reconciler
from yourclaw.standins.anthropic import AnthropicStandin, RecordedRequest
from yourclaw.standins.google import GoogleStandin
from yourclaw.standins.stripe import StripeStandin
from yourclaw.standins.twilio import SentMessage, TwilioStandin

# Keys a real deployment would hold: random per run, so finding one anywhere is never a coincidence.
SHARED_KEY = "sk-ant-e2e-shared-" + secrets.token_urlsafe(32)
OWN_KEY = "sk-ant-e2e-own-" + secrets.token_urlsafe(32)
# What the standin Anthropic reports for every call: every field the price table knows, none of them round.
USAGE = {"input_tokens": 1234, "output_tokens": 56, "cache_creation_input_tokens": 78, "cache_read_input_tokens": 910}
WHATSAPP_WEBHOOK = "/api/v1/webhooks/twilio/whatsapp"
# OpenClaw at 1 CPU: cold start 28-51 s, the first turn 12-16 s; on a shared, busy machine, several times that.
READY_TIMEOUT = 300.0
TURN_TIMEOUT = 240.0
STEP_TIMEOUT = 120.0


class TimedAnthropicStandin(AnthropicStandin):
    """The standin, noting when each call arrived (where a turn's time goes: before the model call or after)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._arrivals: dict[int, float] = {}

    def _record(self, request: RecordedRequest) -> None:
        self._arrivals[id(request)] = time.time()
        super()._record(request)

    def arrived_at(self, request: RecordedRequest) -> float:
        return self._arrivals[id(request)]


@dataclass(frozen=True)
class OpenClawEngine:
    tls_dir: Path
    engine: TlsDockerd
    socket_url: str  # for the docker CLI (build.sh, `docker stats`)
    client: docker.DockerClient
    image: str
    upgrade_image: str
    gateway: str  # the managed network's gateway: where containers reach the control plane


@dataclass
class ControlPlane:
    settings: Settings
    url: str
    sessions: object
    reconciler: Reconciler
    oc: OpenClawEngine
    twilio: TwilioStandin
    stripe: StripeStandin
    llm: TimedAnthropicStandin
    google: GoogleStandin | None = None


@dataclass
class Reply:
    message: SentMessage
    seen_at: float  # wall clock, when the test saw Twilio had it


@dataclass
class Turn:
    asked_at: float
    call_at: float  # when the standin model got the agent's call
    reply: Reply
    call: RecordedRequest  # the LLM call that carried the user's text
    calls: list[RecordedRequest]  # every LLM call made during the turn
    messages: list[SentMessage]  # what reached Twilio during the turn

    @property
    def seconds(self) -> float:
        return self.reply.seen_at - self.asked_at


@dataclass
class User:
    """One person walking through the product, and what the test keeps about them."""

    cp: ControlPlane
    http: httpx.AsyncClient
    # 415-555-xxxx: a number that is valid for its country, as the phone form checks.
    phone: str = field(default_factory=lambda: f"+1415555{uuid.uuid4().int % 10**4:04d}")
    headers: dict[str, str] = field(default_factory=dict)
    user_id: uuid.UUID | None = None

    # --- the product's surfaces ------------------------------------------------------------------

    async def api(self, method: str, path: str, expect: int, **kwargs) -> dict | None:
        response = await self.http.request(method, f"/api/v1{path}", headers=self.headers, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    async def sign_in(self) -> None:
        email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
        body = (await self.http.post("/api/v1/dev/login", json={"email": email})).json()
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}
        self.user_id = uuid.UUID(body["user_id"])

    async def whatsapp(self, text: str) -> float:
        """Twilio delivering a WhatsApp message from this user, signed; returns when it was posted."""
        at = time.time()
        url = self.cp.settings.api_url + WHATSAPP_WEBHOOK
        _, response = await asyncio.to_thread(self.cp.twilio.post_inbound, url, self.phone, text)
        assert response.status_code == 200, response.text
        return at

    def received(self) -> list[SentMessage]:
        """What Twilio was asked to send to this user, in order."""
        return self.cp.twilio.messages_to(self.phone)

    async def wait_message(self, containing: str, *, after: int, timeout: float = TURN_TIMEOUT) -> Reply:
        """The first message to this user past the first `after` whose body contains `containing`."""

        def found() -> SentMessage | None:
            return next((m for m in self.received()[after:] if containing in m.body), None)

        try:
            message = await wait_for(found, timeout=timeout, interval=0.05, message=f"a WhatsApp with {containing!r}")
        except AssertionError as exc:
            bodies = [m.body[:300] for m in self.received()[after:]]
            raise AssertionError(f"{exc}; sent to the user meanwhile: {bodies}") from None
        return Reply(message, time.time())

    async def turn(self, text: str, answer: str) -> Turn:
        """One exchange: the standin model will answer `answer` (to every call meanwhile: OpenClaw's own side
        calls included), the user writes `text`; returns once the answer reached Twilio, with the LLM calls
        made meanwhile."""
        llm = self.cp.llm
        llm.reply = answer
        sent, calls = len(self.received()), len(llm.message_requests())
        asked = await self.whatsapp(text)
        reply = await self.wait_message(answer, after=sent)
        made = llm.message_requests()[calls:]
        # The agent's own call, not the utility model's recap of the turn (which quotes the text too).
        carrying = [c for c in made if text in last_user_text(c) and c.json().get("tools")]
        asking = carrying[0] if carrying else None
        assert asking is not None, f"no LLM call carried {text!r}: {describe_calls(made)}"
        return Turn(asked, llm.arrived_at(asking), reply, asking, made, self.received()[sent:])

    async def pay(self) -> float:
        """Checkout through our API, "Pay $20" on Stripe's page (which delivers the signed webhooks before it
        redirects); returns when the webhooks had been delivered."""
        checkout = await self.api("POST", "/checkout", 200)
        async with httpx.AsyncClient(timeout=60) as browser:
            paid = await browser.post(checkout["checkout_url"] + "/pay")
        assert paid.status_code in (302, 303), paid.text
        assert all(status == 200 for _, status in self.cp.stripe.deliveries), self.cp.stripe.deliveries
        return time.time()

    async def cancel_in_portal(self) -> None:
        portal = await self.api("POST", "/billing/portal", 200)
        async with httpx.AsyncClient(timeout=60) as browser:
            done = await browser.post(portal["portal_url"].rstrip("/") + "/cancel")
        assert done.status_code in (302, 303), done.text

    # --- the database ------------------------------------------------------------------------------

    async def assistant(self) -> Assistant | None:
        async with self.cp.sessions() as session:
            return await session.scalar(select(Assistant).where(Assistant.user_id == self.user_id))

    async def phone_verified(self) -> bool:
        async with self.cp.sessions() as session:
            verified = await session.scalar(select(UserPhone.verified_at).where(UserPhone.user_id == self.user_id))
        return verified is not None

    async def inbound_bodies(self) -> list[str]:
        async with self.cp.sessions() as session:
            rows = await session.scalars(
                select(InboundMessage.body)
                .where(InboundMessage.user_id == self.user_id)
                .order_by(InboundMessage.received_at)
            )
            return list(rows)

    async def llm_charged(self) -> int:
        """Millicents charged for LLM calls (the proxy's ledger rows)."""
        async with self.cp.sessions() as session:
            total = await session.scalar(
                select(func.coalesce(func.sum(-CreditLedgerEntry.delta_millicents), 0)).where(
                    CreditLedgerEntry.user_id == self.user_id, CreditLedgerEntry.reference.like("llm:%")
                )
            )
        return int(total)

    async def ready(self, *, other_than: str | None = None, timeout: float = READY_TIMEOUT) -> Assistant:
        async def check() -> Assistant | None:
            row = await self.assistant()
            fresh = row is not None and row.container_id and row.container_id != other_than
            return row if fresh and row.status == "READY" and row.phase == "ready" else None

        return await wait_for(check, timeout=timeout, interval=0.05, message="the assistant to be READY")


# --- the standin Anthropic ---------------------------------------------------------------------------------


def message_calls(llm: AnthropicStandin) -> list[RecordedRequest]:
    return llm.message_requests()


def expected_charge(llm: AnthropicStandin, key: str) -> int:
    """What the calls made with `key` cost, each from the usage the standin reported for it (as Anthropic
    bills: per call, rounded up per call)."""
    return sum(
        catalog.cost_millicents(
            call.json()["model"],
            input_tokens=USAGE["input_tokens"],
            output_tokens=USAGE["output_tokens"],
            cache_creation_tokens=USAGE["cache_creation_input_tokens"],
            cache_read_tokens=USAGE["cache_read_input_tokens"],
        )
        for call in message_calls(llm)
        if call.headers.get("x-api-key") == key
    )


def texts(call: RecordedRequest) -> list[tuple[str, str]]:
    """(role, text) of every message in a call, text blocks joined."""
    return body_texts(call.json())


def body_texts(body: dict) -> list[tuple[str, str]]:
    out = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
        out.append((message.get("role", ""), str(content)))
    return out


def split_latest(call: RecordedRequest) -> tuple[list[tuple[str, str]], str]:
    """(the history, the latest input): OpenClaw sends the user's text and its own context for the turn as
    consecutive user messages after the last assistant message."""
    return split_body(call.json())


def split_body(body: dict) -> tuple[list[tuple[str, str]], str]:
    messages = body_texts(body)
    start = len(messages)
    while start > 0 and messages[start - 1][0] == "user":
        start -= 1
    return messages[:start], "\n".join(text for _, text in messages[start:])


def last_user_text(call: RecordedRequest) -> str:
    return split_latest(call)[1]


def dump_calls(llm: AnthropicStandin, path: Path) -> None:
    """Every call's body (never its headers: the key is there), for a failed run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([call.json() for call in llm.message_requests()], indent=1))


def describe_calls(calls: list[RecordedRequest]) -> list[str]:
    """Model, key (which one, never its value) and the tail of the last user message of each call."""
    out = []
    for call in calls:
        body = call.json()
        key = {SHARED_KEY: "shared", OWN_KEY: "own"}.get(call.headers.get("x-api-key", ""), "other")
        last = last_user_text(call)[-160:]
        out.append(f"{body.get('model')} key={key} messages={len(body.get('messages', []))} last={last!r}")
    return out


# --- the Docker engine ----------------------------------------------------------------------------------


async def docker_call(fn, *args, **kwargs):
    return await asyncio.to_thread(fn, *args, **kwargs)


def inspect(oc: OpenClawEngine, container_id: str) -> dict:
    return oc.client.api.inspect_container(container_id)


def run_in(oc: OpenClawEngine, container_id: str, *cmd: str) -> tuple[int, bytes, bytes]:
    """`docker exec` as the container's own user: (exit code, stdout, stderr)."""
    exec_id = oc.client.api.exec_create(container_id, list(cmd), stdout=True, stderr=True)["Id"]
    out, err = oc.client.api.exec_start(exec_id, demux=True)
    return oc.client.api.exec_inspect(exec_id)["ExitCode"], out or b"", err or b""


def key_sightings(oc: OpenClawEngine, container_id: str, keys: tuple[str, ...]) -> list[str]:
    """Where in the container any of `keys` can be found: the files under its home (the volume, the
    state cache) and /tmp, the environment of every process, and the container's configured environment.
    The files are taken out with tar and searched here, so no key is ever handed to the container."""
    found = []
    # Node's compile cache (V8 code of OpenClaw's modules) is written while the gateway runs; read as it grows,
    # the archive can come out cut short.
    tar_args = ("tar", "-cf", "-", "--ignore-failed-read", "--exclude=*/compile-cache", HOME, "/tmp")
    code, archive, err = run_in(oc, container_id, *tar_args)
    assert code in (0, 1) and archive, f"tar of the container's files failed ({code}): {err[-500:]!r}"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()
            found += [f"file /{member.name}" for key in keys if key.encode() in data]
    script = 'for f in /proc/[0-9]*/environ; do cat "$f" 2>/dev/null; printf "\\n"; done'
    _, environ, _ = run_in(oc, container_id, "sh", "-c", script)
    found += ["a process environment" for key in keys if key.encode() in environ]
    configured = "\n".join(inspect(oc, container_id)["Config"].get("Env") or [])
    found += ["the container's Env" for key in keys if key in configured]
    return found


def file_in(oc: OpenClawEngine, container_id: str, path: str) -> str | None:
    code, out, _ = run_in(oc, container_id, "cat", path)
    return out.decode() if code == 0 else None


def write_in(oc: OpenClawEngine, container_id: str, path: str, text: str) -> None:
    code, _, err = run_in(oc, container_id, "sh", "-c", f"printf '%s' '{text}' > {path}")
    assert code == 0, err


def memory_usage(oc: OpenClawEngine, container_id: str) -> str:
    """`docker stats --no-stream` as an operator would read it (the used part)."""
    done = subprocess.run(
        ["docker", "--host", oc.socket_url, "stats", "--no-stream", "--format", "{{.MemUsage}}", container_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.split("/")[0].strip() or done.stderr.strip()


def log_lines(oc: OpenClawEngine, container_id: str) -> list[tuple[datetime, str]]:
    """The container's log with the engine's timestamps."""
    raw = oc.client.api.logs(container_id, timestamps=True).decode(errors="replace")
    lines = []
    for line in raw.splitlines():
        stamp, _, text = line.partition(" ")
        try:
            lines.append((datetime.fromisoformat(stamp[:26] + "+00:00"), text))
        except ValueError:
            continue
    return lines


def first_log(lines: list[tuple[datetime, str]], *needles: str) -> float | None:
    """Wall-clock time of the first line containing any of `needles`."""
    for at, text in lines:
        if any(n in text for n in needles):
            return at.timestamp()
    return None


def docker_time(value: str) -> float:
    """An engine timestamp (RFC 3339 with nanoseconds) as wall-clock seconds."""
    head, _, _ = value.partition(".")
    fraction = value[len(head) + 1 :].rstrip("Z")[:6] if "." in value else "0"
    return datetime.fromisoformat(f"{head}.{fraction.ljust(6, '0')}+00:00").timestamp()


def containers_of(oc: OpenClawEngine, user_id: uuid.UUID) -> list[str]:
    found = oc.client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL_USER}={user_id}"})
    return [c.id for c in found]


def volume_exists(oc: OpenClawEngine, user_id: uuid.UUID) -> bool:
    try:
        oc.client.volumes.get(volume_name(user_id))
    except docker.errors.NotFound:
        return False
    return True


WORKSPACE = f"{DATA_DIR}/workspace"
