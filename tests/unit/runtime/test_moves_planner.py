"""Planning moves and restores (`runtime.moves`): one move at a time across the fleet, the old host cleaned up
only once the assistant is READY on the new one, nothing else planned for an assistant on the move."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.unit.runtime.test_planner import CID, H1, H2, NOW, assistant, container, kinds, run
from yourclaw.runtime import planner as p

pytestmark = pytest.mark.unit

H3 = p.HostView(uuid.UUID(int=3), "h3", draining=False, max_containers=10, reachable=True)
ASKED = NOW - timedelta(minutes=1)
RESTORE = uuid.UUID(int=900)


def second(**overrides) -> p.DesiredAssistant:
    user = uuid.UUID(int=101)
    return assistant(
        id=uuid.UUID(int=501), user_id=user, container_id="d" * 64, instance_id="d" * 12 + "-abcd", **overrides
    )


def test_a_requested_move_stops_and_streams_to_the_roomiest_other_host():
    a = assistant(move_requested_at=ASKED)
    actions = run([a], {H1.id: [container()], H2.id: [], H3.id: []}, hosts=(H1, H2, H3))
    assert actions == [p.Move(a.id, H1.id, H2.id, CID)]  # nothing else for it this pass (no Start, no config)


def test_a_move_goes_where_it_is_told_and_waits_when_that_host_is_full():
    a = assistant(move_requested_at=ASKED, move_to=H3.id)
    actions = run([a], {H1.id: [container()], H2.id: [], H3.id: []}, hosts=(H1, H2, H3))
    assert actions == [p.Move(a.id, H1.id, H3.id, CID)]
    full = p.HostView(H3.id, "h3", draining=False, max_containers=0, reachable=True)
    assert run([a], {H1.id: [container()], H2.id: [], H3.id: []}, hosts=(H1, H2, full)) == []


def test_one_move_at_a_time_and_the_next_waits_for_ready_on_the_new_host():
    first = assistant(move_requested_at=ASKED)
    other = second(move_requested_at=ASKED + timedelta(seconds=1))
    mine = {H1.id: [container(), container(id="d" * 64, user_id=other.user_id)], H2.id: []}
    assert kinds(run([first, other], mine)) == ["Move"]

    # The first is on H2 now, its container not READY yet: the second waits, and the old container stays.
    landed = assistant(host_id=H2.id, container_id=None, phase="moving", moved_from=H1.id)
    actions = run([landed, other], {H1.id: mine[H1.id], H2.id: []})
    assert kinds(actions) == ["Create"] and actions[0].host_id == H2.id

    # READY there: the old host's container and volume go, and the next move starts.
    ready = assistant(host_id=H2.id, container_id="e" * 64, moved_from=H1.id)
    on_h2 = container(id="e" * 64)
    actions = run([ready, other], {H1.id: mine[H1.id], H2.id: [on_h2]})
    assert p.FinishMove(ready.id, H1.id, (CID,)) in actions
    assert p.Move(other.id, H1.id, H2.id, "d" * 64) in actions
    assert not [a for a in actions if isinstance(a, p.RemoveContainer)]


def test_an_interrupted_move_is_taken_up_first_and_a_failed_one_waits_its_turn():
    earlier = second(move_requested_at=ASKED - timedelta(minutes=5))
    interrupted = assistant(move_requested_at=ASKED, phase="moving")
    both = {H1.id: [container(state="exited"), container(id="d" * 64, user_id=earlier.user_id)], H2.id: []}
    assert run([earlier, interrupted], both) == [p.Move(interrupted.id, H1.id, H2.id, CID)]
    backing_off = assistant(move_requested_at=ASKED, next_retry_at=NOW + timedelta(seconds=30))
    assert not [a for a in run([backing_off]) if isinstance(a, p.Move)]


def test_no_move_from_or_to_a_host_that_did_not_answer():
    a = assistant(move_requested_at=ASKED)
    assert not [x for x in run([a], {H2.id: []}) if isinstance(x, p.Move)]
    assert run([a], {H1.id: [container()]}, hosts=(H1, H2)) == []


def test_a_restore_takes_the_assistant_on_its_host():
    a = assistant()
    observed = p.Observed({H1.id: [container()], H2.id: []})
    actions = p.plan([a], [H1, H2], observed, NOW, _limits(), restores={a.id: RESTORE})
    assert actions == [p.Restore(a.id, H1.id, CID, RESTORE)]


def _limits() -> p.Limits:
    from tests.unit.runtime.test_planner import LIMITS

    return LIMITS
