"""The applier's warm-pool steps (`runtime.pool` plans them): make a pool container, hand one to a user
(renamed after them before anything of theirs is written), name one left under its pool name, warm one up,
destroy one. Mixed into `runtime.apply.Applier`, whose state and config writing they use."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import anyio
import structlog
from docker.errors import APIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.models import Assistant, HostServer
from yourclaw.kit.settings import Settings
from yourclaw.runtime import openclaw_config, planner
from yourclaw.runtime import repository as repo
from yourclaw.runtime.container_spec import container_name
from yourclaw.runtime.desired import render_pool
from yourclaw.runtime.host_handle import HostHandle

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


class PoolSteps:
    """The `Applier`'s pool actions; the attributes are the `Applier`'s."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    hosts: dict[uuid.UUID, HostHandle]
    host_rows: dict[uuid.UUID, HostServer]
    rows: dict[uuid.UUID, Assistant]
    now: datetime
    warm_state: WarmState
    _write_files: Callable[[HostHandle, str, Assistant], Awaitable[tuple]]

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
