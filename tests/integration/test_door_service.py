"""Doors through the service layer: sensor batches drive the door rules, alerts are stored, raised once, cleared."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from kiosk.services import doors, sensors
from kiosk.store.db import writer_lock
from kiosk.store.models import Alert, Door, Event

SECRET = b"door-test-secret"


@pytest.fixture
def floor(ctx):
    ctx.config["GATEWAY_SECRETS"] = "floor-3=" + SECRET.decode()
    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "正门"},
                                {"id": "exit:main", "kind": "exit_button", "label": "出门按钮"}])
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main",
                              "exit_point": "exit:main", "readers": ["door-main"], "prewarn_s": 20, "alarm_s": 30,
                              "entry_window_s": 10}])
    return ctx


class Gateway:
    """Posts signed batches as floor_sensors does, with event times from the test's clock."""

    def __init__(self, ctx, clock):
        self.ctx, self.clock, self.n = ctx, clock, 0

    def send(self, point, state):
        self.n += 1
        at = self.clock.now.isoformat().replace("+00:00", "Z")
        body = json.dumps({"events": [{"id": f"floor-3:{self.n}", "type": "point_changed", "point": point,
                                       "state": state, "at": at}]}).encode()
        return sensors.ingest(self.ctx, "floor-3", body, sensors.sign(SECRET, body))


@pytest.fixture
def gw(floor, clock):
    g = Gateway(floor, clock)
    g.send("door:main", "closed")
    return g


def alerts(ctx):
    with ctx.engine.connect() as conn:
        return conn.execute(select(Alert.__table__).order_by(Alert.__table__.c.id)).all()


def published(ctx, name):
    return [p for n, p in ctx.published if n == name]


def test_a_door_opened_with_no_grant_raises_one_forced_open_alert_naming_the_rule(gw, floor):
    gw.send("door:main", "open")
    (alert,) = alerts(floor)
    assert (alert.kind, alert.rule, alert.severity, alert.door_id) == ("door_forced_open", "§6.6", "alarm", "main")
    assert published(floor, "alert_raised")[0]["kind"] == "door_forced_open"


def test_the_exit_button_explains_the_next_opening(gw, floor, clock):
    gw.send("exit:main", "pressed")
    clock.set(clock.now + timedelta(seconds=2))
    gw.send("door:main", "open")
    assert alerts(floor) == []


def test_a_badge_grant_explains_the_opening_but_not_one_after_the_entry_window(gw, floor, clock):
    with floor.engine.begin() as conn:
        doors.grant(conn, "main", clock.now, "20002", "badge", clock.now)
    clock.set(clock.now + timedelta(seconds=11))
    gw.send("door:main", "open")
    assert [a.kind for a in alerts(floor)] == ["door_forced_open"]


def test_a_door_held_open_warns_at_twenty_seconds_and_alarms_once_at_thirty(gw, floor, clock):
    gw.send("exit:main", "pressed")
    gw.send("door:main", "open")
    clock.set(clock.now + timedelta(seconds=21))
    doors.tick(floor)
    assert published(floor, "door_held_open_warning")
    # One grant, open longer than one person needs: a lower-severity tailgating alert, no alarm yet.
    assert [(a.kind, a.severity) for a in alerts(floor)] == [("possible_tailgating", "warning")]
    clock.set(clock.now + timedelta(seconds=10))
    doors.tick(floor)
    clock.set(clock.now + timedelta(seconds=10))
    doors.tick(floor)
    held = [a for a in alerts(floor) if a.kind == "door_held_open"]
    assert len(held) == 1 and held[0].rule == "§6.5" and held[0].cleared_at is None


def test_closing_the_door_clears_the_alarm_but_does_not_acknowledge_it(gw, floor, clock):
    gw.send("door:main", "open")
    clock.set(clock.now + timedelta(seconds=31))
    doors.tick(floor)
    gw.send("door:main", "closed")
    rows = alerts(floor)
    assert {a.kind for a in rows} == {"door_forced_open", "door_held_open"}
    assert all(a.cleared_at == clock.now and a.acknowledged_at is None for a in rows)
    assert len(published(floor, "alert_cleared")) == 2


def test_a_sensor_going_unknown_raises_its_own_alert_and_the_door_is_not_closed(gw, floor, clock):
    gw.send("door:main", "unknown")
    (alert,) = alerts(floor)
    assert alert.kind == "door_sensor_unknown"
    door = doors.panel(floor)["doors"][0]
    assert door["contact"] == "unknown" and door["closed"] is False


