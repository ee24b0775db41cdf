"""What the app mounts for connected services: the OAuth API under /api/v1 (the MCP server is mounted by
the server, as an ASGI app at `mcp_server.PATH`, once the process's state exists)."""

from __future__ import annotations

from yourclaw.integrations.controller import OAuthController

HANDLERS: list = [OAuthController]
