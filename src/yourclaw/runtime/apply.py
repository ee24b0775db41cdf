"""Carrying out the planner's actions. Each is idempotent (find-by-name before create, 404 on remove counts
as done) and owns its own short transaction, so one failure stays with its assistant."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import structlog
from docker.errors import APIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.models import Assistant, HostServer
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp
from yourclaw.observability import metrics
from yourclaw.protocol import tokens
from yourclaw.runtime import openclaw_config, planner
from yourclaw.runtime import repository as repo
from yourclaw.runtime.container_spec import container_name
from yourclaw.runtime.desired import render, render_pool
from yourclaw.runtime.host_client import HostClient, HostUnavailable

log = structlog.get_logger(__name__)
# A pool container's warm-up: wait for its gateway (alive), then one agent turn in a session of its own,
# through the gateway, so the gateway process does OpenClaw's lazy first-turn setup. Its model call carries
# the placeholder token, which the proxy answers locally (`llm.warmup`).
WARMUP_SESSION = "yourclaw-warmup"
WARMUP_COMMAND = [
    "/bin/sh",
    "-c",
    # An image without OpenClaw's CLI (a stand-in's) has nothing to warm: it fails at once, not after a wait.
    "command -v openclaw >/dev/null || exit 5; "
    "i=0; until node -e \"fetch('http://127.0.0.1:18789/healthz').then(r=>r.json())"
    '.then(b=>process.exit(b.ok===true?0:1),()=>process.exit(1))"; do i=$((i+1)); [ $i -gt 90 ] && exit 3; '
    "sleep 2; done; "
    f"for t in 1 2 3; do openclaw agent --session-id {WARMUP_SESSION} --message 'Reply with ok.' --timeout 240 "
    ">/dev/null 2>&1 && exit 0; sleep 5; done; exit 4",
]
WARMUP_DEADLINE = timedelta(minutes=5)
WARMUP_RETRY = timedelta(minutes=1)


@dataclass
class WarmState:
    """Which pool containers ran their warm-up turn, and which are at it (or failed it lately). Kept by the
    reconciler in memory: lost with it, which only means a warm-up runs again."""

    warmed: set[str] = field(default_factory=set)
    held_until: dict[str, float] = field(default_factory=dict)  # container id -> monotonic deadline

    def warming(self, now: float) -> frozenset[str]:
        self.held_until = {cid: until for cid, until in self.held_until.items() if until > now}
        return frozenset(self.held_until)


# The first WhatsApp message: it is here, and what to ask it, in two lines (the dashboard's "What your
# assistant can do" says the same). Harnesses wait for the first line.
READY_TEXT = "Your assistant is ready! Say hi."
READY_MESSAGE = (
    f"{READY_TEXT}\n"
    "Ask it for a reminder (“remind me at 9 to call the dentist”), to tell you when something happens "
    "(“tell me if it will rain tomorrow”), or send it a photo to read."
)
MAX_RESTART_DELAY = timedelta(minutes=5)


@dataclass
class HostHandle:
    row_id: uuid.UUID
    client: HostClient
    limiter: anyio.CapacityLimiter
    # Sized from the engine's CPUs when first needed (see `bring_back`).
    _start_slots: anyio.CapacityLimiter | None = field(default=None, init=False)

    async def call(self, fn: Callable, *args):
        return await anyio.to_thread.run_sync(lambda: fn(*args), limiter=self.limiter)

    async def bring_back(self, container_id: str, *, restart: bool = False) -> None:
        """Starts a stopped container again (restarts one with `restart`), one per two engine CPUs at a time.
        A start costs its engine about 0.3 CPU-seconds in about a quarter of a second (dockerd, containerd,
        runc and the kernel's namespaces and mounts work side by side): it keeps more than one CPU busy. All
        of a burst at once (a host's assistants after a crash) share the CPUs and every user waits as long
        as the last; in turns, the first are back soonest. A first start is not held back: the cold start
        that follows it dwarfs the wait, and a batch of new assistants is done sooner all at once."""
        if self._start_slots is None:
            cpus = await self.call(self.client.cpus)
            if self._start_slots is None:
                self._start_slots = anyio.CapacityLimiter(max(1, cpus // 2))
        async with self._start_slots:
            await self.call(self.client.restart if restart else self.client.start, container_id)


def _short_error(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        detail = exc.explanation or str(exc)
        return f"the Docker engine refused: {detail}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


class Applier:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        secrets: SecretBox,
        hosts: dict[uuid.UUID, HostHandle],
        host_rows: dict[uuid.UUID, HostServer],
        rows: dict[uuid.UUID, Assistant],
        token_for: dict[uuid.UUID, str],
        now: datetime,
        timezone_for: dict[uuid.UUID, str | None] | None = None,
        warm_state: WarmState | None = None,
        google_for: dict[uuid.UUID, tuple[str, ...]] | None = None,
        failed_starts: dict[uuid.UUID, planner.StartFailures] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.secrets = secrets
        self.hosts = hosts
        self.host_rows = host_rows
        self.rows = rows
        self.token_for = token_for
        self.now = now
        self.timezone_for = timezone_for or {}
        self.warm_state = warm_state or WarmState()
        # Per user: the Google services connected now (the config names our MCP server while there are any).
        self.google_for = google_for or {}
        # The reconciler's, kept across passes (in memory: lost with it, which only restarts the count).
        self.failed_starts = failed_starts if failed_starts is not None else {}

    async def _update(self, assistant_id: uuid.UUID, **values) -> None:
        async with self.sessions() as session, session.begin():
            await repo.update_assistant(session, assistant_id, **values)

    async def run(self, action: planner.Action) -> None:
        kind = type(action).__name__
        try:
            await self._dispatch(action)
            metrics.RECONCILE_ACTIONS.labels(kind, "ok").inc()
            if isinstance(action, planner.Create | planner.Start | planner.Restart):
                self.failed_starts.pop(action.assistant_id, None)
        except HostUnavailable as exc:
            metrics.RECONCILE_ACTIONS.labels(kind, "failed").inc()
            log.warning("host_unavailable_during_action", action=type(action).__name__, error=str(exc))
        except Exception as exc:  # noqa: BLE001  (one failure stays with its assistant)
            metrics.RECONCILE_ACTIONS.labels(kind, "failed").inc()
            assistant_id = getattr(action, "assistant_id", None)
            log.warning("action_failed", action=type(action).__name__, error=_short_error(exc))
            if assistant_id and self._keeps_ready(action):
                await self._start_failed(action, _short_error(exc))
            elif (
                isinstance(action, planner.Create | planner.Start | planner.WriteConfig | planner.HandOff)
                and assistant_id
            ):
                container = getattr(action, "container_id", None)
                await self._fail(planner.Fail(assistant_id, _short_error(exc), action.host_id, container))

    def _keeps_ready(self, action: planner.Action) -> bool:
        """A READY assistant's existing container that its engine would not (re)start, or the replacement made
        for one that never would: not a provisioning attempt. The engine may be on its way down (it refuses
        starts while it still answers) and the container, its volume and the user's messages wait for it."""
        row = self.rows.get(getattr(action, "assistant_id", None))
        if row is None or row.status != "READY":
            return False
        return isinstance(action, planner.Start | planner.Restart) or (
            isinstance(action, planner.Create) and action.why == "start failed"
        )

    async def _start_failed(self, action: planner.Start | planner.Restart | planner.Create, error: str) -> None:
        """Stays READY (messages queue) with the container kept; backs off as `_start` does and counts the
        failure for the planner, which replaces the container after START_FAILURES_BEFORE_RECREATE of them."""
        row = self.rows[action.assistant_id]
        previous = self.failed_starts.get(row.id)
        failed = planner.StartFailures(previous.count + 1 if previous else 1, previous.since if previous else self.now)
        self.failed_starts[row.id] = failed
        restarts = row.restart_count + 1
        await self._update(
            row.id,
            restart_count=restarts,
            phase="restarting",
            phase_reason="Its server could not start it just now; trying again. Messages wait for it.",
            last_error=error,
            next_retry_at=self.now + min(planner.retry_delay(restarts), MAX_RESTART_DELAY),
        )
        log.warning("start_failed", user_id=str(row.user_id), failures=failed.count, action=type(action).__name__)

    async def _dispatch(self, action: planner.Action) -> None:
        match action:
            case planner.SetObserved():
                await self._set_observed(action)
            case planner.Create():
                await self._create(action)
            case planner.Start():
                await self._start(action)
            case planner.Restart():
                await self._start(action, restart=True)
            case planner.WriteConfig():
                await self._write_config(action)
            case planner.Diagnose():
                await self._diagnose(action)
            case planner.RemoveContainer():
                await self._remove_container(action)
            case planner.RemoveVolume():
                handle = self.hosts[action.host_id]
                try:
                    await handle.call(handle.client.remove_volume, action.volume)
                    log.info("volume_removed", host=str(action.host_id))
                except APIError as exc:
                    if exc.status_code != 409:  # still in use: next time
                        raise
            case planner.Fail():
                await self._fail(action)
            case planner.CreatePool():
                await self._create_pool(action)
            case planner.HandOff():
                await self._hand_off(action)
            case planner.TakeName():
                await self._take_name(action)
            case planner.DestroyPool():
                await self._destroy_pool(action)
            case planner.WarmUp():
                await self._warm_up(action)

    def _render(self, row: Assistant, generation: int):
        return render(
            self.settings,
            row,
            self.token_for.get(row.id),
            self.host_rows.get(row.host_server_id),
            generation,
            timezone=self.timezone_for.get(row.id),
            google=self.google_for.get(row.user_id, ()),
        )

    async def _write_files(self, handle: HostHandle, container_id: str, row: Assistant):
        """Render with the next generation when the config changed, write config and instructions."""
        rendered = self._render(row, row.desired_generation)
        if rendered.config is None:
            raise RuntimeError("the assistant has no valid token")
        # The hash leaves the generation out, so bumping it changes nothing else in the rendering.
        generation = row.desired_generation + (1 if rendered.config_hash != row.config_hash else 0)
        rendered.config["channels"]["yourclaw"]["generation"] = generation
        existing = await handle.call(handle.client.read_file, container_id, openclaw_config.INSTRUCTIONS_PATH)
        instructions = openclaw_config.merge_instructions(
            existing.decode("utf-8", "replace") if existing else None,
            voice_notes=bool(self.settings.openai_api_key),
        )
        await handle.call(
            handle.client.write_files,
            container_id,
            {
                openclaw_config.CONFIG_PATH: (openclaw_config.config_bytes(rendered.config), 0o600),
                openclaw_config.INSTRUCTIONS_PATH: (instructions.encode(), 0o644),
            },
        )
        return rendered, generation

    async def _create(self, action: planner.Create) -> None:
        row = self.rows[action.assistant_id]
        handle = self.hosts[action.host_id]
        # The plan was made from rows read before the hosts answered (seconds earlier when one is slow):
        # whoever placed or dropped the row since then wins, and the next pass plans from what they wrote.
        async with self.sessions() as session, session.begin():
            claimed = await repo.claim_for_host(session, row.id, seen_on=row.host_server_id, host_id=action.host_id)
        if not claimed:
            log.info("create_dropped", user_id=str(row.user_id), why="the row changed since the pass read it")
            return
        if action.replace_container:
            await handle.call(handle.client.remove, action.replace_container)
        row.host_server_id = action.host_id
        rendered = self._render(row, row.desired_generation)
        container_id = await handle.call(handle.client.create, rendered.spec)
        rendered, generation = await self._write_files(handle, container_id, row)
        await handle.call(handle.client.start, container_id)
        was_ready = row.status == "READY" and action.why != "recreate"
        async with self.sessions() as session, session.begin():
            recorded = await repo.update_if_placed(
                session,
                row.id,
                action.host_id,
                container_id=container_id,
                container_spec_hash=rendered.spec.spec_hash,
                config_hash=rendered.config_hash,
                desired_generation=generation,
                written_generation=generation,
                status="READY" if was_ready else "PROVISIONING",
                phase="restarting" if was_ready else "connecting",
                phase_reason=None,
            )
        if not recorded:
            # Placed elsewhere while this one was made: it must not poll beside the new one for the whole
            # orphan grace period.
            await handle.call(handle.client.remove, container_id)
            log.info("container_removed", host=str(action.host_id), reason="placed elsewhere meanwhile")
            return
        log.info("container_created", user_id=str(row.user_id), why=action.why, host=str(action.host_id))

    async def _create_pool(self, action: planner.CreatePool) -> None:
        """A fresh pool id, so a fresh volume: nothing in it was ever anyone's."""
        handle = self.hosts[action.host_id]
        pool_id = uuid.uuid4()
        rendered = render_pool(self.settings, pool_id, self.host_rows.get(action.host_id))
        container_id = await handle.call(handle.client.create, rendered.spec)
        try:
            instructions = openclaw_config.merge_instructions(None).encode()
            await handle.call(
                handle.client.write_files,
                container_id,
                {
                    openclaw_config.CONFIG_PATH: (openclaw_config.config_bytes(rendered.config), 0o600),
                    openclaw_config.INSTRUCTIONS_PATH: (instructions, 0o644),
                },
            )
            await handle.bring_back(container_id)
        except Exception:
            await self._destroy_pool(planner.DestroyPool(action.host_id, container_id, rendered.spec.volume, "failed"))
            raise
        log.info("pool_container_created", host=str(action.host_id))

    async def _hand_off(self, action: planner.HandOff) -> None:
        """Recorded as the user's before anything of theirs is written: a failure after the record leaves
        the container theirs (removed by `_fail`), never back in the pool."""
        row = self.rows[action.assistant_id]
        handle = self.hosts[action.host_id]
        async with self.sessions() as session, session.begin():
            claimed = await repo.claim_pool_container(
                session,
                row.id,
                host_id=action.host_id,
                container_id=action.container_id,
                volume=action.volume,
                now=self.now,
            )
        if not claimed:
            log.info("hand_off_dropped", user_id=str(row.user_id), why="taken or the row changed")
            return
        row.host_server_id, row.container_id, row.volume = action.host_id, action.container_id, action.volume
        # Named after the user before anything of theirs is written: should the row go (the account deleted),
        # the list still says it is no longer the pool's. A failed rename is retried (`pool.TakeName`).
        await handle.call(handle.client.rename, action.container_id, container_name(row.user_id))
        await handle.call(handle.client.keep_running, action.container_id)
        rendered, generation = await self._write_files(handle, action.container_id, row)
        async with self.sessions() as session, session.begin():
            await repo.update_if_placed(
                session,
                row.id,
                action.host_id,
                container_spec_hash=rendered.spec.spec_hash,
                config_hash=rendered.config_hash,
                desired_generation=generation,
                written_generation=generation,
                status="PROVISIONING",
                phase="connecting",
                phase_reason=None,
            )
        log.info("pool_container_handed_off", user_id=str(row.user_id), host=str(action.host_id))

    async def _take_name(self, action: planner.TakeName) -> None:
        handle = self.hosts[action.host_id]
        await handle.call(handle.client.rename, action.container_id, action.name)
        log.info("pool_container_renamed", host=str(action.host_id))

    async def _remove_container(self, action: planner.RemoveContainer) -> None:
        """An orphan is looked up once more: a hand-off (claim, then rename) may have landed since the pass
        read the rows, and a renamed pool container's age is its creation's, far past the grace period."""
        if action.reason == "orphan":
            async with self.sessions() as session:
                if await repo.container_claimed(session, action.container_id):
                    return
        handle = self.hosts[action.host_id]
        await handle.call(handle.client.remove, action.container_id)
        log.info("container_removed", host=str(action.host_id), reason=action.reason)
        if action.volume is not None:
            try:
                await handle.call(handle.client.remove_volume, action.volume)
                log.info("volume_removed", host=str(action.host_id))
            except APIError as exc:
                if exc.status_code != 409:  # still in use: the volume pass finds it again (`pool.stray_volumes`)
                    raise

    async def _warm_up(self, action: planner.WarmUp) -> None:
        state, handle = self.warm_state, self.hosts[action.host_id]
        started = time.monotonic()
        state.held_until[action.container_id] = started + WARMUP_DEADLINE.total_seconds()
        code: int | None = None
        try:
            exec_id = await handle.call(handle.client.exec_detached, action.container_id, WARMUP_COMMAND)
            while code is None and time.monotonic() - started < WARMUP_DEADLINE.total_seconds():
                await anyio.sleep(1.0)
                code = await handle.call(handle.client.exec_exit_code, exec_id)
        finally:
            if code == 0:
                state.warmed.add(action.container_id)
                state.held_until.pop(action.container_id, None)
            else:
                state.held_until[action.container_id] = time.monotonic() + WARMUP_RETRY.total_seconds()
        seconds = round(time.monotonic() - started, 1)
        if code == 0:
            log.info("pool_container_warmed", host=str(action.host_id), seconds=seconds)
        else:
            log.warning("pool_warm_up_failed", host=str(action.host_id), exit_code=code, seconds=seconds)

    async def _destroy_pool(self, action: planner.DestroyPool) -> None:
        """Removed with its volume; never one a user's row names (a hand-off may have landed since the pass)."""
        async with self.sessions() as session:
            if await repo.container_claimed(session, action.container_id):
                return
        handle = self.hosts[action.host_id]
        await handle.call(handle.client.remove, action.container_id)
        try:
            await handle.call(handle.client.remove_volume, action.volume)
        except APIError as exc:
            if exc.status_code != 409:
                raise
        log.info("pool_container_destroyed", host=str(action.host_id), reason=action.reason)

    async def _start(self, action: planner.Start | planner.Restart, *, restart: bool = False) -> None:
        row = self.rows[action.assistant_id]
        handle = self.hosts[action.host_id]
        await handle.bring_back(action.container_id, restart=restart)
        restarts = row.restart_count + 1
        delay = min(planner.retry_delay(restarts), MAX_RESTART_DELAY)
        values = {"phase_reason": action.reason} if isinstance(action, planner.Start) and action.reason else {}
        await self._update(
            row.id,
            restart_count=restarts,
            phase="restarting" if row.status == "READY" else "starting",
            next_retry_at=self.now + delay,
            **values,
        )
        log.info("container_started", user_id=str(row.user_id), restarts=restarts)

    async def _write_config(self, action: planner.WriteConfig) -> None:
        row = self.rows[action.assistant_id]
        handle = self.hosts[action.host_id]
        rendered, generation = await self._write_files(handle, action.container_id, row)
        values = {
            "config_hash": rendered.config_hash,
            "desired_generation": generation,
            "written_generation": generation,
        }
        if row.status == "READY":
            values["phase"] = "reconfiguring"
        await self._update(row.id, **values)
        log.info("config_written", user_id=str(row.user_id), generation=generation)

    async def _diagnose(self, action: planner.Diagnose) -> None:
        row = self.rows[action.assistant_id]
        handle = self.hosts[action.host_id]
        info = await handle.call(handle.client.exit_info, action.container_id)
        if info is None:
            return
        looping = info.restart_count >= 3 or info.oom_killed
        await self._update(
            row.id,
            phase="crash_loop" if looping else ("restarting" if row.status == "READY" else row.phase),
            phase_reason=f"the assistant {info.describe()}",
        )

    async def _fail(self, action: planner.Fail) -> None:
        row = self.rows[action.assistant_id]
        attempts = row.attempts + 1
        final = attempts >= self.settings.worker_max_attempts
        if action.container_id and action.host_id in self.hosts:
            handle = self.hosts[action.host_id]
            try:
                await handle.call(handle.client.remove, action.container_id)
            except Exception as exc:  # noqa: BLE001  (the next pass removes it)
                log.warning("failed_container_not_removed", error=_short_error(exc))
        values = {
            "attempts": attempts,
            "last_error": action.error,
            "container_id": None,
            "next_retry_at": self.now + (planner.RETRY_AFTER_ERROR if final else planner.retry_delay(attempts)),
        }
        # phase_reason is what the user reads; last_error (technical) is for operators.
        if final:
            values.update(
                status="ERROR",
                phase="failed",
                phase_reason="We could not start your assistant. We will try again later, or you can retry now.",
            )
        else:
            values.update(
                status="PROVISIONING",
                phase="placing",
                phase_reason=f"Starting your assistant took more than one try (attempt {attempts}); retrying.",
            )
        async with self.sessions() as session, session.begin():
            await repo.update_assistant(session, row.id, **values)
            if final:
                stamp = int((row.recreate_requested_at or row.created_at).timestamp())
                await enqueue_whatsapp(
                    session,
                    row.user_id,
                    "We could not start your assistant. We will keep trying, and you can retry from your "
                    "dashboard at any time.",
                    kind="system",
                    dedupe_key=f"assistant-failed:{row.id}:{stamp}",
                )
        log.warning("provisioning_attempt_failed", user_id=str(row.user_id), attempts=attempts, final=final)

    async def _set_observed(self, action: planner.SetObserved) -> None:
        row = self.rows[action.assistant_id]
        values = dict(action.values)
        async with self.sessions() as session, session.begin():
            if action.became_ready:
                values["restart_count"] = 0
                if row.ready_at is None:
                    values["ready_at"] = self.now
                stamp = int((row.recreate_requested_at or row.created_at).timestamp())
                await enqueue_whatsapp(
                    session, row.user_id, READY_MESSAGE, kind="system", dedupe_key=f"ready:{row.id}:{stamp}"
                )
                await tokens.confirm_rotation(
                    session, row.id, grace=timedelta(seconds=self.settings.assistant_token_grace_seconds), now=self.now
                )
            await repo.update_assistant(session, row.id, **values)
        if action.became_ready:
            self.failed_starts.pop(row.id, None)  # back (Docker's restart policy may have started it)
            log.info("assistant_ready", user_id=str(row.user_id))


async def record_host(
    sessions: async_sessionmaker[AsyncSession], host: HostServer, *, ok: bool, error: str | None, threshold: int
) -> bool:
    """Track reachability; returns whether the host counts as reachable now. A single failed call does not
    make a host unreachable, a run of `threshold` does, and one success brings it back."""
    now = datetime.now(UTC)
    if ok:
        stale = host.last_contact_at is None or now - host.last_contact_at > timedelta(seconds=30)
        if host.reachable and host.consecutive_failures == 0 and not stale:
            return True
        values = {"reachable": True, "consecutive_failures": 0, "last_contact_at": now, "last_error": None}
        reachable = True
    else:
        failures = host.consecutive_failures + 1
        reachable = failures < threshold and host.reachable
        values = {"consecutive_failures": failures, "last_error": (error or "")[:500], "reachable": reachable}
    async with sessions() as session, session.begin():
        await repo.update_host(session, host.id, **values)
    for key, value in values.items():
        setattr(host, key, value)
    return reachable
