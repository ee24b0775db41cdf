"""Every PostgreSQL NOTIFY channel, with what its payload names. A notification is delivered at commit, so
whoever it wakes finds what woke it."""

from __future__ import annotations

# A webhook's message was stored: the router looks at it (payload: message id).
INBOUND = "yourclaw_inbound"
# The router queued a message for a user's assistant, or an ack made the next one eligible (payload: user id).
USER_INBOUND = "yourclaw_user_inbound"
# A message was put in the outbox (payload: user id, or the phone of someone with no account yet).
OUTBOX = "yourclaw_outbox"
# An assistant's desired state changed, its user's time zone included (payload: user id).
ASSISTANTS = "yourclaw_assistants"
# An assistant's poll reported a new instance or config generation (payload: assistant id).
POLLS = "yourclaw_polls"
# Who may call the LLM proxy changed: a token, an own key or a balance (migration 0005's triggers; the
# payload is described in `protocol/token_cache.py`).
LLM_CALLERS = "yourclaw_llm_callers"
