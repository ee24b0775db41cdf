"""What we say on WhatsApp about connected services, and the key that makes it go once."""

from __future__ import annotations

import uuid
from datetime import datetime


def reconnect_key(user_id: uuid.UUID, service: str, connected_at: datetime) -> str:
    """Once per connection: a later reconnect that breaks again is told again."""
    return f"google-reconnect:{user_id}:{service}:{connected_at.isoformat()}"


def needs_reconnect(label: str, app_url: str) -> str:
    return (
        f"Your assistant can no longer reach your {label}: Google says its access was revoked or has expired. "
        f"Connect it again at {app_url.rstrip('/')}/dashboard#services to keep using it."
    )
