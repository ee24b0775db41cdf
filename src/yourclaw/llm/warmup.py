"""The warm pool's placeholder token, and the one thing it may do: a warm-up turn the proxy answers itself.

A pool container has run no turn for anyone. Its first turn pays OpenClaw's lazy setup (seconds, before the
model is even called), so the pool runs one before hand-out with this token, in a session of its own. The
token names the pool container and is signed with a key derived from ENCRYPTION_KEY, so it is checked with
no database work; the proxy answers such a call locally with a fixed short reply: nothing goes upstream,
nobody is charged. It is no assistant token: polls, outbound messages and media refuse it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

WARMUP_PREFIX = "ycwarm_"
WARMUP_TEXT = "ok"


def _signature(secret: str, pool_id: uuid.UUID) -> str:
    key = hashlib.sha256(b"yourclaw-warmup:" + secret.encode()).digest()
    return hmac.new(key, pool_id.bytes, hashlib.sha256).hexdigest()


def warmup_token(secret: str, pool_id: uuid.UUID) -> str:
    return f"{WARMUP_PREFIX}{pool_id.hex}_{_signature(secret, pool_id)}"


def is_warmup_token(secret: str, token: str) -> bool:
    if not token.startswith(WARMUP_PREFIX):
        return False
    pool_hex, _, signature = token[len(WARMUP_PREFIX) :].partition("_")
    try:
        pool_id = uuid.UUID(hex=pool_hex)
    except ValueError:
        return False
    return hmac.compare_digest(signature, _signature(secret, pool_id))


def _event(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def local_answer(model: str, *, stream: bool) -> tuple[str, bytes]:
    """(content type, body) of a one-word Anthropic Messages answer, streamed or whole."""
    message = {
        "id": "msg_warmup",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    if not stream:
        whole = {
            **message,
            "content": [{"type": "text", "text": WARMUP_TEXT}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 0, "output_tokens": 1},
        }
        return "application/json", json.dumps(whole).encode()
    body = b"".join(
        (
            _event("message_start", {"type": "message_start", "message": message}),
            _event(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": WARMUP_TEXT}},
            ),
            _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": 1},
                },
            ),
            _event("message_stop", {"type": "message_stop"}),
        )
    )
    return "text/event-stream", body
