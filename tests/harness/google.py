"""Connected Google services from the outside, for tests and benchmarks: a consent walked through the
Google stand-in without a browser, and the real `mcp` client SDK talking to our MCP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from yourclaw.standins.google import DEFAULT_EMAIL

MCP_PATH = "/mcp/google"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def consent(http: httpx.AsyncClient, auth_url: str, *, email: str = DEFAULT_EMAIL) -> dict[str, str]:
    """What pressing "Allow" on the stand-in's consent page does: Google's redirect back, as its query."""
    asked = query_of(auth_url)
    form = {
        k: asked.get(k, "")
        for k in ("client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method")
    }
    base = auth_url.split("/o/oauth2/v2/auth")[0]
    response = await http.post(f"{base}/o/oauth2/v2/auth/allow", data={**form, "email": email, "decision": "allow"})
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])


async def connect(
    api: httpx.AsyncClient, headers: dict[str, str], service: str, *, email: str = DEFAULT_EMAIL
) -> httpx.Response:
    started = await api.get(f"/api/v1/oauth/google/{service}/connect", headers=headers)
    assert started.status_code == 200, started.text
    back = await consent(api, started.json()["auth_url"], email=email)
    return await api.get(f"/api/v1/oauth/google/{service}/callback", params=back, headers=headers)


@asynccontextmanager
async def mcp_client(api_url: str, token: str) -> AsyncIterator[Client]:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http, Client(streamable_http_client(api_url.rstrip("/") + MCP_PATH, http_client=http)) as client:
        yield client
