"""Fuzzing the running product's API from its own OpenAPI document: no request, however wrong, gets a 5xx.

`yourclaw dev` runs in a child process on the tests' PostgreSQL (as the browser layer starts it). Schemathesis
generates requests for every operation the schema lists, valid ones and ones that break the schema, and each
goes out twice: with a signed-in user's token and with an assistant's token. Then every route that takes a
body, those the schema leaves out too (the Twilio webhook, the LLM proxy's Messages call), gets the bodies no
generator makes: NUL characters, deeply nested JSON, bytes that are not UTF-8. The run is bounded (examples
per operation, seconds per request), and derandomized so that a run is the same every time."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.harness.dev_server import DevServer, running_dev_server
from tests.harness.rows import make_assistant
from yourclaw.kit.crypto import SecretBox

pytestmark = pytest.mark.db

# At most, per operation and generation mode (valid, schema-breaking), each sent with both tokens: about
# 4,000 requests over the 35 operations, in well under a minute here.
MAX_EXAMPLES = 60
REQUEST_TIMEOUT = 15.0
FUZZ_BUDGET_SECONDS = 240.0
SCHEMA_PATH = "/api/v1/schema/openapi.json"
# Routes outside the schema (bare ASGI routes) that take a body all the same.
BARE_BODY_ROUTES = [
    ("POST", "/api/v1/webhooks/twilio/whatsapp", "application/x-www-form-urlencoded"),
    ("POST", "/llm/anthropic/v1/messages", "application/json"),
    ("POST", "/llm/anthropic/bg/heartbeat/v1/messages", "application/json"),
]
# Operations run last: signing out ends the user's bearer tokens for whatever would come after.
RUN_LAST = {("DELETE", "/api/v1/session"), ("DELETE", "/api/v1/users/me")}
DEEP = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
NOT_UTF8 = b'{"email": "\xff\xfe@example.com", "phone": "\xff", "text": "\xc3\x28", "model": "\xed\xa0\x80"}'
NUL_JSON = json.dumps(
    {
        key: "a\u0000b"
        for key in ("email", "phone", "text", "kind", "model", "access_token", "name", "key", "in_reply_to", "timezone")
    }
).encode()
RAW_BODIES = {"deep": DEEP, "not-utf8": NOT_UTF8, "nul-json": NUL_JSON, "nul-bytes": b"\x00" * 64}


@dataclass
class Tally:
    requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    operations_called: set[str] = field(default_factory=set)

    def count(self, what: str, status: int) -> None:
        self.requests += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if status >= 500:
            self.server_errors.append(f"{status} {what}")


@pytest.fixture(scope="module")
def fuzz_server(database_url: str) -> Iterator[tuple[DevServer, str]]:
    """The server, and its ENCRYPTION_KEY (ours, so that the test can issue an assistant token it reads)."""
    key = Fernet.generate_key().decode()
    with running_dev_server(database_url, name="yourclaw-dev-fuzz", ENCRYPTION_KEY=key) as server:
        yield server, key


def _user_headers(base_url: str) -> dict[str, str]:
    answer = httpx.post(f"{base_url}/api/v1/dev/login", json={"email": f"fuzz-{uuid.uuid4().hex[:8]}@example.com"})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _fuzz_operation(operation, mode, fixed: dict, who: tuple[dict, dict], base_url: str, tally: Tally, deadline: float):
    """Up to MAX_EXAMPLES cases of one operation in one generation mode, each sent once per token."""
    import hypothesis
    import hypothesis.errors
    from hypothesis import HealthCheck, Phase

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case) -> None:
        if time.monotonic() > deadline:
            return
        for headers in who:
            response = case.call(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT)
            tally.count(f"{case.method} {case.formatted_path} ({mode.value})", response.status_code)
        tally.operations_called.add(operation.label)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing of this operation can break its schema (no parameters, no body): there is no invalid case.
        assert mode.value == "negative", operation.label


def _fuzz_schema(base_url: str, assistant_token: str, tally: Tally, deadline: float) -> int:
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(base_url + SCHEMA_PATH)
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: (op.method.upper(), op.path) in RUN_LAST,
    )
    assistant = {"Authorization": f"Bearer {assistant_token}", "x-api-key": assistant_token}
    for operation in operations:
        user = _user_headers(base_url)  # a fresh sign-in: an earlier operation may have signed the last one out
        # A long poll waits up to a minute for nothing: the fuzz asks it not to wait.
        fixed = {"query": {"wait": 0}} if operation.path.endswith("/runtime/inbound") else {}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, fixed, (user, assistant), base_url, tally, deadline)
    return len(operations)


def _malformed_bodies(base_url: str, assistant_token: str, tally: Tally) -> None:
    """Every body-taking route, listed or bare, with each body no schema-driven generator makes."""
    spec = httpx.get(base_url + SCHEMA_PATH).json()
    routes = [
        (method.upper(), path, "application/json")
        for path, item in spec["paths"].items()
        for method in item
        if method in ("post", "put", "patch", "delete")
    ]
    routes += BARE_BODY_ROUTES
    user = _user_headers(base_url)
    assistant = {"Authorization": f"Bearer {assistant_token}", "x-api-key": assistant_token}
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
        for method, path, content_type in routes:
            concrete = path.replace("{message_id}", str(uuid.uuid4())).replace("{purpose}", "heartbeat")
            for name, body in RAW_BODIES.items():
                for who, headers in (("user", user), ("assistant", assistant)):
                    answer = http.request(
                        method,
                        concrete,
                        content=body,
                        headers={**headers, "content-type": content_type, "anthropic-version": "2023-06-01"},
                    )
                    tally.count(f"{method} {path} {name} as {who}", answer.status_code)


async def test_no_request_gets_a_server_error(fuzz_server, sessions):
    server, key = fuzz_server
    _, _, assistant_token = await make_assistant(sessions, SecretBox([key]), millicents=100_000)
    tally = Tally()
    started = time.monotonic()
    deadline = started + FUZZ_BUDGET_SECONDS
    operations = await asyncio.to_thread(_fuzz_schema, server.url, assistant_token, tally, deadline)
    await asyncio.to_thread(_malformed_bodies, server.url, assistant_token, tally)
    elapsed = time.monotonic() - started
    statuses = ", ".join(f"{status} x{n}" for status, n in sorted(tally.by_status.items()))
    print(f"\nfuzz: {tally.requests} requests over {operations} operations in {elapsed:.0f} s ({statuses})")
    assert operations >= 30, "the schema lists fewer operations than the API has"
    assert elapsed < FUZZ_BUDGET_SECONDS, "the fuzz ran out of time before it covered the API"
    assert len(tally.operations_called) == operations
    assert tally.server_errors == [], "\n".join(sorted(set(tally.server_errors)))
