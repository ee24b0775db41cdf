"""Authenticates the assistant itself (its container's plugin or LLM client) by its bearer token."""

from __future__ import annotations

import structlog
from litestar import Request
from litestar.di import NamedDependency

from yourclaw.kit.di import Sessions
from yourclaw.protocol import tokens
from yourclaw.protocol.errors import InvalidAssistantToken
from yourclaw.protocol.tokens import TokenOwner


def _presented_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # Anthropic clients (the LLM proxy's callers) send their key this way, Brave clients (the search proxy's)
    # the other.
    api_key = request.headers.get("x-api-key", "").strip() or request.headers.get("x-subscription-token", "").strip()
    return api_key or None


async def provide_assistant(request: Request, sessions: Sessions) -> TokenOwner:
    """The token's owner. Looked up in a session of its own, closed before the handler runs, so that a
    long poll holds no database connection while it waits."""
    token = _presented_token(request)
    if token is None:
        raise InvalidAssistantToken("Send the assistant token as Authorization: Bearer <token>")
    async with sessions() as session:
        owner = await tokens.verify_bearer(session, token)
    if owner is None:
        # Never echo the token: this detail reaches logs.
        raise InvalidAssistantToken("Unknown or revoked assistant token")
    structlog.contextvars.bind_contextvars(user_id=str(owner.user_id), assistant_id=str(owner.assistant_id))
    return owner


AssistantOwner = NamedDependency[TokenOwner]
