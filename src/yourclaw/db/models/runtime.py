"""Assistants (desired and observed state), their tokens, and the Docker hosts they run on."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from yourclaw.db.base import Base, created_at, status_check, updated_at, uuid_pk

ASSISTANT_STATUSES = ("NONE", "PROVISIONING", "READY", "ERROR")
ASSISTANT_PHASES = (
    "none",
    "placing",
    "creating",
    "starting",
    "connecting",
    "ready",
    "restarting",
    "reconfiguring",
    "disconnected",
    "crash_loop",
    "unknown",
    "deleting",
    "failed",
    "moving",  # its volume is on its way to another host (`runtime.volume_apply`); messages wait
    "restoring",  # a backup is being written into a fresh volume for it; messages wait
)


class HostServer(Base):
    """A Docker host reached over mutual TLS; an operator's row, not a user's."""

    __tablename__ = "host_servers"
    __table_args__ = (
        CheckConstraint("max_containers >= 0", name="max_containers_nonnegative"),
        CheckConstraint("docker_url LIKE 'tcp://%'", name="docker_url_tcp"),
        CheckConstraint("warm_pool IS NULL OR warm_pool >= 0", name="warm_pool_nonnegative"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(64), unique=True)
    docker_url: Mapped[str] = mapped_column(String(255), unique=True)
    max_containers: Mapped[int] = mapped_column(Integer, server_default=text("20"))
    # Warm, unassigned containers kept here (counted in max_containers); NULL = the WARM_POOL_SIZE setting.
    warm_pool: Mapped[int | None] = mapped_column(Integer)
    draining: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    reachable: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_contact_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # What this host's containers call to reach the control plane, when not RUNTIME_API_URL (a private
    # network address, say).
    runtime_api_url: Mapped[str | None] = mapped_column(String(255))
    engine_version: Mapped[str | None] = mapped_column(String(32))
    api_version: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Assistant(Base):
    """One per user. The API writes the desired columns; the reconciler alone writes the observed ones."""

    __tablename__ = "assistants"
    __table_args__ = (
        CheckConstraint(status_check("status", ASSISTANT_STATUSES), name="status"),
        CheckConstraint(status_check("phase", ASSISTANT_PHASES), name="phase"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        CheckConstraint("desired_generation >= 1", name="generation_positive"),
        Index("ix_assistants_host_server_id", "host_server_id"),
        # A container or volume belongs to one user at most: two hand-offs of one pool container cannot
        # both be recorded.
        Index("uq_assistants_container_id", "container_id", unique=True),
        Index("uq_assistants_volume", "volume", unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)

    # Desired state.
    wanted: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    model: Mapped[str] = mapped_column(String(100))
    image: Mapped[str | None] = mapped_column(String(255))
    desired_generation: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    recreate_requested_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    # An operator's move (`yourclaw hosts evacuate`): to `move_to_host_id`, or wherever the reconciler finds
    # room when NULL. Cleared once the volume has reached its new host.
    move_requested_at: Mapped[datetime | None]
    move_to_host_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("host_servers.id", ondelete="SET NULL"))

    # Observed state.
    status: Mapped[str] = mapped_column(String(20), server_default=text("'NONE'"))
    phase: Mapped[str] = mapped_column(String(20), server_default=text("'none'"))
    host_server_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("host_servers.id", ondelete="SET NULL"))
    container_id: Mapped[str | None] = mapped_column(String(100))
    # The host a move left: its container and volume are removed once the assistant is READY on the new one.
    moved_from_host_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("host_servers.id", ondelete="SET NULL"))
    # The user's data volume when it is not the one named after them: one that came with a pool container.
    volume: Mapped[str | None] = mapped_column(String(100))
    # When a pool container became this user's: its provisioning clock starts then, not at its creation.
    handed_off_at: Mapped[datetime | None]
    container_spec_hash: Mapped[str | None] = mapped_column(String(64))
    config_hash: Mapped[str | None] = mapped_column(String(64))
    observed_generation: Mapped[int | None] = mapped_column(BigInteger)
    # The generation whose config was last written to the volume (it takes effect when polled with).
    written_generation: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    restart_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Why the assistant is in its phase, in words a user can read (e.g. "out of memory, restarting").
    phase_reason: Mapped[str | None] = mapped_column(Text)
    next_retry_at: Mapped[datetime | None]
    ready_at: Mapped[datetime | None]

    # What the assistant last told us through its poll.
    last_poll_at: Mapped[datetime | None]
    last_poll_generation: Mapped[int | None] = mapped_column(BigInteger)
    instance_id: Mapped[str | None] = mapped_column(String(64))
    # Instances replaced by a newer one: their polls get 409 (two containers for one user).
    superseded_instance_ids: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), server_default=text("'{}'::varchar[]")
    )
    last_message_at: Mapped[datetime | None]

    # The workspace (the assistant's volume) as its host last reported it: bytes in use of its size.
    workspace_bytes: Mapped[int | None] = mapped_column(BigInteger)
    workspace_limit_bytes: Mapped[int | None] = mapped_column(BigInteger)
    workspace_measured_at: Mapped[datetime | None]

    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class AssistantToken(Base):
    """One random bearer per assistant for everything it calls; found by its SHA-256, kept encrypted
    only to render the config. A superseded token lives on until `expires_at` (rotation overlap)."""

    __tablename__ = "assistant_tokens"
    __table_args__ = (Index("ix_assistant_tokens_user_id", "user_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assistant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assistants.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_encrypted: Mapped[str] = mapped_column(Text)
    # True for the newest token: the one the config renders.
    current: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


ASSISTANT_EVENT_KINDS = ("model_changed", "automation_set")
# What an automation the assistant set up does: remind once, remind on a schedule, or watch for something.
AUTOMATION_KINDS = ("one_time", "recurring", "watcher")


class AssistantEvent(Base):
    """What happened to a user's assistant that no other table remembers (a model change, a reminder or a
    watcher it set up), for the dashboard's recent activity. Written in the request's transaction."""

    __tablename__ = "assistant_events"
    __table_args__ = (
        CheckConstraint(status_check("kind", ASSISTANT_EVENT_KINDS), name="kind"),
        Index("ix_assistant_events_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    # model_changed: the model's id it changed to; automation_set: the automation's name (user data: never logged).
    detail: Mapped[str | None] = mapped_column(String(200))
    # automation_set: its kind and, as it was set, when it was due to run next.
    automation_kind: Mapped[str | None] = mapped_column(String(16))
    next_run_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at()


class AssistantAutomation(Base):
    """The reminders and watchers the user's assistant has set up, as its plugin last reported the whole list
    (`PUT /runtime/automations`): OpenClaw keeps them inside the container, where the control plane cannot look.
    The name is the user's data (the assistant wrote it from what they asked): never logged."""

    __tablename__ = "assistant_automations"
    __table_args__ = (CheckConstraint(status_check("kind", AUTOMATION_KINDS), name="kind"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # OpenClaw's job id.
    automation_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    next_run_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
