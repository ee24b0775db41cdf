"""Whether Supabase still has a user, unbanned. Our cookie session outlives Supabase's access token (14 days
against an hour), so a ban or a deletion there would not end it; we ask Supabase's admin API about each
signed-in user at most every SUPABASE_USER_RECHECK_SECONDS, and a user it no longer has or has banned is
signed out everywhere (`dependencies.provide_current_user`).

Needs SUPABASE_SERVICE_ROLE_KEY (without it, or with dev sign-in, nothing is asked). When Supabase cannot be
asked the user stays signed in (an outage there must not sign everyone out) and is asked again after the
same interval, so an outage costs no call per request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import structlog

log = structlog.get_logger(__name__)

# Users whose last answer is remembered per process; past it, the oldest are asked again sooner.
_REMEMBERED = 50_000


class SupabaseUsers:
    def __init__(
        self,
        *,
        supabase_url: str | None,
        service_role_key: str | None,
        http: httpx.AsyncClient,
        recheck_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = (supabase_url or "").rstrip("/")
        self._key = service_role_key or None
        self._http = http
        self._recheck = recheck_seconds
        self.clock = clock
        self._asked_at: dict[uuid.UUID, float] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._base and self._key)

    async def still_active(self, user_id: uuid.UUID) -> bool:
        """False once Supabase says the user is deleted or banned; True otherwise, and while it has been
        asked within the interval."""
        if not self.enabled:
            return True
        now = self.clock()
        asked = self._asked_at.get(user_id)
        if asked is not None and now - asked < self._recheck:
            return True
        # Noted before asking: requests arriving while Supabase answers do not ask again.
        self._asked_at.pop(user_id, None)
        self._asked_at[user_id] = now
        if len(self._asked_at) > _REMEMBERED:
            for oldest in list(self._asked_at)[: _REMEMBERED // 10]:
                del self._asked_at[oldest]
        active = await self._ask(user_id)
        if not active:
            # Whatever Supabase says later, the sessions are ended; a new sign-in is asked about afresh.
            self._asked_at.pop(user_id, None)
        return active

    async def _ask(self, user_id: uuid.UUID) -> bool:
        headers = {"apikey": self._key or "", "Authorization": f"Bearer {self._key}"}
        try:
            response = await self._http.get(f"{self._base}/auth/v1/admin/users/{user_id}", headers=headers)
        except httpx.HTTPError as exc:
            log.warning("supabase_user_check_failed", error=type(exc).__name__)
            return True
        if response.status_code == 404:
            log.info("supabase_user_gone")
            return False
        if response.status_code != 200:
            log.warning("supabase_user_check_failed", status=response.status_code)
            return True
        try:
            user = response.json()
        except ValueError:
            log.warning("supabase_user_check_failed", error="not JSON")
            return True
        if not isinstance(user, dict):
            return True
        if user.get("deleted_at"):
            log.info("supabase_user_gone")
            return False
        if _banned(user.get("banned_until")):
            log.info("supabase_user_banned")
            return False
        return True


def _banned(until: object) -> bool:
    if not isinstance(until, str) or not until or until == "none":
        return False
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        # A shape we do not know: not a reason to sign someone out.
        log.warning("supabase_banned_until_unreadable")
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment > datetime.now(UTC)
