"""The runtime's SQL: the rows the reconciler reads each pass, what it writes back about assistants and
hosts, and the operator's host list. Each write is its own short transaction at the caller, so one
assistant's failure never rolls back another's progress."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import Assistant, BackupRestore, HostServer, User, UserIntegration

# --- what a pass reads ------------------------------------------------------------------------------


async def load_hosts(session: AsyncSession) -> list[HostServer]:
    return list((await session.scalars(select(HostServer).order_by(HostServer.name))).all())


async def load_assistants(session: AsyncSession, *, volume_retention: timedelta) -> list[tuple[Assistant, str | None]]:
    """Every row the reconciler may act on: wanted ones, unwanted ones until their container is gone, and
    deleted ones while their volume is kept (a volume with no row at all belongs to nobody). Each comes with
    its user's time zone, which the rendered config carries (heartbeats keep to the user's waking hours)."""
    keep_since = datetime.now(UTC) - volume_retention - timedelta(days=1)
    query = (
        select(Assistant, User.timezone)
        .outerjoin(User, User.id == Assistant.user_id)
        .where(Assistant.wanted.is_(True) | (Assistant.phase != "none") | (Assistant.deleted_at > keep_since))
    )
    return [(row, timezone) for row, timezone in (await session.execute(query)).all()]


async def connected_google(session: AsyncSession) -> dict[uuid.UUID, tuple[str, ...]]:
    """Per user, the Google services connected now (rows' names): they decide whether the assistant's config
    names our MCP server. A read across packages, to keep the pass at one query per kind of fact."""
    rows = await session.execute(
        select(UserIntegration.user_id, UserIntegration.service).where(UserIntegration.status == "connected")
    )
    found: dict[uuid.UUID, list[str]] = {}
    for user_id, service in rows.all():
        found.setdefault(user_id, []).append(service)
    return {user_id: tuple(sorted(services)) for user_id, services in found.items()}


async def pending_restores(session: AsyncSession) -> dict[uuid.UUID, uuid.UUID]:
    """Per assistant, the oldest backup restore an operator asked for and the fleet has not done yet."""
    rows = await session.execute(
        select(Assistant.id, BackupRestore.id)
        .join(Assistant, Assistant.user_id == BackupRestore.user_id)
        .where(BackupRestore.status == "PENDING")
        .order_by(BackupRestore.requested_at.desc())
    )
    return dict(rows.all())  # the oldest last, so it wins


# --- what it writes ---------------------------------------------------------------------------------


async def update_assistant(session: AsyncSession, assistant_id: uuid.UUID, **values: object) -> None:
    await session.execute(update(Assistant).where(Assistant.id == assistant_id).values(**values))


async def update_if_placed(
    session: AsyncSession, assistant_id: uuid.UUID, host_id: uuid.UUID, **values: object
) -> bool:
    """False when the row is no longer on that host."""
    result = await session.execute(
        update(Assistant).where(Assistant.id == assistant_id, Assistant.host_server_id == host_id).values(**values)
    )
    return bool(result.rowcount)


async def claim_for_host(
    session: AsyncSession, assistant_id: uuid.UUID, *, seen_on: uuid.UUID | None, host_id: uuid.UUID
) -> bool:
    """Places a wanted row on `host_id` if it is still where the caller saw it; False otherwise."""
    claimed = await session.scalar(
        update(Assistant)
        .where(
            Assistant.id == assistant_id,
            Assistant.wanted.is_(True),
            Assistant.host_server_id.is_not_distinct_from(seen_on),
        )
        .values(host_server_id=host_id, phase="creating", phase_reason=None)
        .returning(Assistant.id)
    )
    return claimed is not None


async def claim_pool_container(
    session: AsyncSession,
    assistant_id: uuid.UUID,
    *,
    host_id: uuid.UUID,
    container_id: str,
    volume: str,
    now: datetime,
) -> bool:
    """Records that a pool container and its volume are now this user's, if the row still wants an
    assistant and has none yet. False when either is already someone's (the unique indexes say so) or the
    row changed: the caller then writes nothing into the container."""
    try:
        async with session.begin_nested():
            claimed = await session.scalar(
                update(Assistant)
                .where(
                    Assistant.id == assistant_id,
                    Assistant.wanted.is_(True),
                    Assistant.host_server_id.is_(None),
                    Assistant.container_id.is_(None),
                    Assistant.volume.is_(None),
                )
                .values(
                    host_server_id=host_id,
                    container_id=container_id,
                    volume=volume,
                    handed_off_at=now,
                    phase="creating",
                    phase_reason=None,
                )
                .returning(Assistant.id)
            )
    except IntegrityError:
        return False
    return claimed is not None


async def container_claimed(session: AsyncSession, container_id: str) -> bool:
    return (await session.scalar(select(Assistant.id).where(Assistant.container_id == container_id))) is not None


async def update_host(session: AsyncSession, host_id: uuid.UUID, **values: object) -> None:
    await session.execute(update(HostServer).where(HostServer.id == host_id).values(**values))


# --- the operator's hosts ---------------------------------------------------------------------------


async def host_named_or_at(session: AsyncSession, name: str, docker_url: str) -> HostServer | None:
    return await session.scalar(
        select(HostServer).where((HostServer.name == name) | (HostServer.docker_url == docker_url))
    )


async def add_host(session: AsyncSession, host: HostServer) -> HostServer:
    session.add(host)
    await session.flush()
    return host


async def ensure_host(session: AsyncSession, *, name: str, docker_url: str, max_containers: int) -> None:
    """The host row, unless one of that name exists."""
    await session.execute(
        insert(HostServer)
        .values(name=name, docker_url=docker_url, max_containers=max_containers)
        .on_conflict_do_nothing(index_elements=[HostServer.name])
    )


async def set_draining(session: AsyncSession, name: str, draining: bool) -> bool:
    """False when there is no host of that name."""
    result = await session.execute(update(HostServer).where(HostServer.name == name).values(draining=draining))
    return bool(result.rowcount)


async def hosts_with_counts(session: AsyncSession) -> list[tuple[HostServer, int]]:
    """Every host with how many wanted assistants it holds."""
    counts = dict(
        (
            await session.execute(
                select(Assistant.host_server_id, func.count())
                .where(Assistant.wanted.is_(True), Assistant.host_server_id.is_not(None))
                .group_by(Assistant.host_server_id)
            )
        ).all()
    )
    hosts = (await session.scalars(select(HostServer).order_by(HostServer.name))).all()
    return [(host, counts.get(host.id, 0)) for host in hosts]
