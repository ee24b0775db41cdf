"""Docker hosts as the operator manages them (`yourclaw hosts ...`) and as the reconciler opens them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.db.models import Assistant, HostServer
from yourclaw.kit.errors import Conflict, NotFound, Unprocessable
from yourclaw.kit.settings import Settings
from yourclaw.runtime.certs import docker_client
from yourclaw.runtime.host_client import HostClient
from yourclaw.standins.runtime import SIMULATED_DOCKER_URL, SIMULATED_HOST_NAME, SimulatedHost


def host_factory(settings: Settings):
    """Every host is simulated under MOCK_CONTAINERS; otherwise a Docker engine over mutual TLS."""
    simulated: dict[str, SimulatedHost] = {}

    def open_host(row: HostServer) -> HostClient:
        if settings.mock_containers:
            if row.name not in simulated:
                simulated[row.name] = SimulatedHost(row.name, settings.state_dir / "simulated" / row.name)
            return simulated[row.name]
        from yourclaw.runtime.docker_host import DockerHost

        return DockerHost(row.name, row.docker_url, settings.tls_dir, api_version=settings.docker_api_version)

    return open_host


async def ensure_simulated_host(session: AsyncSession, max_containers: int = 100) -> None:
    await session.execute(
        insert(HostServer)
        .values(name=SIMULATED_HOST_NAME, docker_url=SIMULATED_DOCKER_URL, max_containers=max_containers)
        .on_conflict_do_nothing(index_elements=[HostServer.name])
    )


@dataclass(frozen=True)
class EngineInfo:
    version: str
    api_version: str


def check_engine(settings: Settings, docker_url: str) -> EngineInfo:
    """Blocking: proves the engine answers over mutual TLS with our certificates."""
    try:
        client = docker_client(docker_url, settings.tls_dir, api_version=settings.docker_api_version, timeout=10)
    except (ValueError, FileNotFoundError) as exc:
        raise Unprocessable(str(exc), code="INVALID_HOST") from None
    try:
        answer = client.version()
    except Exception as exc:  # noqa: BLE001  (whatever failed, the host is not usable)
        raise Unprocessable(
            f"the engine at {docker_url} did not answer over mutual TLS ({type(exc).__name__}); check its "
            "certificate (`yourclaw certs host`) and that port 2376 is open to the control plane",
            code="HOST_UNREACHABLE",
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
        raise Unprocessable("--max-containers must be zero or more", code="INVALID_HOST")
    clash = await session.scalar(
        select(HostServer).where((HostServer.name == name) | (HostServer.docker_url == docker_url))
    )
    if clash is not None:
        raise Conflict(f"a host named {clash.name} already uses that name or URL", code="HOST_EXISTS")
    host = HostServer(
        name=name,
        docker_url=docker_url,
        max_containers=max_containers,
        engine_version=info.version,
        api_version=info.api_version,
        runtime_api_url=runtime_api_url,
        last_contact_at=datetime.now().astimezone(),
    )
    session.add(host)
    await session.flush()
    return host


async def set_draining(session: AsyncSession, name: str, draining: bool) -> None:
    result = await session.execute(update(HostServer).where(HostServer.name == name).values(draining=draining))
    if not result.rowcount:
        raise NotFound(f"no host named {name}", code="NO_SUCH_HOST")


async def list_hosts(session: AsyncSession) -> list[tuple[HostServer, int]]:
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
