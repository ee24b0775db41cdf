"""The named dependencies any route may declare. The server provides each one under the parameter name
given here (`server/dependencies.py`), so a domain's routes get what they need without importing the
server: `settings: SettingsDep`, `db_session: DbSession`, `sessions: Sessions`, `secrets: SecretsDep`,
`http: HttpClient`."""

from __future__ import annotations

import httpx
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings

SettingsDep = NamedDependency[Settings]
# The request's own session: the request commits it after the handler returns, or rolls it back.
DbSession = NamedDependency[AsyncSession]
# For a route that must not hold a connection while it waits (the long poll): short transactions of its own.
Sessions = NamedDependency[async_sessionmaker[AsyncSession]]
SecretsDep = NamedDependency[SecretBox]
HttpClient = NamedDependency[httpx.AsyncClient]
