"""What goes into a user's `openclaw.json` and the WhatsApp instructions in their workspace.

The config carries the assistant's secrets (its one token) and nothing else secret: the Anthropic provider
points at our metering proxy with that token, so no real LLM key ever enters a container. Its hash, taken
without the generation, is what the reconciler compares: a change bumps the generation and rewrites the file
in place (OpenClaw hot-reloads it).

An assistant nobody talks to must cost next to nothing (docs/architecture.md, "What an idle assistant
costs"): OpenClaw's own background work — heartbeats, compaction, the memory flush, dreaming — runs on the
cheapest model through a proxy route per purpose, heartbeats only in the user's waking hours and not at all
while there is nothing to check, and the extras that only serve OpenClaw's own UI (recaps, the weekly skill
review) are off.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from yourclaw.llm import catalog, purposes

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
- To remind them of something or to watch something for them ("tell me when..."), create an automation
  with the automations tool: a one-time reminder, a recurring check, or a condition watcher that checks
  on its own and wakes you only when it fires. Have it announce its result to them, and tell them what you
  set up. Do not rely on the heartbeat for this: it only runs while its checklist has items.
- Messages you send on your own outside a recent conversation may arrive as a short notice first; the full
  text follows when they reply.
- When they have connected Google services on their YourClaw dashboard, you have tools for their Google
  Calendar (see, add, move, cancel events, find free time), Gmail (search, read, draft, send) and Drive
  (find, read, create documents). Use them instead of guessing. Before sending an email or deleting an
  event, show them what you will do and wait for their yes. If a tool says a service is not connected or
  needs reconnecting, tell them they can connect it on their dashboard.
"""

# Without a transcription key voice notes reach the agent as audio it cannot hear: it says so rather than
# ignoring them.
NO_VOICE_NOTES = """\
- You cannot listen to voice notes yet. When a message carries audio (a voice note) and no transcript, tell
  them you cannot listen to voice notes yet and ask them to type it; never pretend you heard it.
"""


# Our MCP server for the user's Google services (`integrations.mcp_server`), on the control plane: the
# assistant reaches it with its own token, and no Google token ever enters the container.
GOOGLE_MCP_PATH = "/mcp/google"


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
# Loaded only when web search is offered (a search key is set in the control plane).
SEARCH_PLUGIN = "brave"
# The control plane's search proxy, which OpenClaw's Brave provider is pointed at (`senses.search`).
SEARCH_PROXY_PATH = "/search/brave"
# Voice notes are transcribed by OpenClaw's OpenAI audio provider pointed at our transcription proxy
# (`senses.transcription`, OpenAI-compatible), with the assistant token as its key.
TRANSCRIPTION_PLUGIN = "openai"
TRANSCRIPTION_PROXY_PATH = "/transcribe/v1"
# The model the entry names; the proxy sends the control plane's TRANSCRIPTION_MODEL whatever it says.
TRANSCRIPTION_MODEL = "whisper-1"

# OpenClaw's background work runs on the cheapest model we offer, each purpose through its own proxy route
# (`/llm/anthropic/bg/<purpose>`) so the user's spend shows what it was for. A custom provider must list its
# models; `maxTokens` keeps each call's reservation (max_tokens at the output price) to a couple of cents.
BACKGROUND_MODEL_ID = catalog.BACKGROUND_MODEL.split("/", 1)[1]
BACKGROUND_MAX_TOKENS = 4096
BACKGROUND_PURPOSES = (purposes.HEARTBEAT, purposes.MEMORY)

# OpenClaw asks 128,000 output tokens of the 5-series, a reservation of $1.28 per Sonnet call ($3.20 on Opus)
# held against the user's credits while it runs. A WhatsApp reply with its thinking, or a file written through
# a tool, fits well within this.
MAIN_MAX_TOKENS = 32_000
# The 5-series take a 1M-token context, and OpenClaw compacts a conversation only near the window: every turn
# of a long chat would resend (and, once the 5-minute cache expired, rewrite) up to a million tokens. 200k,
# the smaller window the catalog offers for them, keeps a turn's worst case near $0.50 on Sonnet.
MAIN_CONTEXT_TOKENS = 200_000

# Hourly, in a fresh session with only the monitor checklist as context, and only ever to the owner (the one
# user): a `last` target could follow a conversation we did not start. The image leaves the checklist
# effectively empty (infra/image/start/heartbeat-checklist.mjs), which OpenClaw skips without a model call;
# "watch X and tell me" is an automation instead (WHATSAPP_INSTRUCTIONS).
HEARTBEAT_EVERY = "1h"
HEARTBEAT_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class ActiveHours:
    """When heartbeats may run, on the user's clock: outside quiet hours (`HH:MM`, end exclusive)."""

    start: str
    end: str


def background_model(purpose: str) -> str:
    return f"{_background_provider_id(purpose)}/{BACKGROUND_MODEL_ID}"


def _background_provider_id(purpose: str) -> str:
    return f"yourclaw-bg-{purpose}"


