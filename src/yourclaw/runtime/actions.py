"""What the planner decides, as values: one action per change on a host or in the database, carried out by
`runtime.apply`. The warm pool's own (`CreatePool` ... `WarmUp`) are defined beside its planning
(`runtime.pool`) and are part of `Action` here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from yourclaw.runtime.moves import FinishMove, Move, Restore
from yourclaw.runtime.pool import CreatePool, DestroyPool, HandOff, TakeName, WarmUp


@dataclass(frozen=True)
class Create:
    assistant_id: uuid.UUID
    host_id: uuid.UUID
    replace_container: str | None = None  # remove this one first (recreate)
    why: str = "provision"


@dataclass(frozen=True)
class Start:
    assistant_id: uuid.UUID
    host_id: uuid.UUID
    container_id: str
    reason: str | None = None  # why it had stopped, for the phase; read from the list, before the start


@dataclass(frozen=True)
class Restart:
    """A running container whose assistant stopped checking in: its process is stuck or cut off."""

    assistant_id: uuid.UUID
    host_id: uuid.UUID
    container_id: str


@dataclass(frozen=True)
class WriteConfig:
    assistant_id: uuid.UUID
    host_id: uuid.UUID
    container_id: str


@dataclass(frozen=True)
class Diagnose:
    """A container that keeps dying: find out why (one inspect) and show it as the phase's reason."""

    assistant_id: uuid.UUID
    host_id: uuid.UUID
    container_id: str


@dataclass(frozen=True)
class RemoveContainer:
    host_id: uuid.UUID
    container_id: str
    reason: str
    volume: str | None = None  # removed after it: a handed-off pool container's, once no row names either


@dataclass(frozen=True)
class RemoveVolume:
    host_id: uuid.UUID
    volume: str


@dataclass(frozen=True)
class Fail:
    assistant_id: uuid.UUID
    error: str
    host_id: uuid.UUID | None = None
    container_id: str | None = None


@dataclass(frozen=True)
class SetObserved:
    """A database-only change of observed state."""

    assistant_id: uuid.UUID
    values: dict = field(hash=False)
    became_ready: bool = False


Action = Create | Start | Restart | WriteConfig | Diagnose | RemoveContainer | RemoveVolume | Fail | SetObserved
Action |= CreatePool | HandOff | TakeName | DestroyPool | WarmUp  # the warm pool's (`runtime.pool`)
Action |= Move | FinishMove | Restore  # the volume's own (`runtime.moves`)
