"""What the server provides to routes, by name: each piece of the process's state (`AppState`) under the
parameter name its type is declared with (`kit.di`, and each domain's own: `current_user` in accounts,
`assistant` in protocol, `llm`, `stripe`, `entitlement`), and the request's database session, which the
request commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from yourclaw.kit.di import Sessions
from yourclaw.server.state import AppState

# Parameter name -> the AppState attribute it is.
PROVIDED = {
    "settings": "settings",
    "sessions": "sessions",
    "secrets": "secrets",
    "http": "http",
    "verifier": "verifier",
    "supabase_users": "supabase_users",
    "stripe": "stripe",
    "llm": "llm",
    "inbound_waiter": "inbound",
    "entitlement": "entitlement",
    "account_revokers": "account_revokers",
    "typing": "typing",
}


def app_state_of(state: State) -> AppState:
    return state.app_state


def _provider(attribute: str) -> Callable[[State], Any]:
    def provide(state: State) -> Any:
        return getattr(state.app_state, attribute)

    provide.__name__ = f"provide_{attribute}"
    return provide


async def provide_db_session(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: services never commit; this commits after the handler returns
    and before the response is sent, and rolls back if anything raised."""
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


def dependencies() -> dict[str, Provide]:
    provided = {name: Provide(_provider(attribute), sync_to_thread=False) for name, attribute in PROVIDED.items()}
    provided["db_session"] = Provide(provide_db_session)
    # The server's own routes (health) see the whole state; domains ask for their pieces.
    provided["app_state"] = Provide(app_state_of, sync_to_thread=False)
    return provided
