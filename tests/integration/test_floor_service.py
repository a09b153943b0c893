"""The floor map through the service layer: seat sensors via the gateway ingest, agent states, flags, pushes."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from floorfixtures import DAY, build_floor, enter_pin, uid_of
from kiosk.devices.callplatform import SimulatedCallPlatform
from kiosk.services import floor, floor_demo, rollcall, sensors
from kiosk.services.errors import NotPermitted, ServiceError
from kiosk.store.eventlog import log_event
from kiosk.store.models import AgentEvent, AgentLive, AgentSeconds, Event, FloorFlag

TZ = ZoneInfo("Asia/Shanghai")
GW_SECRET = b"floor-gw-secret"
CTI_SECRET = b"cti-secret"


def local(hh: int, mm: int = 0, ss: int = 0, day=DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=TZ).astimezone(timezone.utc)


def z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture
def fl(ctx, clock):
    """The fixture floor (day shift D 09:30-17:30 on seats A-02..A-06), seat sensors on A-01..A-08, 09:20."""
    build_floor(ctx)
    ctx.config["GATEWAY_SECRETS"] = "floor-3=" + GW_SECRET.decode()
    ctx.config["CTI_SECRETS"] = "hotline=" + CTI_SECRET.decode()
    sensors.define_points(ctx, [{"id": f"seat:A-0{i}", "kind": "seat", "label": f"A-0{i}", "gateway": "floor-3"}
                                for i in range(1, 9)])
    clock.set(local(9, 20))
    ctx.published.clear()
    return ctx


class Gateway:
    """Posts signed batches as floor_sensors does, stamped with the test's clock."""

    def __init__(self, ctx, clock):
        self.ctx, self.clock, self.n = ctx, clock, 0

    def send(self, *changes: tuple[str, str]):
        events = []
        for point, state in changes:
            self.n += 1
            events.append({"id": f"floor-3:{self.n}", "type": "point_changed", "point": point, "state": state,
                           "at": z(self.clock.now)})
        body = json.dumps({"events": events}).encode()
        return sensors.ingest(self.ctx, "floor-3", body, sensors.sign(GW_SECRET, body))


@pytest.fixture
def gw(fl, clock):
    return Gateway(fl, clock)


def states(ctx, *items):
    """Post agent states through the signed ingest, as the call platform does."""
    body = json.dumps(list(items)).encode()
    return floor.ingest(ctx, "hotline", body, floor.sign(CTI_SECRET, body))


def st(emp, state, at, seat="A-02", **kw):
    return {"employee_no": emp, "seat": seat, "state": state, "at": z(at), **kw}


def pushed(ctx, name="floor_changed"):
    return [p for n, p in ctx.published if n == name]


def seat_of(ctx, sid):
    return next(s for s in floor.floor_snapshot(ctx)["seats"] if s["seat"] == sid)


def flags(ctx, **where):
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(FloorFlag.__table__).order_by(FloorFlag.__table__.c.id)).all()
    return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


# --- seat sensors ------------------------------------------------------------------------------------------

def test_a_seat_sensor_change_through_the_gateway_reaches_the_floor_map(gw, fl):
    gw.send(("seat:A-02", "occupied"))
    (push,) = pushed(fl)
    (s,) = push["seats"]
    assert (s["seat"], s["sensor"], s["status"], s["mismatch"]) == ("A-02", "occupied", "occupied",
                                                                    "occupied_not_signed_in")
    assert s["assigned"]["employee_no"] == "20002" and s["x"] == 20.0 and s["rev"] > 0
    assert seat_of(fl, "A-02")["sensor"] == "occupied"


def test_a_door_change_in_the_same_batch_does_not_touch_the_floor_map(gw, fl):
    sensors.define_points(fl, [{"id": "door:main", "kind": "door", "label": "正门", "gateway": "floor-3"}])
    gw.send(("door:main", "open"))
    assert pushed(fl) == []


