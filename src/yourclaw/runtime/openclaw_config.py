"""What goes into a user's `openclaw.json` and the WhatsApp instructions in their workspace.

The config carries the assistant's secrets (its one token) and nothing else secret: the Anthropic provider
points at our metering proxy with that token, so no real LLM key ever enters a container. Its hash, taken
without the generation, is what the reconciler compares: a change bumps the generation and rewrites the file
in place (OpenClaw hot-reloads it).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from yourclaw.llm import catalog

GATEWAY_PORT = 18789
CONFIG_PATH = "openclaw.json"
INSTRUCTIONS_PATH = "workspace/AGENTS.md"
SECTION_BEGIN = "<!-- yourclaw:begin -->"
SECTION_END = "<!-- yourclaw:end -->"

WHATSAPP_INSTRUCTIONS = """\
## You live on WhatsApp
- The person you help talks to you only through WhatsApp messages. Do not suggest connecting other
  messaging apps, and do not mention terminals, command lines or config files: they cannot see them.
- Keep replies short and easy to read on a phone: plain sentences, short lists, no tables or headings.
- You can write first: reminders, scheduled checks and anything you were asked to watch reach them as
  WhatsApp messages, so offer that when it helps.
- Messages you send on your own outside a recent conversation may arrive as a short notice first; the full
  text follows when they reply.
"""


@dataclass(frozen=True)
class Integration:
    """An MCP server fed by a connected service (later capability)."""

    name: str
    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]


def gateway_token(assistant_token: str) -> str:
    """The gateway's own admin token, derived so it rotates with the assistant token and needs no storage.
    Nothing outside the container can reach the gateway, but it must never be guessable inside either."""
    return hashlib.sha256(b"yourclaw-gateway:" + assistant_token.encode()).hexdigest()


# The image's Chromium (infra/image/Dockerfile); the browser tool runs it headless, without its sandbox
# (the container is the sandbox: no user namespaces under --cap-drop ALL).
BROWSER_EXECUTABLE = "/usr/bin/chromium"
# Our channel plugin (infra/image/plugin): its id is also the key of its config section.
PLUGIN_ID = "yourclaw"

# The plugins a gateway loads: only what the assistant uses. Unlisted bundled plugins stay unloaded, which
# saved ~300 MB after a few turns and made turns faster (design.md, "Memory"). Checked against the pinned
# OpenClaw by tests/e2e/runtime/test_openclaw_config.py.
PLUGINS_ALLOW = (
    "anthropic",  # the model provider (through our metering proxy)
    "browser",  # the browser tool
    "memory-core",  # memory files + the pre-compaction memory flush
    "web-readability",  # readable text for web_fetch
    PLUGIN_ID,  # the only channel
)

# Heartbeats are full agent turns paid from the user's credits: hourly, in a fresh light session, and only
# ever to the owner (the one user) — a `last` target could follow a conversation we did not start.
HEARTBEAT = {"target": "owner", "every": "1h", "isolatedSession": True, "lightContext": True}


def render(
    *,
    user_id: uuid.UUID,
    model: str,
    token: str,
    api_url: str,
    generation: int,
    integrations: tuple[Integration, ...] = (),
) -> dict:
    """Only keys the pinned OpenClaw accepts (tests/e2e/runtime/test_openclaw_config.py runs `openclaw config
    validate` on this with the plugin installed); hot-reloadable except `gateway.*`, which never changes
    for an assistant."""
    api = api_url.rstrip("/")
    config: dict = {
        "gateway": {
            "mode": "local",
            "port": GATEWAY_PORT,
            "bind": "loopback",
            "auth": {"mode": "token", "token": gateway_token(token)},
            # Not our path: its bearer is full admin of the gateway and nothing proactive leaves through it.
            "http": {"endpoints": {"chatCompletions": {"enabled": False}}},
            "controlUi": {"enabled": False},
        },
        "agents": {
            "defaults": {
                "model": {"primary": catalog.current_model(model)},
                "heartbeat": dict(HEARTBEAT),
                # Save what matters to memory files before old turns are compacted away.
                "compaction": {"memoryFlush": {"enabled": True}},
                # Old tool output (pages, files) is trimmed from the context once the prompt cache expired.
                "contextPruning": {"mode": "cache-ttl"},
            }
        },
        "models": {
            "providers": {
                "anthropic": {"baseUrl": f"{api}/llm/anthropic", "api": "anthropic-messages", "apiKey": token}
            }
        },
        "tools": {
            "profile": "full",
            "web": {"search": {"enabled": True}, "fetch": {"enabled": True}},
            "media": {"image": {"enabled": True}},
        },
        "browser": {"enabled": True, "headless": True, "noSandbox": True, "executablePath": BROWSER_EXECUTABLE},
        "cron": {"enabled": True},
        # The user is the owner: heartbeats (target "owner") and owner-only commands resolve to them.
        "commands": {"ownerAllowFrom": [f"{PLUGIN_ID}:{user_id}"]},
        "plugins": {"allow": list(PLUGINS_ALLOW), "entries": {PLUGIN_ID: {"enabled": True}}},
        "channels": {PLUGIN_ID: {"apiUrl": api, "token": token, "userId": str(user_id), "generation": generation}},
    }
    if integrations:
        config["mcp"] = {"servers": {i.name: _mcp_server(i) for i in integrations}}
    return config


def _mcp_server(integration: Integration) -> dict:
    server: dict = {"command": integration.command, "args": list(integration.args)}
    if integration.env:
        server["env"] = dict(integration.env)
    return server


def config_hash(config: dict) -> str:
    """Stable over key order and blind to the generation (which the hash itself drives)."""
    stripped = json.loads(json.dumps(config))
    stripped["channels"]["yourclaw"].pop("generation", None)
    canonical = json.dumps(stripped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def config_bytes(config: dict) -> bytes:
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


def merge_instructions(existing: str | None) -> str:
    """Our section is replaced in place; whatever the assistant or the user wrote around it stays."""
    section = f"{SECTION_BEGIN}\n{WHATSAPP_INSTRUCTIONS}{SECTION_END}\n"
    if not existing:
        return section
    start = existing.find(SECTION_BEGIN)
    end = existing.find(SECTION_END)
    if start != -1 and end > start:
        tail = existing[end + len(SECTION_END) :]
        return existing[:start] + section.rstrip("\n") + tail
    return section + "\n" + existing
