"""The floor plan's pure rules: where seats, doors and kiosk screens may be placed, and the colour a door is drawn
in on the map (§6.5, §6.6)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kiosk.domain.doors import DoorPolicy, map_look, new_door, on_contact, on_grant, tick
from kiosk.domain.floorplan import Bounds, PlanError, plan_bounds, validate_moves, validate_placements

PLAN = Bounds(0, 0, 1000, 800)
KNOWN = {"seat": {"A-01": (10.0, 10.0), "A-02": (20.0, 10.0)}, "door": {"main": None, "back": (900.0, 700.0)},
         "kiosk": {"wall-1": None}}
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)
POLICY = DoorPolicy(prewarn_after=timedelta(seconds=20), alarm_after=timedelta(seconds=30))


def code_of(raw: object) -> str:
    with pytest.raises(PlanError) as caught:
        validate_placements(raw, KNOWN, PLAN)
    return caught.value.code


def test_a_door_and_a_kiosk_not_on_the_plan_yet_are_placed_with_a_seat_in_one_save():
    moves = validate_placements([{"door": "main", "x": 500, "y": 790.123}, {"kiosk": "wall-1", "x": 520, "y": 760},
                                 {"seat": "A-01", "x": 15, "y": 10}], KNOWN, PLAN)
    assert moves == {("door", "main"): (500.0, 790.12), ("kiosk", "wall-1"): (520.0, 760.0),
                     ("seat", "A-01"): (15.0, 10.0)}


def test_the_seat_only_form_still_answers_by_seat_id():
    assert validate_moves({"A-02": [30, 40]}, KNOWN["seat"], PLAN) == {"A-02": (30.0, 40.0)}


@pytest.mark.parametrize("raw, code", [
    ([{"door": "side", "x": 1, "y": 1}], "unknown_door"),
    ([{"kiosk": "wall-9", "x": 1, "y": 1}], "unknown_kiosk"),
    ([{"door": "main", "x": 1, "y": 1}, {"door": "main", "x": 2, "y": 2}], "duplicate_door"),
    ([{"door": "main", "seat": "A-01", "x": 1, "y": 1}], "bad_positions"),
    ([{"x": 1, "y": 1}], "bad_positions"),
    ([{"kiosk": "wall-1", "x": 1001, "y": 1}], "out_of_plan"),
    ([{"door": "main", "x": None, "y": 1}], "bad_number"),
    ([{"door": "main", "x": True, "y": 1}], "bad_number"),
    ([{"seat": "A-01", "x": float("nan"), "y": 1}], "bad_number"),
    ("main", "bad_positions"),
])
def test_a_save_with_any_bad_placement_is_refused_as_a_whole(raw, code):
    assert code_of(raw) == code


def test_the_plan_grows_to_hold_a_door_placed_beyond_the_background_image():
    bounds = plan_bounds([(10, 10), (1200, 50)], (1000, 800))
    assert bounds.as_dict() == {"x": 0.0, "y": 0.0, "w": 1200.0, "h": 800.0}


def test_a_door_is_drawn_closed_open_and_then_held_open_as_the_alarm_falls_due():
    state, _ = on_contact(new_door("main"), "closed", T0, POLICY)
    assert map_look(state) == "closed"
    state, _ = on_grant(state, T0 + timedelta(seconds=1), "10001", "badge", policy=POLICY)
    state, _ = on_contact(state, "open", T0 + timedelta(seconds=2), POLICY)
    assert map_look(state) == "open"
    state, _ = tick(state, T0 + timedelta(seconds=33), POLICY)
    assert map_look(state) == "held_open"
    state, _ = on_contact(state, "closed", T0 + timedelta(seconds=40), POLICY)
    assert map_look(state) == "closed"


def test_a_door_opened_without_a_grant_is_drawn_forced_until_it_closes():
    state, _ = on_contact(new_door("main"), "closed", T0, POLICY)
    state, _ = on_contact(state, "open", T0 + timedelta(seconds=5), POLICY)
    assert map_look(state) == "forced"
    state, _ = tick(state, T0 + timedelta(seconds=60), POLICY)
    assert map_look(state) == "forced"  # forced wins over held open: both stand, forced is worse
    state, _ = on_contact(state, "closed", T0 + timedelta(seconds=61), POLICY)
    assert map_look(state) == "closed"


@pytest.mark.parametrize("contact", ["unknown", "tamper", "fault"])
def test_a_door_whose_sensor_cannot_tell_is_drawn_unknown_never_closed(contact):
    assert map_look(new_door("main")) == "unknown"
    state, _ = on_contact(new_door("main"), "closed", T0, POLICY)
    state, _ = on_contact(state, contact, T0 + timedelta(seconds=1), POLICY)
    assert map_look(state) == "unknown"