def test_seats_of_a_silent_gateway_go_unknown_on_the_map(gw, fl, clock):
    gw.send(("seat:A-02", "occupied"))
    clock.set(clock.now + timedelta(seconds=30))
    fl.published.clear()
    sensors.check_silent(fl)
    (push,) = pushed(fl)
    assert push["seats"][0]["sensor"] == "unknown"


# --- agent states ------------------------------------------------------------------------------------------

def test_a_sign_in_is_stored_applied_and_the_seat_is_pushed(fl):
    result = states(fl, st("20002", "signed_in", local(9, 20)))
    assert result == {"ok": True, "accepted": 1, "duplicates": 0, "out_of_order": 0, "refused": []}
    (push,) = pushed(fl)
    agent = push["seats"][0]["agent"]
    assert (agent["employee_no"], agent["name"], agent["state"]) == ("20002", "李娜", "signed_in")


def test_an_older_state_is_stored_flagged_and_does_not_rewind_the_live_state(fl):
    states(fl, st("20002", "busy", local(9, 19)))
    result = states(fl, st("20002", "ready", local(9, 17)))
    assert result["accepted"] == 1 and result["out_of_order"] == 1
    with fl.engine.connect() as conn:
        rows = conn.execute(select(AgentEvent.__table__).order_by(AgentEvent.__table__.c.id)).all()
        live = conn.execute(select(AgentLive.__table__)).one()
    assert [r.out_of_order for r in rows] == [False, True]
    assert live.state == "busy" and live.last_at == local(9, 19)


def test_the_same_state_delivered_twice_is_stored_once(fl):
    states(fl, st("20002", "ready", local(9, 21)))
    result = states(fl, st("20002", "ready", local(9, 21)), st("20002", "busy", local(9, 22)))
    assert result["duplicates"] == 1 and result["accepted"] == 1
    with fl.engine.connect() as conn:
        assert len(conn.execute(select(AgentEvent.__table__)).all()) == 2


def test_refused_states_are_counted_logged_and_leave_the_live_state_alone(fl):
    states(fl, st("20002", "ready", local(9, 21)))
    result = states(fl, st("20002", "lunch", local(9, 22)), st("77777", "busy", local(9, 22)),
                    st("20002", "busy", local(9, 30)))  # 10 min in the future
    assert [r["error"] for r in result["refused"]] == ["unknown_state", "unknown_employee", "future_time"]
    assert seat_of(fl, "A-02")["agent"]["state"] == "ready"
    with fl.engine.connect() as conn:
        logged = conn.execute(select(Event.__table__.c.outcome).where(Event.__table__.c.kind == "agent_state_refused")
                              ).scalars().all()
    assert sorted(logged) == ["future_time", "unknown_employee", "unknown_state"]
    counters = floor.floor_snapshot(fl)["ingest"]
    assert counters["refused"] == 3 and counters["refused:unknown_state"] == 1 and counters["accepted"] == 1


def test_a_wrong_seat_is_flagged_and_cleared_when_the_operator_moves_to_the_assigned_seat(fl):
    states(fl, st("20002", "signed_in", local(9, 20), seat="A-07"))
    (flag,) = flags(fl, kind="wrong_seat")
    assert (flag.rule, flag.seat_id, flag.cleared_at) == ("§8.7", "A-07", None)
    push = pushed(fl)[-1]
    assert push["flags"][0]["id"] == flag.id and flag.id in push["seats"][0]["flags"]
    states(fl, st("20002", "signed_out", local(9, 21), seat="A-07"), st("20002", "signed_in", local(9, 22)))
    (flag,) = flags(fl, kind="wrong_seat")
    assert flag.cleared_at is not None
    assert {s["seat"] for s in pushed(fl)[-1]["seats"]} == {"A-02", "A-07"}


