"""The routes of llm: the metering proxy's cost-free calls, outside /api/v1 (assistants name the proxy as
their Anthropic base URL, and their background work one per purpose; its Messages calls are bare routes,
`proxy_controller.messages_routes`), and the signed-in user's own key under /api/v1."""

from __future__ import annotations

from yourclaw.llm.own_keys.controller import ApiKeysController
from yourclaw.llm.proxy_controller import BackgroundProxyController, LlmProxyController

API_HANDLERS: list = [ApiKeysController]
ROOT_HANDLERS: list = [LlmProxyController, BackgroundProxyController]