def _background_provider(api: str, token: str, purpose: str) -> dict:
    limits = catalog.limits_for(BACKGROUND_MODEL_ID)
    return {
        "baseUrl": f"{api}/llm/anthropic/bg/{purpose}",
        "api": "anthropic-messages",
        "apiKey": token,
        "models": [
            {
                "id": BACKGROUND_MODEL_ID,
                "name": _label(catalog.BACKGROUND_MODEL),
                "contextWindow": limits.context_window,
                "maxTokens": BACKGROUND_MAX_TOKENS,
            }
        ],
    }


def _heartbeat(active_hours: ActiveHours | None, timezone: str | None) -> dict:
    heartbeat = {
        "every": HEARTBEAT_EVERY,
        "target": "owner",
        "isolatedSession": True,
        "lightContext": True,
        "model": background_model(purposes.HEARTBEAT),
        "timeoutSeconds": HEARTBEAT_TIMEOUT_SECONDS,
    }
    if active_hours is not None:
        heartbeat["activeHours"] = {"start": active_hours.start, "end": active_hours.end, "timezone": timezone or "UTC"}
    return heartbeat


def _models(primary: str) -> tuple[dict, list[dict]]:
    """(the agent's model list, the anthropic provider's model rows) for the user's model. Once the list
    exists OpenClaw runs no model missing from it: a heartbeat naming another falls back to the user's."""
    upstream = primary.split("/", 1)[1]
    limits = catalog.limits_for(upstream)
    listed = {primary: {"params": {"maxTokens": min(MAIN_MAX_TOKENS, limits.max_output)}}}
    listed |= {background_model(purpose): {} for purpose in BACKGROUND_PURPOSES}
    rows = []
    if limits.context_window > MAIN_CONTEXT_TOKENS:
        rows.append({"id": upstream, "name": _label(primary), "contextTokens": MAIN_CONTEXT_TOKENS})
    return listed, rows


def _label(model: str) -> str:
    return next((m.label for m in catalog.MODELS if m.id == model), model.split("/", 1)[1])


def _memory_core(timezone: str | None) -> dict:
    """Dreaming promotes what mattered in the day's conversations into MEMORY.md (what the assistant knows
    of the user next week). On a day without conversation it finds nothing and calls no model; its
    completions go to the memory route on the background model."""
    model = background_model(purposes.MEMORY)
    dreaming: dict = {"enabled": True, "model": model}
    if timezone:
        dreaming["timezone"] = timezone
    # OpenClaw honours dreaming.model only for plugins allowed to pick their model.
    return {"subagent": {"allowModelOverride": True, "allowedModels": [model]}, "config": {"dreaming": dreaming}}


