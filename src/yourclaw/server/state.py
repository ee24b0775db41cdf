"""What a process builds once at start-up and shares: settings, database, secrets, HTTP clients, and the
stand-ins it runs in development. Routes get each piece by name (`server.dependencies`)."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from yourclaw.accounts.jwt_verifier import TokenVerifier
from yourclaw.accounts.supabase_users import SupabaseUsers
from yourclaw.assistants.service import Entitlement
from yourclaw.billing import service as billing
from yourclaw.billing.stripe_client import StripeGateway
from yourclaw.db.engine import make_engine, make_sessionmaker
from yourclaw.db.listener import Listener
from yourclaw.integrations import service as integrations
from yourclaw.integrations.mcp_server import GoogleMcp
from yourclaw.kit.crypto import SecretBox
from yourclaw.kit.settings import Settings
from yourclaw.llm.proxy import LlmProxy
from yourclaw.messaging.inbound.router_wakeup import RouterWakeup, notify_with
from yourclaw.messaging.inbound.writer import InboundWriter
from yourclaw.messaging.twilio.typing import twilio_typing
from yourclaw.protocol.typing import Typing
from yourclaw.protocol.waiter import InboundWaiter
from yourclaw.standins import API_SERVICES, Standins
from yourclaw.userdata.deletion import Revoker


@dataclass
class AppState:
    # As the stand-ins left them: pointing at the ones this process runs (none in production).
    settings: Settings
    standins: Standins
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    http: httpx.AsyncClient
    verifier: TokenVerifier
    # Asks Supabase whether a signed-in user was banned or deleted (nothing with dev sign-in).
    supabase_users: SupabaseUsers
    # The metering LLM proxy, with its own upstream client.
    llm: LlmProxy
    inbound: InboundWaiter = field(default_factory=InboundWaiter)
    # The MCP server of the user's Google services (`/mcp/google`); its SDK session manager runs in `start`.
    google_mcp: GoogleMcp = field(init=False)
    # The process's one LISTEN connection: wakes `inbound`, keeps the LLM proxy's and the MCP server's callers
    # right (`start`).
    listener: Listener | None = None
    # Stripe through its SDK (no I/O until used).
    stripe: StripeGateway = field(init=False)
    # Wakes the router after a webhook's commit (see `messaging.inbound.router_wakeup`).
    router_wakeup: RouterWakeup = field(init=False)
    # Stores webhooks' messages, several to a commit under load (see `messaging.inbound.writer`).
    inbound_writer: InboundWriter = field(init=False)
    # Billing's answer to "may this user run an assistant?", which the assistants API asks.
    entitlement: Entitlement = field(init=False)
    # Connected services revoked when a user deletes their account (`userdata.deletion.Revoker`); each
    # integration adds its own here (Google: revoke the user's OAuth tokens).
    account_revokers: list[Revoker] = field(default_factory=list)
    # WhatsApp's "typing…" while a turn runs, shown through Twilio in the background.
    typing: Typing = field(init=False)

    def __post_init__(self) -> None:
        self.stripe = StripeGateway(self.settings)
        self.inbound_writer = InboundWriter(self.engine)
        self.router_wakeup = RouterWakeup(notify_with(self.engine))
        self.entitlement = billing.entitlement(self.settings)
        self.typing = Typing(twilio_typing(self.settings), renew_after=self.settings.typing_renew_seconds)
        self.google_mcp = GoogleMcp(self.settings, self.sessions, self.http, self.secrets)
        self._google_mcp_running: AsyncExitStack | None = None
        self.account_revokers.append(self._revoke_google)

    async def _revoke_google(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        await integrations.revoke_account(session, self.settings, self.http, self.secrets, user_id)

    @classmethod
    def build(cls, settings: Settings) -> AppState:
        """Starts this process's stand-ins first: everything else is built on the settings they leave."""
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL must be resolved (embedded or external) before building the app")
        standins = Standins.start(settings, API_SERVICES)
        try:
            return cls._build_on(standins)
        except BaseException:
            standins.stop()
            raise

    @classmethod
    def _build_on(cls, standins: Standins) -> AppState:
        settings = standins.settings
        # No overflow: an overflow connection is closed when it is returned, so a burst past the pool (Twilio
        # delivering a backlog) would open and close a PostgreSQL backend per request, which cost the
        # database 4x the webhook's own work. Requests wait for a pooled connection instead.
        engine = make_engine(settings.database_url or "", pool_size=settings.db_pool_size, max_overflow=0)
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        if settings.dev_sign_in:
            verifier = TokenVerifier(
                jwks_url=None, hs256_secret=settings.dev_jwt_secret, issuer=settings.dev_jwt_issuer, http=http
            )
        else:
            verifier = TokenVerifier(
                jwks_url=settings.jwks_url,
                hs256_secret=settings.supabase_jwt_secret,
                issuer=settings.jwt_issuer,
                http=http,
                max_stale=settings.jwks_max_stale_seconds,
            )
        sessions = make_sessionmaker(engine)
        secrets = SecretBox(settings.fernet_keys)
        return cls(
            settings=settings,
            standins=standins,
            engine=engine,
            sessions=sessions,
            secrets=secrets,
            http=http,
            verifier=verifier,
            supabase_users=SupabaseUsers(
                supabase_url=settings.supabase_url,
                service_role_key=settings.supabase_service_role_key,
                http=http,
                recheck_seconds=settings.supabase_user_recheck_seconds,
            ),
            llm=LlmProxy.build(settings, engine, sessions, secrets),
            inbound=InboundWaiter(),
        )

    async def start(self) -> None:
        self._google_mcp_running = AsyncExitStack()
        await self._google_mcp_running.enter_async_context(self.google_mcp.running())
        await self.llm.start()
        self.listener = Listener(self.settings.database_url or "")
        self.inbound.attach(self.listener)
        self.llm.callers.attach(self.listener)
        self.google_mcp.owners.attach(self.listener)
        await self.listener.start()

    async def close(self) -> None:
        self.inbound.shutdown()
        await self.typing.close()
        await self.inbound_writer.close()
        await self.router_wakeup.close()
        if self._google_mcp_running is not None:
            await self._google_mcp_running.aclose()
        if self.listener is not None:
            await self.listener.stop()
        await self.http.aclose()
        await self.stripe.close()
        # Before the engine goes: the last calls' charges are still being written.
        await self.llm.close()
        await self.engine.dispose()
        self.standins.stop()
