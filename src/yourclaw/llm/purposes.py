"""What made the assistant think, for the spend per purpose users see: a reply to them, a heartbeat, a
scheduled (cron) job, or memory upkeep (the flush before compaction, compaction, dreaming).

OpenClaw sends no purpose on the wire, so the assistant's config routes its background work to provider
entries whose base URL names the purpose (`/llm/anthropic/bg/<purpose>`, see `runtime.openclaw_config`), and
calls on the main route are told apart by the session OpenClaw names in its system prompt's "Runtime:" line
(`session=agent:<id>:cron:<job>`, `...:heartbeat`, `...internal-session-effects...`). What the container
claims is only a label: every purpose is charged alike.
"""

from __future__ import annotations

REPLY = "reply"
HEARTBEAT = "heartbeat"
CRON = "cron"
MEMORY = "memory"
OTHER = "other"
# Purposes with a route of their own under /llm/anthropic/bg/.
BACKGROUND = (HEARTBEAT, CRON, MEMORY, OTHER)

_SESSION = b"session=agent:"
# How far past the marker the session key can reach; a key is short.
_SESSION_SPAN = 200


def of_main_route(body: bytes) -> str:
    """The purpose of a call on the main route, from the session it names (a reply when it names none)."""
    at = body.find(_SESSION)
    if at < 0:
        return REPLY
    session = body[at + len(_SESSION) : at + len(_SESSION) + _SESSION_SPAN]
    for end, char in enumerate(session):
        if char in b' \t\\",;)\n':
            session = session[:end]
            break
    _, _, rest = session.partition(b":")  # past the agent id
    if rest.startswith(b"cron:") or b":cron:" in rest:
        return CRON
    if b"heartbeat" in rest:
        return HEARTBEAT
    if b"internal-session-effects" in rest:
        return MEMORY
    return REPLY