def render(
    *,
    user_id: uuid.UUID,
    model: str,
    token: str,
    api_url: str,
    generation: int,
    timezone: str | None = None,
    active_hours: ActiveHours | None = None,
    google_services: tuple[str, ...] = (),
    search: bool = False,
    transcription: bool = False,
) -> dict:
    """Only keys the pinned OpenClaw accepts (tests/e2e/runtime/test_openclaw_config.py runs `openclaw config
    validate` on this with the plugin installed); hot-reloadable except `gateway.*` and `memory.search`, which
    never change for an assistant. `timezone` is the user's (IANA, None when unknown), `active_hours` when heartbeats
    may run on their clock (None: around the clock). `search`: web search is offered (through our proxy, with the
    assistant token as the provider's key); without it the tool is off rather than broken. `transcription`:
    voice notes are transcribed (through our proxy, the same way); without it audio understanding is off and the
    instructions say so (`merge_instructions`)."""
    api = api_url.rstrip("/")
    primary = catalog.current_model(model)
    listed_models, main_rows = _models(primary)
    memory_model = background_model(purposes.MEMORY)
    anthropic: dict = {"baseUrl": f"{api}/llm/anthropic", "api": "anthropic-messages", "apiKey": token}
    if main_rows:
        anthropic["models"] = main_rows
    providers = {"anthropic": anthropic}
    if transcription:
        # Audio understanding resolves its key as model calls do: the provider entry carries the token. No
        # model is listed, so the agent never runs one of this provider's. Unlike model calls, OpenClaw's
        # transcription requests do not trust the configured origin: its SSRF guard refuses the control plane's
        # private address ("SsrFBlockedError") unless this provider may reach private networks. The opt-in
        # exists only per provider (not on the `tools.media.models` entry), and this one only calls our proxy.
        providers[TRANSCRIPTION_PLUGIN] = {
            "baseUrl": api + TRANSCRIPTION_PROXY_PATH,
            "apiKey": token,
            "models": [],
            "request": {"allowPrivateNetwork": True},
        }
    for purpose in BACKGROUND_PURPOSES:
        providers[_background_provider_id(purpose)] = _background_provider(api, token, purpose)
    defaults: dict = {
        "model": {"primary": primary},
        "models": listed_models,
        "heartbeat": _heartbeat(active_hours, timezone),
        # The per-turn "activity recap" only titles OpenClaw's own dashboards, which nobody sees here.
        "utilityModel": "",
        # Before old turns are compacted away, what matters is saved to memory files; both the summary and
        # that flush are memory upkeep on the background model.
        "compaction": {"model": memory_model, "memoryFlush": {"enabled": True, "model": memory_model}},
        # Old tool output (pages, files) is trimmed from the context once the prompt cache expired.
        "contextPruning": {"mode": "cache-ttl"},
    }
    if timezone:
        # The agent's clock: reminders and schedules it sets are in the user's time.
        defaults["userTimezone"] = timezone
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
        "agents": {"defaults": defaults},
        # The model catalogue is the pinned one: no fetch of OpenClaw's remote catalogue every six hours.
        "models": {"catalogRefresh": {"enabled": False}, "providers": providers},
        "tools": {
            "profile": "full",
            "web": {"search": _web_search(search), "fetch": {"enabled": True}},
            "media": _media(api, transcription),
        },
        # Memory search by keywords only, deliberately: OpenClaw's default embeddings are OpenAI's, which would
        # pick up the `openai` provider that only exists for transcription and post every memory sync to our
        # transcription proxy.
        "memory": {"search": {"provider": "none"}},
        "browser": {"enabled": True, "headless": True, "noSandbox": True, "executablePath": BROWSER_EXECUTABLE},
        "cron": {"enabled": True},
        # The weekly Skill Workshop review is a full agent turn on the user's model, even with nothing to review.
        "skills": {"workshop": {"autonomous": {"mode": "off"}}},
        # The user is the owner: heartbeats (target "owner") and owner-only commands resolve to them.
        "commands": {"ownerAllowFrom": [f"{PLUGIN_ID}:{user_id}"]},
        "plugins": {
            "allow": [
                *PLUGINS_ALLOW,
                *([SEARCH_PLUGIN] if search else []),
                *([TRANSCRIPTION_PLUGIN] if transcription else []),
            ],
            "entries": {PLUGIN_ID: {"enabled": True}, "memory-core": _memory_core(timezone)},
        },
        "channels": {PLUGIN_ID: {"apiUrl": api, "token": token, "userId": str(user_id), "generation": generation}},
    }
    if search:
        config["plugins"]["entries"][SEARCH_PLUGIN] = {
            "enabled": True,
            "config": {"webSearch": {"apiKey": token, "baseUrl": api + SEARCH_PROXY_PATH}},
        }
    if google_services:
        config["mcp"] = {"servers": {"google": _google_mcp(api, token, google_services)}}
    return config


def _media(api: str, transcription: bool) -> dict:
    media: dict = {"image": {"enabled": True}, "audio": {"enabled": transcription}}
    if transcription:
        media["models"] = [
            {
                "provider": TRANSCRIPTION_PLUGIN,
                "model": TRANSCRIPTION_MODEL,
                "baseUrl": api + TRANSCRIPTION_PROXY_PATH,
                "capabilities": ["audio"],
            }
        ]
    return media


def _web_search(search: bool) -> dict:
    if not search:
        return {"enabled": False}
    return {"enabled": True, "provider": SEARCH_PLUGIN, "maxResults": 5}


def _google_mcp(api: str, token: str, services: tuple[str, ...]) -> dict:
    """Named only while a service is connected. The services ride along in a header so that connecting or
    disconnecting one changes the config: OpenClaw hot-reloads it and lists the server's tools again,
    without a restart (the server itself answers each call with the tools connected at that moment)."""
    return {
        "url": api + GOOGLE_MCP_PATH,
        "transport": "streamable-http",
        "headers": {"Authorization": f"Bearer {token}", "X-YourClaw-Services": ",".join(sorted(services))},
    }


def config_hash(config: dict) -> str:
    """Stable over key order and blind to the generation (which the hash itself drives)."""
    stripped = json.loads(json.dumps(config))
    stripped["channels"]["yourclaw"].pop("generation", None)
    canonical = json.dumps(stripped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def config_bytes(config: dict) -> bytes:
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


def instructions(*, voice_notes: bool = True) -> str:
    return WHATSAPP_INSTRUCTIONS + ("" if voice_notes else NO_VOICE_NOTES)


def merge_instructions(existing: str | None, *, voice_notes: bool = True) -> str:
    """Our section is replaced in place; whatever the assistant or the user wrote around it stays.
    `voice_notes`: whether voice notes are transcribed (else the agent is told to say it cannot listen)."""
    section = f"{SECTION_BEGIN}\n{instructions(voice_notes=voice_notes)}{SECTION_END}\n"
    if not existing:
        return section
    start = existing.find(SECTION_BEGIN)
    end = existing.find(SECTION_END)
    if start != -1 and end > start:
        tail = existing[end + len(SECTION_END) :]
        return existing[:start] + section.rstrip("\n") + tail
    return section + "\n" + existing