def test_a_silent_gateway_makes_the_door_unknown_through_the_same_rules(gw, floor, clock):
    clock.set(clock.now + timedelta(seconds=30))
    sensors.check_silent(floor)
    assert [a.kind for a in alerts(floor)] == ["door_sensor_unknown"]


def test_every_door_event_and_alert_is_in_the_event_log(gw, floor, clock):
    gw.send("door:main", "open")
    with floor.engine.connect() as conn:
        kinds = [e.kind for e in conn.execute(select(Event.__table__))]
    assert "door_opened" in kinds and "door_forced_open" in kinds and "alert_raised" in kinds


def test_the_door_state_survives_a_restart_of_the_process(gw, floor, clock, instance):
    gw.send("door:main", "open")
    from kiosk.config import load_config
    from kiosk.services.context import ServiceContext
    from kiosk.store.db import make_engine, make_sessionmaker

    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    fresh = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine), clock=clock)
    clock.set(clock.now + timedelta(seconds=31))
    doors.tick(fresh)
    assert [a.kind for a in alerts(floor)] == ["door_forced_open", "door_held_open"]
    engine.dispose()


def test_impossible_timings_are_refused_before_anything_is_written(floor):
    with pytest.raises(ValueError, match="prewarn_after"):
        doors.define_doors(floor, [{"id": "back", "name": "后门", "contact_point": "door:back",
                                    "prewarn_s": -1, "alarm_s": 30}])
    with floor.engine.connect() as conn:
        assert [d.id for d in conn.execute(select(Door.__table__))] == ["main"]


def test_a_door_names_its_contact_point_so_the_screen_can_put_its_countdown_on_that_tile(gw, floor, clock):
    gw.send("door:main", "open")
    (door,) = doors.panel(floor)["doors"]
    assert (door["door_id"], door["contact_point"], door["alarm_s"]) == ("main", "door:main", 30)
    changed = published(floor, "door_changed")[-1]
    assert changed["contact_point"] == "door:main" and changed["alarm_in_seconds"] == 30
    assert door["readers"] == changed["readers"] == ["door-main"]  # the panel says when one of them is down


def test_a_timer_round_running_beside_a_contact_change_never_undoes_it(gw, floor, clock, monkeypatch):
    # The door is open (a forced opening, alarm raised); the timer round reads it. Before the round writes the
    # state back, the door closes and opens again in another thread. Writing back what the round read would
    # undo both: the door would look still open from the first opening, and the second forced opening would
    # raise nothing. The round must hold the door until it is done, and the contact changes come after it.
    import threading

    from kiosk.domain import doors as door_rules

    gw.send("door:main", "open")
    clock.set(clock.now + timedelta(seconds=1))
    rules_tick, other = door_rules.tick, []

    def tick_while_the_door_moves(state, now, policy):
        if not other:
            def close_and_open_again():
                gw.send("door:main", "closed")
                gw.send("door:main", "open")

            other.append(threading.Thread(target=close_and_open_again))
            other[0].start()
            other[0].join(0.5)  # without the lock it finishes here, inside the round
        return rules_tick(state, now, policy)

    monkeypatch.setattr(door_rules, "tick", tick_while_the_door_moves)
    doors.tick(floor)
    other[0].join(10)
    assert not other[0].is_alive()
    assert [a.kind for a in alerts(floor)] == ["door_forced_open", "door_forced_open"]
    with floor.engine.connect() as conn:
        state = doors.state_of(conn.execute(select(Door.__table__)).one())
    assert state.contact.value == "open" and state.opening.started_at == clock.now


@pytest.mark.sqlite_only  # the process's write lock is SQLite's queue; PostgreSQL writers lock rows instead
def test_a_timer_round_with_nothing_due_never_waits_for_the_write_lock(gw, floor):
    # A tap holds the process's write lock; the door and gateway checks have nothing to do (the door is closed,
    # the gateway was just heard), so they must not queue behind it.
    held, release = threading.Event(), threading.Event()

    def tap() -> None:
        with writer_lock(floor.engine):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=tap)
    holder.start()
    held.wait(5)
    results: list = []
    round_ = threading.Thread(target=lambda: results.append((doors.tick(floor), sensors.check_silent(floor))))
    round_.start()
    round_.join(5)
    finished = not round_.is_alive()
    release.set()
    holder.join()
    round_.join()
    assert finished, "the timer round waited for the write lock with nothing to write"
    assert results == [([], [])]