def test_busy_time_is_kept_per_day_and_the_tick_warns_at_thirty_minutes(fl, clock):
    clock.set(local(9, 40))
    states(fl, st("20002", "busy", local(9, 40)))
    clock.set(local(10, 9))
    floor.tick(fl)
    assert flags(fl, kind="busy_allowance_warning") == []
    clock.set(local(10, 10))
    floor.tick(fl)
    (warn,) = flags(fl, kind="busy_allowance_warning")
    assert warn.since == local(10, 10) and warn.rule == "§8.8"
    clock.set(local(10, 15))
    states(fl, st("20002", "ready", local(10, 15)))
    with fl.engine.connect() as conn:
        row = conn.execute(select(AgentSeconds.__table__)).one()
    assert (row.day, row.busy_seconds) == (DAY, 35 * 60.0)
    assert seat_of(fl, "A-02")["agent"]["busy_seconds"] == 35 * 60.0


def test_an_operator_who_entered_and_did_not_sign_in_is_flagged_by_the_tick_and_cleared_by_the_sign_in(fl, clock):
    with fl.engine.begin() as conn:
        log_event(conn, at=local(9, 20), kind="door_tap", actor="reader:door-main", outcome="granted",
                  data={"door": "main", "employee_no": "20003"})
    clock.set(local(9, 25))
    floor.tick(fl)
    (flag,) = flags(fl, kind="not_signed_in")
    assert flag.employee_no == "20003" and flag.seat_id == "A-03" and flag.rule == "§3.6, §4.5"
    assert pushed(fl)[-1]["flags"][0]["kind"] == "not_signed_in"
    states(fl, st("20003", "signed_in", local(9, 26), seat="A-03"))
    assert flags(fl, kind="not_signed_in")[0].cleared_at == local(9, 25)


def test_a_sign_in_under_the_number_of_someone_absent_at_roll_call_raises_a_misuse_alarm(fl, clock):
    clock.set(local(9, 41))
    rollcall.tick(fl)  # roll call closes at 09:40: nobody tapped, everybody absent
    states(fl, st("20004", "signed_in", local(9, 41), seat="A-04"))
    (flag,) = flags(fl, kind="employee_no_misuse")
    assert (flag.rule, flag.severity, json.loads(flag.detail)["reason"]) == ("§7.7", "alarm", "absent_at_roll_call")


def test_the_seat_left_on_after_the_shift_is_flagged_by_the_tick(gw, fl, clock):
    gw.send(("seat:A-02", "occupied"))
    clock.set(local(17, 36))
    gw.send(("seat:A-02", "occupied"))  # a heartbeat keeps the gateway alive; nothing changes
    floor.tick(fl)
    (flag,) = flags(fl, kind="end_of_shift")
    assert (flag.rule, flag.seat_id, flag.since) == ("§7.3", "A-02", local(17, 30))


def test_when_a_shift_starts_the_tick_republishes_every_seat_and_otherwise_only_what_changed(fl, clock):
    floor.tick(fl)
    clock.set(local(9, 26))
    floor.tick(fl)
    assert pushed(fl) == []
    clock.set(local(9, 31))  # shift D started at 09:30: every seat's "assigned" is now in progress
    floor.tick(fl)
    (push,) = pushed(fl)
    assert len(push["seats"]) == 8
    assert next(s for s in push["seats"] if s["seat"] == "A-02")["assigned"]["in_progress"] is True


# --- the leader's register ---------------------------------------------------------------------------------

