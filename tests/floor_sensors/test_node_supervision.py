"""Node and module supervision with time passed in: no clock, no port, no sleep."""

from __future__ import annotations

import pytest

from floor_sensors.protocol import Ack, Boot, Err, ErrorKind, FrameError, Hb, In, Snap
from floor_sensors.supervision import (
    ModuleSupervisor,
    NodeHealth,
    NodeSupervisor,
    PointChanged,
    PointKind,
    PointSpec,
    SendFrame,
    point_state,
)

NODE = "door-node-1"
POINTS = [
    PointSpec("door:main", PointKind.DOOR, 1),
    PointSpec("door:exit", PointKind.EXIT_BUTTON, 2),
    PointSpec("seat:a1", PointKind.SEAT, 3),
    PointSpec("equip:ext", PointKind.EQUIPMENT, 4),
]


def changes(actions: list[object]) -> list[tuple[str, str, str, bool]]:
    return [(a.point, a.previous, a.state, a.reconciled) for a in actions if isinstance(a, PointChanged)]


def sent(actions: list[object]) -> list[object]:
    return [a.frame for a in actions if isinstance(a, SendFrame)]


def health(actions: list[object]) -> list[str]:
    return [a.state for a in actions if isinstance(a, NodeHealth)]


def running_node(states: str = "NNNN") -> NodeSupervisor:
    """A supervisor that has seen the node boot and report ``states`` at t=0."""
    sup = NodeSupervisor(NODE, POINTS, now=0.0, offline_after=3.0)
    sup.on_frame(Boot(NODE, "1.0.0", 4), 0.0)
    sup.on_frame(Hb(NODE, 1, 100, states), 0.1)
    return sup


@pytest.mark.parametrize(
    "kind,letters",
    [
        (PointKind.DOOR, {"N": "closed", "A": "open", "T": "tamper", "F": "fault"}),
        (PointKind.EQUIPMENT, {"N": "closed", "A": "open", "T": "tamper", "F": "fault"}),
        (PointKind.EXIT_BUTTON, {"N": "released", "A": "pressed", "T": "tamper", "F": "fault"}),
        (PointKind.SEAT, {"N": "vacant", "A": "occupied", "T": "tamper", "F": "fault"}),
    ],
)
def test_channel_letters_map_to_point_states_by_kind(kind: PointKind, letters: dict[str, str]) -> None:
    for letter, state in letters.items():
        assert point_state(kind, letter) == state
    assert point_state(kind, None) == "unknown"


def test_tamper_and_fault_are_never_a_closed_door() -> None:
    assert point_state(PointKind.DOOR, "T") != "closed"
    assert point_state(PointKind.DOOR, "F") != "closed"


def test_the_first_heartbeat_reconciles_every_point_from_unknown() -> None:
    sup = NodeSupervisor(NODE, POINTS, now=0.0)
    actions = sup.on_frame(Hb(NODE, 7, 100, "NANT"), 0.5)
    assert health(actions) == ["online"]
    assert changes(actions) == [
        ("door:main", "unknown", "closed", True),
        ("door:exit", "unknown", "pressed", True),
        ("seat:a1", "unknown", "vacant", True),
        ("equip:ext", "unknown", "tamper", True),
    ]
    assert sent(actions) == []


def test_a_first_frame_that_is_not_a_heartbeat_asks_for_a_snapshot() -> None:
    sup = NodeSupervisor(NODE, POINTS, now=0.0)
    actions = sup.on_frame(In(NODE, 9, 1, "A", 100), 0.5)
    assert changes(actions) == [("door:main", "unknown", "open", False)]
    assert set(sent(actions)) == {Snap(NODE), Ack(NODE, 9)}


def test_an_in_frame_is_an_observed_change_and_is_acknowledged() -> None:
    sup = running_node()
    actions = sup.on_frame(In(NODE, 2, 1, "A", 1532), 1.0)
    assert changes(actions) == [("door:main", "closed", "open", False)]
    assert sent(actions) == [Ack(NODE, 2)]


def test_silence_longer_than_offline_after_makes_every_point_unknown() -> None:
    sup = running_node("NANN")
    assert sup.tick(3.0) == []
    actions = sup.tick(3.1)
    assert health(actions) == ["offline"]
    assert sorted(changes(actions)) == sorted(
        [
            ("door:main", "closed", "unknown", False),
            ("door:exit", "pressed", "unknown", False),
            ("seat:a1", "vacant", "unknown", False),
            ("equip:ext", "closed", "unknown", False),
        ]
    )
    assert sup.tick(10.0) == []
    assert not sup.health().online


def test_a_bad_frame_does_not_keep_a_node_online() -> None:
    sup = running_node()
    sup.on_error(FrameError(ErrorKind.BAD_CRC), 2.0)
    assert health(sup.tick(3.2)) == ["offline"]


