"""The warm pool, table-driven through `plan`: refill, hand-off, and what is destroyed rather than reused."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest

from tests.unit.runtime.test_planner import CID, LIMITS, NOW, USER, assistant, container
from yourclaw.runtime import planner as p
from yourclaw.runtime.container_spec import container_name, pool_volume_name
from yourclaw.runtime.host_client import ObservedContainer, ObservedVolume

pytestmark = pytest.mark.unit

TEMPLATE = "tmpl-1"
H1 = p.HostView(uuid.UUID(int=1), "h1", draining=False, max_containers=10, reachable=True, warm_pool=2)
H2 = p.HostView(uuid.UUID(int=2), "h2", draining=False, max_containers=10, reachable=True, warm_pool=2)
NEW_USER = uuid.UUID(int=200)


def pooled(n: int, **overrides) -> ObservedContainer:
    base = dict(
        id=f"{n:064x}",
        name=f"yourclaw-pool-{uuid.UUID(int=1000 + n)}",
        user_id=None,
        spec_hash=f"pool-spec-{n}",
        state="running",
        health="healthy",
        created=(NOW - timedelta(minutes=30 - n)).timestamp(),
        pool_id=uuid.UUID(int=1000 + n),
        template_hash=TEMPLATE,
    )
    base.update(overrides)
    return ObservedContainer(**base)


def newcomer(**overrides) -> p.DesiredAssistant:
    base = dict(
        id=uuid.UUID(int=600),
        user_id=NEW_USER,
        status="PROVISIONING",
        phase="placing",
        host_id=None,
        container_id=None,
        stored_config_hash=None,
        written_generation=None,
        last_poll_generation=None,
        last_poll_at=None,
        instance_id=None,
        ready_at=None,
        template_hash=TEMPLATE,
    )
    base.update(overrides)
    return assistant(**base)


def run(assistants, containers, hosts=(H1, H2), volumes=None, template=TEMPLATE, warmed=None, warming=()):
    """Every pool container counts as warmed unless `warmed` says which."""
    if warmed is None:
        warmed = [c.id for cs in containers.values() for c in cs if c.pool_id is not None]
    observed = p.Observed(containers, volumes, warmed=frozenset(warmed), warming=frozenset(warming))
    return p.plan(list(assistants), list(hosts), observed, NOW, LIMITS, pool_template=template)


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def test_an_empty_pool_is_filled_to_its_size_on_every_host():
    actions = run([], {H1.id: [], H2.id: []})
    assert sorted((a.host_id.int, a.slot) for a in of(actions, p.CreatePool)) == [(1, 0), (1, 1), (2, 0), (2, 1)]


def test_a_full_pool_plans_nothing():
    assert run([], {H1.id: [pooled(1), pooled(2)], H2.id: [pooled(3), pooled(4)]}) == []


def test_the_pool_counts_against_capacity_and_users_come_first():
    small = dataclasses.replace(H1, max_containers=2)
    users = [assistant(), assistant(id=uuid.UUID(int=501), user_id=uuid.UUID(int=101), container_id="d" * 64)]
    boxes = [container(), container(id="d" * 64, user_id=uuid.UUID(int=101))]
    actions = run(users, {small.id: [*boxes, pooled(1)]}, hosts=[small])
    assert of(actions, p.CreatePool) == []
    assert [(a.container_id, a.reason) for a in of(actions, p.DestroyPool)] == [(pooled(1).id, "surplus")]


def test_a_new_user_gets_the_warmest_ready_container_as_a_hand_off():
    actions = run([newcomer()], {H1.id: [pooled(2), pooled(1)], H2.id: []}, hosts=[H1])
    handed = of(actions, p.HandOff)
    assert handed == [p.HandOff(newcomer().id, H1.id, pooled(1).id, pool_volume_name(pooled(1).pool_id))]
    assert of(actions, p.Create) == []
    assert [a.slot for a in of(actions, p.CreatePool)] == [1]  # refilled in the same pass


def test_two_new_users_never_get_the_same_container():
    second = newcomer(id=uuid.UUID(int=601), user_id=uuid.UUID(int=201))
    actions = run([newcomer(), second], {H1.id: [pooled(1)]}, hosts=[H1])
    assert [a.container_id for a in of(actions, p.HandOff)] == [pooled(1).id]
    assert [a.assistant_id for a in of(actions, p.Create)] == [second.id]  # the cold path


@pytest.mark.parametrize(
    "who",
    [
        newcomer(ready_at=NOW - timedelta(days=3)),  # was running before: may have a volume
        newcomer(volume="yourclaw-pool-data-x"),  # a hand-off that failed: their own volume
        newcomer(attempts=1),
        newcomer(template_hash="other"),  # an image of their own
        newcomer(status="ERROR"),
    ],
)
def test_a_user_with_anything_to_keep_takes_the_cold_path(who):
    actions = run([who], {H1.id: [pooled(1)]}, hosts=[H1])
    assert of(actions, p.HandOff) == []


def test_a_user_whose_volume_is_on_a_host_takes_the_cold_path_there():
    volumes = {H1.id: [], H2.id: [ObservedVolume(f"yourclaw-data-{NEW_USER}", NEW_USER)]}
    actions = run([newcomer()], {H1.id: [pooled(1)], H2.id: []}, volumes=volumes)
    assert of(actions, p.HandOff) == []
    assert [a.host_id for a in of(actions, p.Create)] == [H2.id]


def test_no_pool_without_a_template():
    actions = run([newcomer()], {H1.id: [pooled(1)]}, hosts=[H1], template=None)
    assert of(actions, p.HandOff) == [] and of(actions, p.CreatePool) == []
    assert [a.reason for a in of(actions, p.DestroyPool)] == ["no pool wanted"]


@pytest.mark.parametrize(
    ("observed", "reason"),
    [
        (pooled(1, state="exited", exit_code=1), "died"),
        (pooled(1, state="dead"), "died"),
        (pooled(1, state="restarting"), "died"),
        (pooled(1, template_hash="tmpl-0"), "outdated"),  # an image rollout replaces the pool
        (pooled(1, state="created", created=(NOW - timedelta(minutes=5)).timestamp()), "never started"),
    ],
)
def test_a_pool_container_that_is_not_fit_is_destroyed_with_its_volume_never_restarted(observed, reason):
    actions = run([newcomer()], {H1.id: [observed]}, hosts=[H1])
    assert of(actions, p.DestroyPool) == [p.DestroyPool(H1.id, observed.id, pool_volume_name(observed.pool_id), reason)]
    assert of(actions, p.HandOff) == [] and of(actions, p.Start) == []
    assert len(of(actions, p.CreatePool)) == 2


def test_a_starting_pool_container_is_kept_but_not_handed_out():
    starting = pooled(1, state="created", created=NOW.timestamp() - 2)
    actions = run([newcomer()], {H1.id: [starting]}, hosts=[H1])
    assert of(actions, p.DestroyPool) == [] and of(actions, p.HandOff) == []
    assert [a.slot for a in of(actions, p.CreatePool)] == [1]


def test_a_draining_host_keeps_no_pool_and_hands_none_out():
    draining = dataclasses.replace(H1, draining=True)
    actions = run([newcomer()], {draining.id: [pooled(1)], H2.id: [pooled(2)]}, hosts=[draining, H2])
    assert [a.reason for a in of(actions, p.DestroyPool)] == ["host draining"]
    assert [a.host_id for a in of(actions, p.HandOff)] == [H2.id]
    assert {a.host_id for a in of(actions, p.CreatePool)} == {H2.id}


def handed_to(user_id: uuid.UUID, n: int = 1) -> ObservedContainer:
    """A pool container after its hand-off: renamed after its user, its labels unchanged."""
    return pooled(n, name=container_name(user_id))


def test_a_handed_off_container_is_the_users_not_the_pools():
    handed = handed_to(NEW_USER)
    row = newcomer(
        host_id=H1.id,
        container_id=handed.id,
        volume=pool_volume_name(handed.pool_id),
        spec_hash=handed.spec_hash,
        stored_config_hash="cfg-1",
        written_generation=3,
        handed_off_at=NOW - timedelta(seconds=2),
    )
    actions = run([row], {H1.id: [handed, pooled(2)]}, hosts=[H1])
    assert of(actions, p.DestroyPool) == [] and of(actions, p.Create) == []
    assert of(actions, p.HandOff) == []
    assert len(of(actions, p.CreatePool)) == 1  # the pool is one short of two
    assert of(actions, p.SetObserved)  # it is the user's: connecting


def test_a_deleted_users_handed_off_container_goes_and_its_volume_stays_theirs():
    handed = pooled(1)
    volume = pool_volume_name(handed.pool_id)
    row = newcomer(wanted=False, host_id=H1.id, container_id=handed.id, volume=volume, deleted_at=NOW)
    volumes = {H1.id: [ObservedVolume(volume, None, handed.pool_id)]}
    actions = run([row], {H1.id: [handed]}, hosts=[H1], volumes=volumes)
    assert [(a.container_id, a.reason) for a in of(actions, p.RemoveContainer)] == [(handed.id, "deleted")]
    assert of(actions, p.DestroyPool) == []  # never treated as the pool's again
    assert of(actions, p.RemoveVolume) == []  # kept for the user for the retention period
    assert of(actions, p.HandOff) == []


def test_a_pool_volume_nobody_owns_and_no_container_uses_is_removed():
    stray = ObservedVolume("yourclaw-pool-data-stray", None, uuid.UUID(int=77))
    used = ObservedVolume(pool_volume_name(pooled(1).pool_id), None, pooled(1).pool_id)
    actions = run([], {H1.id: [pooled(1), pooled(2)]}, hosts=[H1], volumes={H1.id: [stray, used]})
    assert of(actions, p.RemoveVolume) == [p.RemoveVolume(H1.id, "yourclaw-pool-data-stray")]


def test_a_cold_users_container_is_never_counted_as_pool():
    actions = run([assistant()], {H1.id: [container(), pooled(1), pooled(2)]}, hosts=[H1])
    assert actions == []
    assert CID and USER


def test_a_handed_off_container_that_never_connects_fails_after_the_timeout_from_the_hand_off():
    handed = handed_to(NEW_USER)
    row = newcomer(
        host_id=H1.id,
        container_id=handed.id,
        volume=pool_volume_name(handed.pool_id),
        spec_hash=handed.spec_hash,
        stored_config_hash="cfg-1",
        written_generation=3,
        handed_off_at=NOW - LIMITS.provision_timeout - timedelta(seconds=1),
    )
    actions = run([row], {H1.id: [handed]}, hosts=[H1])
    assert [(a.container_id, a.host_id) for a in of(actions, p.Fail)] == [(handed.id, H1.id)]


def test_a_running_pool_container_gets_one_warm_up_turn():
    starting = pooled(1, state="created", created=NOW.timestamp() - 2)
    actions = run([], {H1.id: [pooled(2), starting]}, hosts=[H1], warmed=[])
    assert of(actions, p.WarmUp) == [p.WarmUp(H1.id, pooled(2).id)]  # not before it runs
    again = run([], {H1.id: [pooled(2)]}, hosts=[H1], warmed=[], warming=[pooled(2).id])
    assert of(again, p.WarmUp) == []  # at it (or failed lately): not twice


def test_the_warmed_container_is_handed_out_before_a_cold_or_warming_one():
    older_cold, warming, warm = pooled(1), pooled(2), pooled(3)
    containers = {H1.id: [older_cold, warming, warm]}
    big = dataclasses.replace(H1, warm_pool=3)
    actions = run([newcomer()], containers, hosts=[big], warmed=[warm.id], warming=[warming.id])
    assert [a.container_id for a in of(actions, p.HandOff)] == [warm.id]
    actions = run([newcomer()], containers, hosts=[big], warmed=[], warming=[warming.id])
    assert [a.container_id for a in of(actions, p.HandOff)] == [older_cold.id]  # one not at its warm-up


def test_a_handed_off_container_still_under_its_pool_name_is_renamed_before_anything_else():
    handed = pooled(1)  # its hand-off's rename failed
    row = newcomer(
        host_id=H1.id,
        container_id=handed.id,
        volume=pool_volume_name(handed.pool_id),
        spec_hash=handed.spec_hash,
        handed_off_at=NOW - timedelta(seconds=2),
    )
    actions = run([row], {H1.id: [handed, pooled(2)]}, hosts=[H1])
    assert of(actions, p.TakeName) == [p.TakeName(row.id, H1.id, handed.id, container_name(NEW_USER))]
    assert of(actions, p.WriteConfig) == [] and of(actions, p.SetObserved) == []  # nothing of theirs yet
    assert of(actions, p.HandOff) == [] and of(actions, p.DestroyPool) == []


def test_a_handed_off_container_whose_row_is_gone_is_never_the_pools_again_and_goes_with_its_volume():
    """An account deleted: no row names the container, and its labels still say pool. Its name says not."""
    gone = uuid.UUID(int=300)
    leftover = handed_to(gone)
    volume = pool_volume_name(leftover.pool_id)
    actions = run([newcomer()], {H1.id: [leftover, pooled(2)]}, hosts=[H1])
    assert [a.container_id for a in of(actions, p.HandOff)] == [pooled(2).id]
    assert of(actions, p.RemoveContainer) == [p.RemoveContainer(H1.id, leftover.id, "orphan", volume)]
    assert of(actions, p.DestroyPool) == []
    # Nothing else in the pool: the newcomer starts cold rather than in the leftover.
    alone = run([newcomer()], {H1.id: [leftover]}, hosts=[H1])
    assert of(alone, p.HandOff) == [] and [a.host_id for a in of(alone, p.Create)] == [H1.id]


def test_an_orphaned_handed_off_containers_volume_stays_when_a_row_names_it():
    leftover = handed_to(uuid.UUID(int=300))
    volume = pool_volume_name(leftover.pool_id)
    owner = assistant(wanted=False, container_id=None, volume=volume, deleted_at=NOW)
    actions = run([owner], {H1.id: [leftover]}, hosts=[H1], template=None)
    assert [(a.reason, a.volume) for a in of(actions, p.RemoveContainer)] == [("orphan", None)]