def test_a_mid_shift_sign_out_lands_in_the_register_and_the_leader_records_the_cause(fl, clock):
    states(fl, st("20002", "ready", local(9, 20)))
    clock.set(local(11, 0))
    states(fl, st("20002", "signed_out", local(11, 0)))
    (entry,) = flags(fl, kind="unexplained_signout")
    payload = next(f for f in floor.floor_snapshot(fl)["flags"] if f["id"] == entry.id)
    assert payload["needs_cause"] and payload["open"] and payload["rule"] == "§8.9"
    rollcall.record_tap(fl, uid_of("20001"))  # the duty leader identifies at the kiosk (roll call is over)...
    with pytest.raises(ServiceError, match="Record the cause"):
        floor.acknowledge_flag(fl, "kiosk", entry.id)  # ...but a sign-out needs its cause
    with pytest.raises(NotPermitted, match="Enter your PIN"):
        floor.record_signout_cause(fl, "kiosk", entry.id, "equipment_failure")  # a register entry: badge + PIN
    enter_pin(fl)
    with pytest.raises(ServiceError, match="Say what happened"):
        floor.record_signout_cause(fl, "kiosk", entry.id, "other")
    result = floor.record_signout_cause(fl, "kiosk", entry.id, "equipment_failure", "耳麦坏了")
    assert result["flag"]["cause"] == "equipment_failure" and result["flag"]["acknowledged_by"] == "20001"
    assert not result["flag"]["open"] and not result["flag"]["needs_cause"]
    assert all(f["id"] != entry.id for f in floor.floor_snapshot(fl)["flags"])
    with fl.engine.connect() as conn:
        assert conn.execute(select(Event.__table__.c.outcome).where(
            Event.__table__.c.kind == "signout_cause_recorded")).scalar_one() == "equipment_failure"


def test_a_sign_out_with_a_reason_does_not_land_in_the_register(fl, clock):
    states(fl, st("20002", "ready", local(9, 20)))
    clock.set(local(9, 50))
    states(fl, st("20002", "signed_out", local(9, 50), reason="system failure, ticket 4411"))
    assert flags(fl, kind="unexplained_signout") == []


def test_only_an_identified_leader_acknowledges_a_flag(fl):
    states(fl, st("20002", "signed_in", local(9, 20), seat="A-07"))
    (flag,) = flags(fl, kind="wrong_seat")
    rollcall.record_tap(fl, uid_of("20003"))  # an operator's badge opens no console
    with pytest.raises(NotPermitted, match="tap your leader badge"):
        floor.acknowledge_flag(fl, "kiosk", flag.id)
    rollcall.record_tap(fl, uid_of("20001"))
    result = floor.acknowledge_flag(fl, "kiosk", flag.id)
    assert result["flag"]["acknowledged_by"] == "20001" and result["flag"]["open"]  # still holds: still shown
    with pytest.raises(ServiceError, match="already acknowledged"):
        floor.acknowledge_flag(fl, "kiosk", flag.id)


# --- coalesced pushes --------------------------------------------------------------------------------------

class ManualTime:
    """A monotonic clock and a scheduler the test drives: nothing runs until the test says so."""

    def __init__(self):
        self.t = 1000.0
        self.due: list[tuple[float, object]] = []

    def __call__(self) -> float:
        return self.t

    def schedule(self, delay, fn):
        self.due.append((self.t + delay, fn))

    def advance(self, seconds):
        self.t += seconds
        ready = [(at, fn) for at, fn in self.due if at <= self.t]
        self.due = [(at, fn) for at, fn in self.due if at > self.t]
        for _at, fn in ready:
            fn()