def test_a_node_heard_again_after_going_offline_comes_back_online_and_reconciles() -> None:
    sup = running_node()
    sup.tick(5.0)
    actions = sup.on_frame(Hb(NODE, 2, 5000, "ANNN"), 5.5)
    assert health(actions) == ["online"]
    assert changes(actions)[0] == ("door:main", "unknown", "open", True)


def test_a_node_never_heard_is_announced_offline_with_its_points_unknown() -> None:
    sup = NodeSupervisor(NODE, POINTS, now=10.0, offline_after=3.0)
    assert sup.tick(12.9) == []
    actions = sup.tick(13.0)
    assert health(actions) == ["offline"]
    assert {c[2] for c in changes(actions)} == {"unknown"}
    assert sup.tick(20.0) == []


def test_a_lost_link_makes_the_node_offline_at_once() -> None:
    sup = running_node()
    actions = sup.on_link_lost(0.5)
    assert health(actions) == ["offline"]
    assert {c[2] for c in changes(actions)} == {"unknown"}


def test_a_seq_gap_asks_for_a_snapshot_and_the_heartbeat_answer_reconciles() -> None:
    sup = running_node()
    # seq 2 (door opened) was lost; seq 3 is a heartbeat-free change on the seat.
    actions = sup.on_frame(In(NODE, 3, 3, "A", 2000), 1.0)
    assert sup.counters.gaps == 1
    assert Snap(NODE) in sent(actions)
    assert changes(actions) == [("seat:a1", "vacant", "occupied", False)]
    answer = sup.on_frame(Hb(NODE, 4, 2100, "AAAN"), 1.1)
    assert changes(answer) == [
        ("door:main", "closed", "open", True),
        ("door:exit", "released", "pressed", True),
    ]


def test_sequence_numbers_wrap_from_65535_to_0_without_a_gap() -> None:
    sup = NodeSupervisor(NODE, POINTS, now=0.0)
    sup.on_frame(Hb(NODE, 65534, 1, "NNNN"), 0.0)
    sup.on_frame(Hb(NODE, 65535, 2, "NNNN"), 0.5)
    actions = sup.on_frame(In(NODE, 0, 1, "A", 3), 0.6)
    assert sup.counters.gaps == 0 and sup.counters.restarts == 0
    assert changes(actions) == [("door:main", "closed", "open", False)]


def test_a_gap_across_the_wrap_is_still_a_gap() -> None:
    sup = NodeSupervisor(NODE, POINTS, now=0.0)
    sup.on_frame(Hb(NODE, 65535, 2, "NNNN"), 0.0)
    actions = sup.on_frame(Hb(NODE, 2, 3, "NNNN"), 0.5)
    assert sup.counters.gaps == 1 and Snap(NODE) in sent(actions)


def test_boot_after_traffic_is_a_restart_reported_with_a_snapshot_request() -> None:
    sup = running_node("ANNN")
    actions = sup.on_frame(Boot(NODE, "1.0.1", 4), 2.0)
    assert health(actions) == ["restarted"]
    assert sent(actions) == [Snap(NODE)]
    assert sup.counters.restarts == 1
    answer = sup.on_frame(Hb(NODE, 1, 10, "NNNN"), 2.1)
    assert changes(answer) == [("door:main", "open", "closed", True)]


def test_boot_as_the_first_frame_is_not_a_restart() -> None:
    sup = NodeSupervisor(NODE, POINTS, now=0.0)
    actions = sup.on_frame(Boot(NODE, "1.0.0", 4), 0.1)
    assert health(actions) == ["online"]
    assert sup.counters.restarts == 0
    assert Snap(NODE) in sent(actions)


def test_a_heartbeat_whose_seq_went_back_means_a_restart_whose_boot_was_lost() -> None:
    sup = running_node()
    sup.on_frame(Hb(NODE, 500, 1, "NNNN"), 0.5)
    actions = sup.on_frame(Hb(NODE, 1, 10, "ANNN"), 1.0)
    assert health(actions) == ["restarted"]
    assert changes(actions) == [("door:main", "closed", "open", True)]


def test_a_re_sent_in_frame_is_counted_as_a_duplicate_acknowledged_and_not_applied_twice() -> None:
    sup = running_node()
    sup.on_frame(In(NODE, 2, 1, "A", 1532), 1.0)
    sup.on_frame(Hb(NODE, 3, 1600, "ANNN"), 1.2)
    again = sup.on_frame(In(NODE, 2, 1, "A", 1532), 1.5)
    assert changes(again) == []
    assert sent(again) == [Ack(NODE, 2)]
    assert sup.counters.duplicates == 1
    assert sup.counters.gaps == 0


