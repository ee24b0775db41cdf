"""The whole product with a real OpenClaw: a new user signs in, links their WhatsApp number, pays, and talks to
their own assistant in a real container on a real Docker engine over mutual TLS; it remembers them, writes
first on a schedule, follows a model change in place, switches to their own Anthropic key without ever
seeing it, survives an image upgrade with its memory, and stops when they cancel. Only Anthropic, Twilio
and Stripe are local standins (spoken to by our proxy and the real SDKs).

Run with `-s` to see the figures (start-up split, reply times, memory, model change)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.harness.journey import Figures, walk
from tests.harness.journey_support import User, containers_of, describe_calls, docker_call, dump_calls, message_calls
from tests.harness.settings import PROJECT_ROOT

pytestmark = pytest.mark.e2e

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "e2e"


@pytest.mark.timeout(1800)
async def test_a_new_user_end_to_end(control_plane) -> None:
    cp = control_plane
    figures = Figures()
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=cp.url, timeout=30) as http:
        user = User(cp, http)
        try:
            await walk(user, figures)
        except BaseException:
            print("\n==== LLM calls ====\n" + "\n".join(describe_calls(message_calls(cp.llm))))
            dump_calls(cp.llm, ARTIFACTS / "llm-calls.json")
            await _print_container_logs(user)
            raise
        finally:
            figures.values["whole journey"] = time.monotonic() - started
            figures.print()


async def _print_container_logs(user: User, lines: int = 60) -> None:
    """What the assistant said about itself, for a failed run."""
    if user.user_id is None:
        return
    oc = user.cp.oc
    for container in await docker_call(containers_of, oc, user.user_id):
        tail = await docker_call(oc.client.api.logs, container, tail=lines)
        print(f"\n==== last {lines} log lines of {container[:12]} ====\n{tail.decode(errors='replace')}")