def test_a_burst_of_seat_changes_through_the_gateway_is_a_handful_of_pushes(gw, fl):
    sent = []
    time = ManualTime()
    push = floor.FloorPush(lambda name, payload: sent.append((name, payload)), 0.2,
                           counts=lambda floor_id: floor.floor_counts(fl, floor_id), clock=time, schedule=time.schedule)
    fl.publish = push.publish
    seats = [f"A-0{i}" for i in range(1, 9)]
    for n in range(300):  # 300 changes, one gateway batch each, 3 ms apart: 0.9 s
        gw.send((f"seat:{seats[n % 8]}", "occupied" if (n // 8) % 2 == 0 else "vacant"))
        time.advance(0.003)
    time.advance(0.2)
    floor_pushes = [p for name, p in sent if name == "floor_changed"]
    assert push.changes == 300 and 4 <= len(floor_pushes) <= 7
    # The first change went out at once; every push carries each seat once, with its newest state.
    assert [s["seat"] for s in floor_pushes[0]["seats"]] == ["A-01"]
    assert all(len({s["seat"] for s in p["seats"]}) == len(p["seats"]) for p in floor_pushes)
    last = {s["seat"]: s["sensor"] for p in floor_pushes for s in p["seats"]}
    assert last == {s["seat"]: s["sensor"] for s in floor.floor_snapshot(fl)["seats"]}
    assert floor_pushes[-1]["counts"]["occupied"] == sum(1 for v in last.values() if v == "occupied")
    # Other publications are not held back.
    assert sum(1 for name, _p in sent if name == "points_changed") == 300


def test_a_lone_change_is_pushed_at_once_and_a_stale_payload_never_follows_a_newer_one():
    sent = []
    time = ManualTime()
    push = floor.FloorPush(lambda name, payload: sent.append(payload), 0.2, clock=time, schedule=time.schedule)
    push.publish("floor_changed", {"seats": [{"seat": "A-01", "sensor": "occupied", "rev": 5}]})
    assert len(sent) == 1 and time.due == []
    time.advance(1.0)
    push.publish("floor_changed", {"seats": [{"seat": "A-01", "sensor": "vacant", "rev": 7}]})
    time.advance(0.05)
    push.publish("floor_changed", {"seats": [{"seat": "A-01", "sensor": "occupied", "rev": 6}],
                                   "flags": [{"id": 3, "rev": 6}]})
    time.advance(0.2)
    assert [s["sensor"] for p in sent for s in p["seats"]] == ["occupied", "vacant"]
    assert sent[-1]["flags"] == [{"id": 3, "rev": 6}]


def test_with_no_interval_every_change_is_pushed_as_it_comes():
    sent = []
    push = floor.FloorPush(lambda name, payload: sent.append(payload), 0)
    for n in range(3):
        push.publish("floor_changed", {"seats": [{"seat": "A-01", "rev": n + 1}]})
    assert len(sent) == 3


# --- the demo's simulated call platform --------------------------------------------------------------------

def test_the_simulated_platform_signs_the_shift_in_at_its_seats_and_out_at_the_end(fl, clock):
    seats_seen = []
    platform = SimulatedCallPlatform(lambda now: floor_demo.plan(fl, now, set()), [f"A-0{i}" for i in range(1, 9)],
                                     rng=random.Random(7), clock=lambda: clock.now, wrong_seat_rate=0.0,
                                     late_rate=0.0, unexplained_signout_rate=0.0, linger_rate=0.0,
                                     on_seat=lambda seat, state, at: seats_seen.append((seat, state)))
    platform.on_state = lambda items: floor.accept_states(fl, items, source="sim")
    t = local(9, 0)
    clock.set(t)
    platform.step(t)
    # Its seat sensors first report what they see on starting: every seat empty.
    assert seats_seen == [(f"A-0{i}", "vacant") for i in range(1, 9)]
    while t < local(10, 0):
        t += timedelta(seconds=30)
        clock.set(t)
        platform.step(t)
    snap = floor.floor_snapshot(fl)
    on = {s["seat"]: s["agent"]["employee_no"] for s in snap["seats"] if s["agent"]}
    assert on == {"A-02": "20002", "A-03": "20003", "A-04": "20004", "A-05": "20005"}  # 20006 has left
    assert snap["counts"]["signed_in"] == 4 and ("A-02", "occupied") in seats_seen
    assert snap["ingest"].get("refused", 0) == 0
    while t < local(17, 40):  # the afternoon in ten-minute steps, the shift's end by the minute
        clock.set(t)
        platform.step(t)
        t += timedelta(minutes=1 if t >= local(17, 0) else 10)
    snap = floor.floor_snapshot(fl)
    assert snap["counts"]["signed_in"] == 0 and ("A-02", "vacant") in seats_seen
