"""The desired state as the planner compares it: an assistant's row, its current token and its host,
rendered into a container-spec hash and a config hash (the rows themselves are read by `repository`)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC

from yourclaw.db.models import Assistant, HostServer
from yourclaw.kit.settings import Settings
from yourclaw.llm import catalog, warmup
from yourclaw.messaging.outbound.delivery_policy import parse_quiet_hours, user_zone
from yourclaw.runtime import openclaw_config
from yourclaw.runtime.container_spec import ContainerSpec, spec_for
from yourclaw.runtime.planner import DesiredAssistant


@dataclass(frozen=True)
class Rendered:
    spec: ContainerSpec
    config: dict | None  # None when the assistant has no usable token (it cannot run)
    config_hash: str


def api_url_for(settings: Settings, host: HostServer | None) -> str:
    return (host.runtime_api_url if host and host.runtime_api_url else None) or settings.assistant_api_url


def active_hours(settings: Settings) -> openclaw_config.ActiveHours | None:
    """When the assistant may check on things by itself: outside the quiet hours its messages keep to
    (`QUIET_HOURS`), on the user's clock; around the clock when there are none."""
    quiet = parse_quiet_hours(settings.quiet_hours)
    if quiet is None:
        return None
    # OpenClaw's window ends before `end`; midnight as an end is written 24:00.
    end = quiet.start.strftime("%H:%M")
    return openclaw_config.ActiveHours(start=quiet.end.strftime("%H:%M"), end="24:00" if end == "00:00" else end)


def render(
    settings: Settings,
    row: Assistant,
    token: str | None,
    host: HostServer | None,
    generation: int,
    *,
    timezone: str | None = None,
    google: tuple[str, ...] = (),
) -> Rendered:
    """`timezone` is the user's (`users.timezone`): a change re-renders the config, like a model change.
    `google` is the user's connected Google services: connecting or disconnecting one does too."""
    spec = spec_for(settings, row.user_id, row.image, volume=row.volume)
    if token is None:
        return Rendered(spec, None, "no-token")
    config = openclaw_config.render(
        user_id=row.user_id,
        model=row.model,
        token=token,
        api_url=api_url_for(settings, host),
        generation=generation,
        timezone=known_timezone(timezone),
        active_hours=active_hours(settings),
        google_services=google,
        search=bool(settings.brave_search_api_key),
        transcription=bool(settings.openai_api_key),
    )
    return Rendered(spec, config, openclaw_config.config_hash(config))


def pool_template(settings: Settings) -> str:
    """The template hash every pool container must carry now: an image rollout changes it."""
    return spec_for(settings, None, None, pool_id=uuid.UUID(int=0)).template_hash


def render_pool(settings: Settings, pool_id: uuid.UUID, host: HostServer | None) -> Rendered:
    """A pool container's placeholder: a valid config whose token is no assistant's, so the container can do
    nothing (no poll answered, no message sent, no model call charged) but its warm-up turn, which the
    proxy answers itself (`llm.warmup`), until a user's config replaces it."""
    spec = spec_for(settings, None, None, pool_id=pool_id)
    keys = settings.fernet_keys
    token = warmup.warmup_token(keys[0], pool_id) if keys else "pool-" + secrets.token_urlsafe(32)
    config = openclaw_config.render(
        user_id=pool_id,
        model=catalog.DEFAULT_MODEL,
        token=token,
        api_url=api_url_for(settings, host),
        generation=1,
        active_hours=active_hours(settings),
    )
    return Rendered(spec, config, openclaw_config.config_hash(config))


def known_timezone(name: str | None) -> str | None:
    """An IANA name this machine knows, else None (UTC), as the sender reads it: a bad value in a row must
    not make a config OpenClaw refuses."""
    return name if name and user_zone(name) is not UTC else None


def to_desired(row: Assistant, rendered: Rendered) -> DesiredAssistant:
    return DesiredAssistant(
        id=row.id,
        user_id=row.user_id,
        wanted=row.wanted,
        status=row.status,
        phase=row.phase,
        phase_reason=row.phase_reason,
        host_id=row.host_server_id,
        container_id=row.container_id,
        spec_hash=rendered.spec.spec_hash,
        config_hash=rendered.config_hash,
        stored_config_hash=row.config_hash,
        desired_generation=row.desired_generation,
        written_generation=row.written_generation,
        last_poll_generation=row.last_poll_generation,
        last_poll_at=row.last_poll_at,
        instance_id=row.instance_id,
        attempts=row.attempts,
        next_retry_at=row.next_retry_at,
        recreate_requested_at=row.recreate_requested_at,
        deleted_at=row.deleted_at,
        ready_at=row.ready_at,
        volume=row.volume,
        handed_off_at=row.handed_off_at,
        template_hash=rendered.spec.template_hash,
        move_requested_at=row.move_requested_at,
        move_to=row.move_to_host_id,
        moved_from=row.moved_from_host_id,
    )