def test_de_duplication_is_per_boot() -> None:
    sup = running_node()
    sup.on_frame(In(NODE, 2, 1, "A", 1532), 1.0)
    sup.on_frame(Boot(NODE, "1.0.0", 4), 1.5)
    sup.on_frame(Hb(NODE, 1, 10, "ANNN"), 1.6)
    actions = sup.on_frame(In(NODE, 2, 1, "N", 20), 1.7)
    assert changes(actions) == [("door:main", "open", "closed", False)]
    assert sup.counters.duplicates == 0


def test_a_late_copy_of_a_lost_in_frame_is_acknowledged_but_changes_nothing() -> None:
    sup = running_node()
    sup.on_frame(Hb(NODE, 3, 1600, "ANNN"), 1.2)  # seq 2 lost: the heartbeat already shows it
    late = sup.on_frame(In(NODE, 2, 1, "A", 1532), 1.5)
    assert changes(late) == [] and sent(late) == [Ack(NODE, 2)]
    assert sup.counters.restarts == 0 and sup.late == 1


def test_an_old_seq_seen_again_after_a_full_wrap_is_a_new_frame() -> None:
    sup = running_node()
    sup.on_frame(In(NODE, 2, 1, "A", 1), 1.0)
    for i, seq in enumerate(list(range(3, 65536, 1000)) + [65535, 0, 1]):
        sup.on_frame(Hb(NODE, seq, 2, "ANNN"), 1.0 + i * 0.01)
    actions = sup.on_frame(In(NODE, 2, 1, "N", 3), 2.0)
    assert changes(actions) == [("door:main", "open", "closed", False)]


def test_decode_errors_are_counted_as_crc_errors_or_dropped_frames() -> None:
    sup = running_node()
    sup.on_error(FrameError(ErrorKind.BAD_CRC), 1.0)
    sup.on_error(FrameError(ErrorKind.TOO_LONG), 1.0)
    sup.on_error(FrameError(ErrorKind.MALFORMED), 1.0)
    assert sup.counters.crc_errors == 1 and sup.counters.dropped == 2


def test_a_frame_from_another_node_on_this_line_is_dropped() -> None:
    sup = running_node()
    assert sup.on_frame(In("other", 2, 1, "A", 1), 1.0) == []
    assert sup.counters.dropped == 1


def test_a_buffer_overflow_on_the_node_asks_for_a_snapshot() -> None:
    sup = running_node()
    actions = sup.on_frame(Err(NODE, 2, "BUF_OVERFLOW", "12"), 1.0)
    assert sent(actions) == [Snap(NODE)]


def test_health_events_carry_the_counters() -> None:
    sup = running_node()
    sup.on_error(FrameError(ErrorKind.BAD_CRC), 1.0)
    actions = sup.tick(4.0)
    event = next(a for a in actions if isinstance(a, NodeHealth))
    assert event.counters == {"crc_errors": 1, "dropped": 0, "gaps": 0, "restarts": 0, "duplicates": 0}


MODULE_POINTS = [PointSpec("door:b", PointKind.DOOR, 1), PointSpec("seat:b", PointKind.SEAT, 2, invert=True)]


def test_a_modbus_module_reports_its_first_poll_as_reconciled_and_later_changes_as_observed() -> None:
    sup = ModuleSupervisor("di-1", MODULE_POINTS, now=0.0)
    first = sup.on_poll([True, True, False], 0.1)
    assert health(first) == ["online"]
    assert changes(first) == [("door:b", "unknown", "closed", True), ("seat:b", "unknown", "occupied", True)]
    later = sup.on_poll([False, True, False], 0.2)
    assert changes(later) == [("door:b", "closed", "open", False)]


def test_a_modbus_module_goes_offline_after_n_consecutive_failures() -> None:
    sup = ModuleSupervisor("di-1", MODULE_POINTS, now=0.0, offline_after_failures=3)
    sup.on_poll([True, False], 0.1)
    assert sup.on_poll_failure(0.2) == []
    assert sup.on_poll_failure(0.3) == []
    actions = sup.on_poll_failure(0.4)
    assert health(actions) == ["offline"]
    assert {c[2] for c in changes(actions)} == {"unknown"}
    assert sup.on_poll_failure(0.5) == []


def test_a_single_good_poll_resets_the_failure_count() -> None:
    sup = ModuleSupervisor("di-1", MODULE_POINTS, now=0.0, offline_after_failures=3)
    sup.on_poll([True, False], 0.1)
    sup.on_poll_failure(0.2)
    sup.on_poll_failure(0.3)
    sup.on_poll([True, False], 0.4)
    assert sup.on_poll_failure(0.5) == [] and sup.on_poll_failure(0.6) == []
