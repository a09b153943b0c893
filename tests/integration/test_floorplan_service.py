"""Doors and kiosk screens on the floor plan through the service layer: placed all or nothing, drawn on the map
with the door's live state (§6.5, §6.6), and a kiosk screen's place as "you are here"."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from floorfixtures import build_floor
from kiosk.domain.floorplan import PlanError
from kiosk.services import doors, floor, floorplan, screens, sensors
from kiosk.store.models import Door, Event, Screen

SECRET = b"plan-test-secret"


@pytest.fixture
def plan(ctx):
    """The fixture floor (seats A-01..A-08 along y=10), a door not on the plan yet and a paired screen."""
    build_floor(ctx)
    ctx.config["GATEWAY_SECRETS"] = "floor-3=" + SECRET.decode()
    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "正门", "gateway": "floor-3"}])
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main", "prewarn_s": 20,
                              "alarm_s": 30}])
    screens.pair_now(ctx, "wall-1")
    return ctx


def send(ctx, clock, point, state, n=[0]):  # noqa: B006  (a counter for unique event ids)
    n[0] += 1
    body = json.dumps({"events": [{"id": f"floor-3:{n[0]}", "type": "point_changed", "point": point, "state": state,
                                   "at": clock.now.isoformat().replace("+00:00", "Z")}]}).encode()
    return sensors.ingest(ctx, "floor-3", body, sensors.sign(SECRET, body))


def positions(ctx):
    with ctx.engine.connect() as conn:
        door = conn.execute(select(Door.x, Door.y).where(Door.id == "main")).one()
        screen = conn.execute(select(Screen.x, Screen.y).where(Screen.name == "wall-1")).one()
    return tuple(door), tuple(screen)


def test_a_door_and_a_screen_not_placed_yet_are_in_the_editor_but_not_on_the_map(plan):
    drawn = floorplan.plan(plan)
    assert drawn["doors"] == [{"door": "main", "name": "话务区正门", "x": None, "y": None}]
    assert drawn["kiosks"] == [{"kiosk": "wall-1", "x": None, "y": None}]
    snap = floor.floor_snapshot(plan)
    assert snap["doors"] == [] and snap["kiosks"] == []


def test_placing_a_door_and_a_screen_saves_both_logs_it_and_tells_every_map(plan):
    plan.published.clear()
    result = floorplan.place(plan, [{"door": "main", "x": 45, "y": 60}, {"kiosk": "wall-1", "x": 55, "y": 70}],
                             actor="30002")
    assert result["moved"] == 2 and result["doors"] == {"main": {"x": 45.0, "y": 60.0}}
    assert positions(plan) == ((45.0, 60.0), (55.0, 70.0))
    with plan.engine.connect() as conn:
        row = conn.execute(select(Event.__table__).where(Event.kind == "floorplan_changed")).one()
    data = json.loads(row.data)
    assert (row.actor, data["doors"], data["kiosks"], data["seats"]) == ("30002", 1, 1, 0)
    assert data["moved"]["door:main"] == {"from": None, "to": [45.0, 60.0]}
    (markers,) = [p for n, p in plan.published if n == "floor_markers_changed"]
    assert [(d["door_id"], d["x"], d["y"], d["look"]) for d in markers["doors"]] == [("main", 45.0, 60.0, "unknown")]
    assert markers["kiosks"] == [{"kiosk": "wall-1", "x": 55.0, "y": 70.0, "floor_id": 1}]
    assert not [n for n, _p in plan.published if n == "floor_changed"]  # no seat moved: the seats are not resent


def test_a_placement_outside_the_plan_or_of_an_unknown_door_writes_nothing(plan):
    for bad, code in (([{"door": "main", "x": 45, "y": 60}, {"door": "side", "x": 1, "y": 1}], "unknown_door"),
                      ([{"kiosk": "wall-1", "x": 5000, "y": 60}], "out_of_plan")):
        with pytest.raises(PlanError) as caught:
            floorplan.place(plan, bad, actor="30002")
        assert caught.value.code == code
    assert positions(plan) == ((None, None), (None, None))


def test_a_placed_door_takes_its_live_colour_on_the_map_as_the_contact_and_alarms_change(plan, clock):
    floorplan.place(plan, [{"door": "main", "x": 45, "y": 60}], actor="30002")
    send(plan, clock, "door:main", "closed")
    assert [d["look"] for d in floor.floor_snapshot(plan)["doors"]] == ["closed"]
    plan.published.clear()
    clock.set(clock.now + timedelta(seconds=5))
    send(plan, clock, "door:main", "open")  # no badge before it: forced open (§6.6)
    changed = [p for n, p in plan.published if n == "door_changed"]
    assert [(p["door_id"], p["x"], p["y"], p["look"]) for p in changed] == [("main", 45.0, 60.0, "forced")]
    assert floor.floor_snapshot(plan)["doors"][0]["look"] == "forced"
    clock.set(clock.now + timedelta(seconds=5))
    send(plan, clock, "door:main", "closed")
    assert floor.floor_snapshot(plan)["doors"][0]["look"] == "closed"


def test_a_revoked_screen_leaves_the_map(plan):
    floorplan.place(plan, [{"kiosk": "wall-1", "x": 55, "y": 70}], actor="30002")
    assert floor.floor_snapshot(plan)["kiosks"] == [{"kiosk": "wall-1", "x": 55.0, "y": 70.0, "floor_id": 1}]
    screens.revoke(plan, "wall-1")
    assert floor.floor_snapshot(plan)["kiosks"] == []


def test_a_door_defined_with_a_position_is_on_the_map_and_keeps_it_when_defined_again_without(plan):
    doors.define_doors(plan, [{"id": "main", "name": "话务区正门", "contact_point": "door:main", "x": 30, "y": 40}])
    doors.define_doors(plan, [{"id": "main", "name": "正门", "contact_point": "door:main"}])
    assert [(d["name"], d["x"], d["y"]) for d in floor.floor_snapshot(plan)["doors"]] == [("正门", 30.0, 40.0)]
