"""The planner, table-driven: what it decides for each combination of desired and observed state."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from yourclaw.runtime import planner as p
from yourclaw.runtime.host_client import ObservedContainer, ObservedVolume

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LIMITS = p.Limits(
    max_attempts=3,
    provision_timeout=timedelta(seconds=180),
    disconnect_after=timedelta(seconds=60),
    orphan_grace=timedelta(seconds=60),
    volume_retention=timedelta(days=30),
)
H1 = p.HostView(uuid.UUID(int=1), "h1", draining=False, max_containers=10, reachable=True)
H2 = p.HostView(uuid.UUID(int=2), "h2", draining=False, max_containers=10, reachable=True)
USER = uuid.UUID(int=100)
CID = "c" * 64


def assistant(**overrides) -> p.DesiredAssistant:
    base = dict(
        id=uuid.UUID(int=500),
        user_id=USER,
        wanted=True,
        status="READY",
        phase="ready",
        host_id=H1.id,
        container_id=CID,
        spec_hash="spec-1",
        config_hash="cfg-1",
        stored_config_hash="cfg-1",
        desired_generation=3,
        written_generation=3,
        last_poll_generation=3,
        last_poll_at=NOW - timedelta(seconds=5),
        instance_id=CID[:12] + "-abcd",
        attempts=0,
        next_retry_at=None,
        recreate_requested_at=None,
        deleted_at=None,
        ready_at=NOW - timedelta(hours=1),
    )
    base.update(overrides)
    return p.DesiredAssistant(**base)


def container(**overrides) -> ObservedContainer:
    base = dict(
        id=CID,
        name=f"yourclaw-{USER}",
        user_id=USER,
        spec_hash="spec-1",
        state="running",
        health="healthy",
        created=(NOW - timedelta(minutes=10)).timestamp(),
    )
    base.update(overrides)
    return ObservedContainer(**base)


def run(assistants, containers=None, hosts=(H1, H2), volumes=None):
    observed = p.Observed(
        containers if containers is not None else {H1.id: [container()], H2.id: []},
        volumes,
    )
    return p.plan(list(assistants), list(hosts), observed, NOW, LIMITS)


def kinds(actions) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_converged_assistant_needs_nothing():
    assert run([assistant()]) == []


def test_new_assistant_is_placed_and_created():
    actions = run(
        [assistant(status="PROVISIONING", phase="placing", host_id=None, container_id=None)], {H1.id: [], H2.id: []}
    )
    assert kinds(actions) == ["Create"]


def test_placement_spreads_by_free_share_and_skips_draining_and_full_hosts():
    loaded = [assistant(id=uuid.uuid4(), user_id=uuid.uuid4(), host_id=H1.id) for _ in range(3)]
    new = assistant(id=uuid.uuid4(), user_id=uuid.uuid4(), status="PROVISIONING", host_id=None, container_id=None)
    observed = {H1.id: [container(user_id=a.user_id, id=str(a.id).replace("-", "") * 2) for a in loaded], H2.id: []}
    loaded = [
        dataclasses.replace(
            a, container_id=str(a.id).replace("-", "") * 2, instance_id=(str(a.id).replace("-", "") * 2)[:12] + "-x"
        )
        for a in loaded
    ]
    assert [a.host_id for a in run([*loaded, new], observed) if isinstance(a, p.Create)] == [H2.id]

    draining = dataclasses.replace(H2, draining=True)
    assert [a.host_id for a in run([*loaded, new], observed, hosts=(H1, draining)) if isinstance(a, p.Create)] == [
        H1.id
    ]

    full = dataclasses.replace(H1, max_containers=3)
    actions = run([*loaded, new], observed, hosts=(full, draining))
    assert not any(isinstance(a, p.Create) for a in actions)
    assert any(
        isinstance(a, p.SetObserved) and a.values.get("phase_reason") == "waiting for a host with room" for a in actions
    )


def test_placement_prefers_the_host_holding_the_users_volume():
    new = assistant(status="PROVISIONING", host_id=None, container_id=None)
    volumes = {H2.id: [ObservedVolume(f"yourclaw-data-{USER}", USER)], H1.id: []}
    busy = [assistant(id=uuid.uuid4(), user_id=uuid.uuid4(), host_id=H2.id) for _ in range(5)]
    actions = run([new, *busy], {H1.id: [], H2.id: []}, volumes=volumes)
    assert [a.host_id for a in actions if isinstance(a, p.Create) and a.assistant_id == new.id] == [H2.id]


@pytest.mark.parametrize(
    ("desired", "observed", "expected"),
    [
        # container removed behind our back -> created again
        (dict(), [], ["Create"]),
        # stopped behind our back -> started again
        (dict(), [container(state="exited")], ["Start"]),
        # created but never started (a start that failed half way) -> started
        (dict(status="PROVISIONING", phase="starting"), [container(state="created")], ["Start"]),
        # Docker is restarting it in a loop -> diagnose once
        (dict(), [container(state="restarting")], ["Diagnose"]),
        (dict(phase="crash_loop"), [container(state="restarting")], []),
        # image (spec) changed -> recreate, replacing the old container
        (dict(spec_hash="spec-2"), [container()], ["Create"]),
        # only the config changed (model, token) -> rewrite in place
        (dict(config_hash="cfg-2"), [container()], ["WriteConfig"]),
        # written but not yet polled with: wait
        (dict(desired_generation=4, written_generation=4, phase="reconfiguring"), [container()], []),
    ],
)
def test_ready_assistant_table(desired, observed, expected):
    actions = run([assistant(**desired)], {H1.id: observed, H2.id: []})
    assert kinds(actions) == expected


@pytest.mark.parametrize(
    ("exit_code", "reason"),
    [(137, "the assistant was killed"), (3, "the assistant crashed (exit code 3)"), (0, "the assistant stopped")],
)
def test_a_stopped_container_is_started_with_why_it_stopped_as_the_list_showed_it(exit_code, reason):
    # After the start Docker's inspect reads exit code 0: the reason must come from before it.
    (action,) = run([assistant()], {H1.id: [container(state="exited", exit_code=exit_code)], H2.id: []})
    assert isinstance(action, p.Start) and action.reason == reason


def test_a_crash_loop_stays_visible_while_the_container_is_up_between_crashes():
    a = assistant(status="PROVISIONING", phase="crash_loop", last_poll_at=None)
    young = container(created=(NOW - timedelta(seconds=30)).timestamp())
    assert run([a], {H1.id: [young], H2.id: []}) == []


def test_recreate_replaces_the_old_container():
    a = assistant(recreate_requested_at=NOW - timedelta(seconds=1), status="PROVISIONING")
    (action,) = run([a])
    assert isinstance(action, p.Create) and action.replace_container == CID and action.why == "recreate"
    # the container created after the request satisfies it
    newer = container(created=NOW.timestamp())
    assert not any(isinstance(x, p.Create) for x in run([a], {H1.id: [newer], H2.id: []}))


def test_ready_when_the_current_container_polls_with_the_current_generation():
    a = assistant(status="PROVISIONING", phase="connecting", ready_at=None)
    (action,) = run([a])
    assert isinstance(action, p.SetObserved) and action.became_ready
    assert action.values["status"] == "READY" and action.values["observed_generation"] == 3


@pytest.mark.parametrize(
    "change",
    [
        dict(last_poll_generation=2),  # an old config
        dict(instance_id="ffffffffffff-abcd"),  # another container
        dict(last_poll_at=None),  # never polled
    ],
)
def test_not_ready_without_the_right_poll(change):
    a = assistant(status="PROVISIONING", phase="connecting", **change)
    assert not any(isinstance(x, p.SetObserved) and x.became_ready for x in run([a]))


def test_silent_ready_assistant_becomes_disconnected():
    a = assistant(last_poll_at=NOW - timedelta(seconds=61))
    (action,) = run([a])
    assert action.values == {"phase": "disconnected", "phase_reason": "the assistant has not checked in"}


def test_a_container_silent_for_long_is_restarted_with_backoff():
    a = assistant(phase="disconnected", last_poll_at=NOW - timedelta(seconds=121))
    (action,) = run([a])
    assert isinstance(action, p.Restart) and action.container_id == CID
    assert run([dataclasses.replace(a, next_retry_at=NOW + timedelta(seconds=5))]) == []
    assert run([dataclasses.replace(a, last_poll_at=NOW - timedelta(seconds=90))]) == []


def test_provisioning_that_never_connects_fails_after_the_timeout():
    a = assistant(status="PROVISIONING", phase="connecting", last_poll_at=None)
    old = container(created=(NOW - timedelta(seconds=181)).timestamp())
    (action,) = run([a], {H1.id: [old], H2.id: []})
    assert isinstance(action, p.Fail) and "180 s" in action.error and action.container_id == CID


def test_backoff_delays_the_next_attempt():
    a = assistant(status="PROVISIONING", phase="placing", container_id=None, next_retry_at=NOW + timedelta(seconds=5))
    assert run([a], {H1.id: [], H2.id: []}) == []
    later = dataclasses.replace(a, next_retry_at=NOW - timedelta(seconds=1))
    assert kinds(run([later], {H1.id: [], H2.id: []})) == ["Create"]


def test_error_waits_for_the_long_retry_and_removes_a_leftover_container():
    a = assistant(status="ERROR", phase="failed", next_retry_at=NOW + timedelta(hours=1))
    assert kinds(run([a])) == ["RemoveContainer"]
    assert kinds(run([dataclasses.replace(a, next_retry_at=NOW - timedelta(seconds=1))])) == ["Create"]


def test_unreachable_host_makes_state_unknown_not_failed():
    down = dataclasses.replace(H1, reachable=False)
    (action,) = run([assistant()], {H2.id: []}, hosts=(down, H2))
    assert action.values["phase"] == "unknown"
    # one missed answer while still counted reachable: decide nothing
    assert run([assistant()], {H2.id: []}) == []


def test_deleted_assistant_container_is_removed_at_once_and_phase_cleared():
    a = assistant(wanted=False, status="NONE", phase="deleting", deleted_at=NOW)
    fresh = container(created=NOW.timestamp())
    assert kinds(run([a], {H1.id: [fresh], H2.id: []})) == ["RemoveContainer"]
    (cleared,) = run([a], {H1.id: [], H2.id: []})
    assert cleared.values == {"phase": "none", "host_server_id": None, "container_id": None}


def test_orphans_are_removed_after_a_grace_period():
    stranger = uuid.uuid4()
    young = container(id="a" * 64, user_id=stranger, created=(NOW - timedelta(seconds=30)).timestamp())
    old = container(id="b" * 64, user_id=stranger, created=(NOW - timedelta(seconds=90)).timestamp())
    actions = run([assistant()], {H1.id: [container(), young, old], H2.id: []})
    assert [(type(a).__name__, a.container_id) for a in actions] == [("RemoveContainer", "b" * 64)]


def test_a_copy_on_another_host_is_an_orphan():
    copy = container(id="d" * 64, created=(NOW - timedelta(minutes=5)).timestamp())
    actions = run([assistant()], {H1.id: [container()], H2.id: [copy]})
    assert [(a.host_id, a.container_id) for a in actions] == [(H2.id, "d" * 64)]


def test_volume_retention():
    gone_user = uuid.uuid4()
    deleted = assistant(
        id=uuid.uuid4(),
        user_id=gone_user,
        wanted=False,
        phase="none",
        host_id=None,
        deleted_at=NOW - timedelta(days=29),
    )
    volumes = {
        H1.id: [ObservedVolume(f"yourclaw-data-{gone_user}", gone_user), ObservedVolume(f"yourclaw-data-{USER}", USER)],
        H2.id: [],
    }
    assert not any(isinstance(a, p.RemoveVolume) for a in run([assistant(), deleted], volumes=volumes))
    expired = dataclasses.replace(deleted, deleted_at=NOW - timedelta(days=31))
    removed = [a for a in run([assistant(), expired], volumes=volumes) if isinstance(a, p.RemoveVolume)]
    assert [a.volume for a in removed] == [f"yourclaw-data-{gone_user}"]


def test_retry_delay_grows_exponentially():
    assert [p.retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]


def test_an_assistant_on_a_host_that_does_not_answer_is_marked_once_not_on_every_pass():
    """A write on every pass would end an applier task on every pass, and each wakes the next pass at once."""
    down = dataclasses.replace(H1, reachable=False)
    a = assistant()
    (action,) = run([a], {H2.id: []}, hosts=(down, H2))
    assert action.values == {"phase": "unknown", "phase_reason": "its host is not answering"}
    marked = dataclasses.replace(a, phase="unknown", phase_reason="its host is not answering")
    assert run([marked], {H2.id: []}, hosts=(down, H2)) == []


def test_waiting_for_a_host_with_room_is_written_once():
    new = assistant(status="PROVISIONING", phase="placing", host_id=None, container_id=None)
    full = dataclasses.replace(H1, max_containers=0)
    assert kinds(run([new], {H1.id: []}, hosts=(full,))) == ["SetObserved"]
    waiting = dataclasses.replace(new, phase_reason="waiting for a host with room")
    assert run([waiting], {H1.id: []}, hosts=(full,)) == []


def _failed_run(a, failed: p.StartFailures | None, state: str = "exited"):
    observed = p.Observed({H1.id: [container(state=state, exit_code=1)], H2.id: []})
    if failed is not None:
        observed = dataclasses.replace(observed, failed_starts={a.id: failed})
    return p.plan([a], [H1, H2], observed, NOW, LIMITS)


@pytest.mark.parametrize("state", ["exited", "created"])
def test_a_ready_assistant_whose_start_failed_waits_out_its_backoff_then_starts_again(state):
    a = assistant(phase="restarting", next_retry_at=NOW + timedelta(seconds=5))
    failed = p.StartFailures(1, NOW - timedelta(seconds=1))
    assert _failed_run(a, failed, state) == []  # no start stacked on one that just failed
    later = dataclasses.replace(a, next_retry_at=NOW - timedelta(seconds=1))
    (action,) = _failed_run(later, failed, state)
    assert isinstance(action, p.Start) and action.container_id == CID


def test_starts_that_keep_failing_replace_the_container_on_its_host_and_never_fail_the_assistant():
    a = assistant(phase="restarting")
    many_but_recent = p.StartFailures(p.START_FAILURES_BEFORE_RECREATE, NOW - timedelta(minutes=1))
    assert kinds(_failed_run(a, many_but_recent)) == ["Start"]
    few_but_long = p.StartFailures(p.START_FAILURES_BEFORE_RECREATE - 1, NOW - timedelta(hours=1))
    assert kinds(_failed_run(a, few_but_long)) == ["Start"]
    for_long = p.StartFailures(p.START_FAILURES_BEFORE_RECREATE, NOW - p.START_FAILING_BEFORE_RECREATE)
    (action,) = _failed_run(a, for_long)
    assert isinstance(action, p.Create) and action.why == "start failed"
    assert action.host_id == H1.id and action.replace_container == CID  # same host: the volume is there
    stuck = assistant(phase="disconnected", last_poll_at=NOW - timedelta(seconds=121))
    observed = p.Observed({H1.id: [container()], H2.id: []}, failed_starts={stuck.id: for_long})
    (action,) = p.plan([stuck], [H1, H2], observed, NOW, LIMITS)
    assert isinstance(action, p.Create) and action.why == "start failed"
