"""Carrying out the planner's actions. Each is idempotent (find-by-name before create, 404 on remove counts
as done) and owns its own short transaction, so one failure stays with its assistant."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

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
from yourclaw.runtime.desired import render
from yourclaw.runtime.host_client import HostUnavailable
from yourclaw.runtime.host_handle import HostHandle
from yourclaw.runtime.pool_apply import PoolSteps, WarmState
from yourclaw.runtime.volume_apply import VolumeSteps

log = structlog.get_logger(__name__)

# The first WhatsApp message: it is here, and what to ask it, in two lines (the dashboard's "What your
# assistant can do" says the same). Harnesses wait for the first line.
READY_TEXT = "Your assistant is ready! Say hi."
READY_MESSAGE = (
    f"{READY_TEXT}\n"
    "Ask it for a reminder (“remind me at 9 to call the dentist”), to tell you when something happens "
    "(“tell me if it will rain tomorrow”), or send it a photo to read."
)
MAX_RESTART_DELAY = timedelta(minutes=5)


def _short_error(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        detail = exc.explanation or str(exc)
        return f"the Docker engine refused: {detail}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


class Applier(PoolSteps, VolumeSteps):
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
            case planner.Move():
                await self._move(action)
            case planner.FinishMove():
                await self._finish_move(action)
            case planner.Restore():
                await self._restore(action)

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
