"""OpenClaw's own scheduled work inside a real assistant container, driven as an operator would: the
`openclaw cron` CLI through `docker exec` (the jobs, their runs on demand, the heartbeat's checklist). Shared by
tests/e2e and bench/idle_cost.py. Docker calls block: call these through `docker_call` (`wait_log` is async)."""

from __future__ import annotations

import json
import re

from tests.harness.journey_support import OpenClawEngine, docker_call, run_in
from tests.harness.waiting import wait_for

# The jobs the gateway declares for itself (`declarationKey`).
HEARTBEAT = "heartbeat:main"
DREAMING = "memory-core:memory-dreaming-promotion"
SKILL_REVIEW = "skill-collection-review:main"
# What the image's start-up step logs (infra/image/start/heartbeat-checklist.mjs).
CHECKLIST_LOG = "[yourclaw] heartbeat checklist: "


def openclaw(oc: OpenClawEngine, container: str, *args: str, exit_codes: tuple[int, ...] = (0,)) -> dict:
    """One `openclaw ... --json` in the container; its JSON answer."""
    code, out, err = run_in(oc, container, "openclaw", *args, "--json")
    text = out.decode()
    failed = f"openclaw {' '.join(args)} failed ({code}): {text[-800:]} {err.decode()[-800:]}"
    assert code in exit_codes and "{" in text, failed
    return json.JSONDecoder().raw_decode(text[text.index("{") :])[0]


def jobs(oc: OpenClawEngine, container: str) -> list[dict]:
    return openclaw(oc, container, "cron", "list", "--all")["jobs"]


def job(oc: OpenClawEngine, container: str, declaration: str) -> dict | None:
    return next((j for j in jobs(oc, container) if j.get("declarationKey") == declaration), None)


def job_named(oc: OpenClawEngine, container: str, name: str) -> dict | None:
    return next((j for j in jobs(oc, container) if j.get("name") == name), None)


def get_job(oc: OpenClawEngine, container: str, job_id: str) -> dict:
    return openclaw(oc, container, "cron", "get", job_id)


def run_job(oc: OpenClawEngine, container: str, job_id: str, wait: str = "5m") -> dict:
    """Runs a job now and waits for its end: the run's record (`status`, `error`)."""
    # A run that was skipped (a heartbeat with nothing to check) exits 1 with its record all the same.
    answer = openclaw(
        oc, container, "cron", "run", job_id, "--wait", "--poll-interval", "500ms", "--wait-timeout", wait,
        exit_codes=(0, 1),
    )  # fmt: skip
    assert answer.get("completed") is True, answer
    return answer.get("run", answer)


def checklist(oc: OpenClawEngine, container: str, job_id: str) -> str | None:
    """The heartbeat's checklist (its monitor scratch), None when it has none."""
    scratch = openclaw(oc, container, "cron", "scratch", job_id)["scratch"]
    return None if scratch is None else scratch["content"]


def effectively_empty(text: str) -> bool:
    """What OpenClaw skips a heartbeat for: nothing but headings, comments and blank lines."""
    bare = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    return all(not line.strip() or line.lstrip().startswith("#") for line in bare.splitlines())


def set_checklist(oc: OpenClawEngine, container: str, job_id: str, text: str | None) -> None:
    """Replaces the checklist; None removes it."""
    args = ("--unset",) if text is None else ("--set", text)
    openclaw(oc, container, "cron", "scratch", job_id, *args)


def logs_since(oc: OpenClawEngine, container: str, since: float) -> str:
    since_args = {"since": int(since)} if since > 0 else {}  # docker-py refuses 0
    return oc.client.api.logs(container, **since_args).decode(errors="replace")


async def wait_log(oc: OpenClawEngine, container: str, needle: str, *, since: float = 0, timeout: float = 300) -> str:
    """The first log line from `since` on (wall clock, whole seconds) containing `needle`."""

    async def found() -> str | None:
        text = await docker_call(logs_since, oc, container, since)
        return next((line for line in text.splitlines() if needle in line), None)

    return await wait_for(found, timeout=timeout, interval=0.5, message=f"a log line with {needle!r}")
