"""Docker hosts as the operator manages them (`yourclaw hosts ...`), as the reconciler opens them, and whether
they count as reachable (`record_host`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.db.models import HostServer
from yourclaw.kit.settings import Settings
from yourclaw.runtime import repository as repo
from yourclaw.runtime.certs import docker_client
from yourclaw.runtime.errors import HostExists, HostUnreachable, InvalidHost, NoSuchHost
from yourclaw.runtime.host_client import HostClient


def host_factory(settings: Settings) -> Callable[[HostServer], HostClient]:
    """Each host's Docker engine, over mutual TLS with our certificates."""

    def open_host(row: HostServer) -> HostClient:
        from yourclaw.runtime.docker_host import DockerHost

        return DockerHost(row.name, row.docker_url, settings.tls_dir, api_version=settings.docker_api_version)

    return open_host


@dataclass(frozen=True)
class EngineInfo:
    version: str
    api_version: str


def check_engine(settings: Settings, docker_url: str) -> EngineInfo:
    """Blocking: proves the engine answers over mutual TLS with our certificates."""
    try:
        client = docker_client(docker_url, settings.tls_dir, api_version=settings.docker_api_version, timeout=10)
    except (ValueError, FileNotFoundError) as exc:
        raise InvalidHost(str(exc)) from None
    try:
        answer = client.version()
    except Exception as exc:  # noqa: BLE001  (whatever failed, the host is not usable)
        raise HostUnreachable(
            f"the engine at {docker_url} did not answer over mutual TLS ({type(exc).__name__}); check its "
            "certificate (`yourclaw certs host`) and that port 2376 is open to the control plane"
        ) from None
    finally:
        client.close()
    return EngineInfo(answer.get("Version", "?"), answer.get("ApiVersion", "?"))


async def add_host(
    session: AsyncSession,
    *,
    name: str,
    docker_url: str,
    max_containers: int,
    info: EngineInfo,
    runtime_api_url: str | None = None,
) -> HostServer:
    if max_containers < 0:
        raise InvalidHost("--max-containers must be zero or more")
    clash = await repo.host_named_or_at(session, name, docker_url)
    if clash is not None:
        raise HostExists(f"a host named {clash.name} already uses that name or URL")
    host = HostServer(
        name=name,
        docker_url=docker_url,
        max_containers=max_containers,
        engine_version=info.version,
        api_version=info.api_version,
        runtime_api_url=runtime_api_url,
        last_contact_at=datetime.now().astimezone(),
    )
    return await repo.add_host(session, host)


async def set_draining(session: AsyncSession, name: str, draining: bool) -> None:
    if not await repo.set_draining(session, name, draining):
        raise NoSuchHost(f"no host named {name}")


async def list_hosts(session: AsyncSession) -> list[tuple[HostServer, int]]:
    return await repo.hosts_with_counts(session)


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
