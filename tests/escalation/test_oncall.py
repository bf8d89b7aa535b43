"""Who is on call, property-based: shifts follow each other around the handover time in
participant order, in both directions; an active override wins, the newest of several."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from escalation.oncall import on_call_at
from tests.escalation.support import T0


@given(
    participants=st.lists(st.integers(1, 1000), min_size=1, max_size=6, unique=True),
    shift_s=st.integers(60, 14 * 86_400),
    shift=st.integers(-500, 500),
    into_shift=st.floats(0, 0.999),
)
def test_shifts_rotate_in_order(
    participants: list[int], shift_s: int, shift: int, into_shift: float
) -> None:
    rotation = {"participant_ids": participants, "handover_at": T0, "shift_s": shift_s}
    at = T0 + timedelta(seconds=shift * shift_s + int(into_shift * shift_s))
    assert on_call_at(rotation, [], at) == (participants[shift % len(participants)], "rotation")


@given(
    offsets=st.lists(
        st.tuples(st.integers(-100, 100), st.integers(1, 100)), min_size=1, max_size=5
    ),
    probe=st.integers(-120, 220),
)
def test_the_newest_active_override_wins(offsets: list[tuple[int, int]], probe: int) -> None:
    rotation = {"participant_ids": [1, 2], "handover_at": T0, "shift_s": 3600}
    overrides = [
        {
            "id": n,
            "user_id": 100 + n,
            "start_at": T0 + timedelta(minutes=start),
            "end_at": T0 + timedelta(minutes=start + length),
            "created_at": T0 + timedelta(seconds=n),
        }
        for n, (start, length) in enumerate(offsets)
    ]
    at = T0 + timedelta(minutes=probe)
    active = [o for o in overrides if o["start_at"] <= at < o["end_at"]]
    user_id, source = on_call_at(rotation, overrides, at)
    if active:
        assert (user_id, source) == (active[-1]["user_id"], "override")
    else:
        assert source == "rotation" and user_id in (1, 2)
