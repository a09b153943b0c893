"""Doors as a capability (§6.5, §6.6): sensor changes and grants through the door rules, alerts raised and cleared.

Door rule state is stored with the door (``kiosk.store.doorstate``), so whichever process runs the
timers can pick up where another left off. Point changes are applied inside the sensor batch's own
transaction: the door's new state, its alerts and their log rows commit with the change that
caused them, and the screens hear about it after that one commit.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from kiosk.domain import doors as rules
from kiosk.services import floors
from kiosk.services.context import ServiceContext
from kiosk.services.errors import NotFound
from kiosk.store import doorstate
from kiosk.store.db import write_transaction
from kiosk.store.eventlog import log_event
from kiosk.store.lean import Prepared
from kiosk.store.models import Alert, Door

logger = logging.getLogger(__name__)

_doors, _alerts = Door.__table__, Alert.__table__

# Prebuilt: the door rules run on every contact change, so these are built and cache-keyed once.
_SAVE_STATE = update(_doors).where(_doors.c.id == bindparam("_id")).values(state=bindparam("_state"))
_DOORS_OF_POINTS = (select(_doors).where(_doors.c.contact_point.in_(bindparam("contacts", expanding=True))
                                         | _doors.c.exit_point.in_(bindparam("exits", expanding=True)))
                    .with_for_update())  # the state is written back: see store.db.write_transaction
_OPEN_ALERTS = select(_alerts.c.id, _alerts.c.kind).where(
    _alerts.c.door_id == bindparam("door"), _alerts.c.condition == bindparam("condition"),
    _alerts.c.cleared_at.is_(None))
_CLEAR_ALERT = update(_alerts).where(_alerts.c.id == bindparam("_id")).values(cleared_at=bindparam("_at"))
# A contact change usually concerns one point: these run straight on the driver (kiosk.store.lean).
_DOORS_OF_POINT = Prepared(select(_doors).where((_doors.c.contact_point == bindparam("point"))
                                                | (_doors.c.exit_point == bindparam("point"))).with_for_update())
_SAVE_STATE_LEAN = Prepared(_SAVE_STATE)
_ALERT_KEYS = ("kind", "condition", "severity", "rule", "door_id", "subject", "message", "raised_at", "level", "data",
               "floor_id")
_INSERT_ALERT_LEAN = Prepared(insert(_alerts).returning(_alerts.c.id), keys=_ALERT_KEYS)
_OPEN_ALERTS_LEAN = Prepared(_OPEN_ALERTS)
_CLEAR_ALERT_LEAN = Prepared(_CLEAR_ALERT)

Publication = tuple[str, dict[str, Any]]

# The alarm conditions that become alerts a leader must acknowledge. The held-open pre-warning is
# shown as a countdown on the door panel, not as an alert.
ALERT_CONDITIONS = (rules.HELD_OPEN, rules.FORCED_OPEN, rules.SENSOR_UNKNOWN, rules.TAMPER, rules.FAULT)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def policy_of(row: Any) -> rules.DoorPolicy:
    """A door's timings as the rules take them."""
    return rules.DoorPolicy(prewarn_after=timedelta(seconds=row.prewarn_s) if row.prewarn_s < row.alarm_s else None,
                            alarm_after=timedelta(seconds=row.alarm_s),
                            entry_window=timedelta(seconds=row.entry_window_s),
                            tailgate_after=timedelta(seconds=row.tailgate_s) if row.tailgate_s > 0 else None)


def state_of(row: Any) -> rules.DoorState:
    """A door's stored rule state (a new door starts unknown)."""
    return doorstate.loads(row.state) if row.state else rules.new_door(row.id)


def define_doors(ctx: ServiceContext, doors: list[dict[str, Any]], actor: str = "cli") -> int:
    """Create or update doors: id, name, contact_point, exit_point, readers, timings in seconds, and
    optionally its plan position x, y (left out: a new door is not on the map, an existing one stays where it is)
    and its ``floor`` (a code; left out: a new door is on the first floor, an existing one stays on its own)."""
    with ctx.engine.begin() as conn:
        existing = {r.id for r in conn.execute(select(_doors.c.id))}
        floor_ids = floors.codes(conn)
        for d in doors:
            values = {"name": d["name"], "contact_point": d["contact_point"], "exit_point": d.get("exit_point"),
                      "readers": ",".join(d.get("readers", [])) if isinstance(d.get("readers"), list)
                      else d.get("readers", ""),
                      "prewarn_s": float(d.get("prewarn_s", 20)), "alarm_s": float(d.get("alarm_s", 30)),
                      "entry_window_s": float(d.get("entry_window_s", 10)),
                      "tailgate_s": float(d.get("tailgate_s", 15))}
            policy_of(type("Row", (), values))  # refuse impossible timings before writing anything
            if d.get("x") is not None and d.get("y") is not None:
                values.update(x=float(d["x"]), y=float(d["y"]))
            if d.get("floor"):
                if d["floor"] not in floor_ids:
                    raise NotFound("unknown_floor", f"door {d['id']}: no floor {d['floor']}")
                values["floor_id"] = floor_ids[d["floor"]]
            if d["id"] in existing:
                conn.execute(update(_doors).where(_doors.c.id == d["id"]).values(**values))
            else:
                conn.execute(insert(_doors).values(id=d["id"], state="", **values))
        log_event(conn, at=ctx.now(), kind="doors_defined", actor=actor, outcome="ok", data={"count": len(doors)})
    return len(doors)


def _save(conn: Connection, door_id: str, state: rules.DoorState) -> None:
    _SAVE_STATE_LEAN.run(conn, {"_id": door_id, "_state": doorstate.dumps(state)})


def _record(conn: Connection, door: Any, events: list[Any]) -> list[Publication]:
    """Log every door event, raise and clear alerts; return what to publish after the commit."""
    pubs: list[Publication] = []
    for ev in events:
        log_event(conn, at=ev.at, kind=ev.name, actor=f"door:{door.id}", subject=door.id,
                  outcome=getattr(ev, "alarm_kind", "") or getattr(ev, "reason", "") or "",
                  reason=ev.message, rule=ev.rule)
        kind = rules.raised_kind(ev)
        if kind in ALERT_CONDITIONS or isinstance(ev, rules.PossibleTailgating):
            message = ev.message
            if kind == rules.FORCED_OPEN:
                from kiosk.services import visitors  # late: visitors builds on this module

                message = visitors.note_visitors_inside(conn, message)  # §6.6: who the leader must account for
            alert = {"kind": ev.name, "condition": kind or "", "severity": ev.severity, "rule": ev.rule,
                     "door_id": door.id, "subject": door.name, "message": message, "raised_at": ev.at,
                     "level": 0, "data": "{}", "floor_id": door.floor_id}
            alert_id = _INSERT_ALERT_LEAN.scalar(conn, alert)
            log_event(conn, at=ev.at, kind="alert_raised", actor=f"door:{door.id}", subject=str(alert_id),
                      outcome=ev.name, reason=message, rule=ev.rule)
            pubs.append(("alert_raised", alert_payload({**alert, "id": alert_id})))
        elif isinstance(ev, rules.AlarmCleared):
            rows = _OPEN_ALERTS_LEAN.all(conn, {"door": door.id, "condition": ev.alarm_kind})
            for r in rows:
                _CLEAR_ALERT_LEAN.run(conn, {"_id": r.id, "_at": ev.at})
                log_event(conn, at=ev.at, kind="alert_cleared", actor=f"door:{door.id}", subject=str(r.id),
                          outcome=r.kind, reason=ev.reason, rule=ev.rule)
                pubs.append(("alert_cleared", {"id": r.id, "kind": r.kind, "door_id": door.id,
                                               "cleared_at": iso(ev.at), "reason": ev.reason,
                                               "floor_id": door.floor_id}))
        elif isinstance(ev, rules.DoorHeldOpenWarning):
            pubs.append(("door_held_open_warning", {"door_id": door.id, "name": door.name, "at": iso(ev.at),
                                                    "alarm_in_seconds": ev.alarm_in_seconds,
                                                    "floor_id": door.floor_id}))
    return pubs


def alert_payload(a: Any) -> dict[str, Any]:
    """An alert as the screens get it."""
    get = a.get if isinstance(a, dict) else lambda k, d=None: getattr(a, k, d)
    return {"id": get("id"), "kind": get("kind"), "severity": get("severity"), "rule": get("rule"),
            "door_id": get("door_id"), "subject": get("subject"), "message": get("message"),
            "raised_at": iso(get("raised_at")), "cleared_at": iso(get("cleared_at")),
            "acknowledged_at": iso(get("acknowledged_at")), "acknowledged_by": get("acknowledged_by"),
            "ack_reason": get("ack_reason"), "level": get("level", 0),
            "floor_id": get("floor_id")}  # its door's floor: only that floor's screens (and every-floor ones) hear


def reader_ids(row: Any) -> list[str]:
    """A door's badge readers, from its comma-separated ``readers`` column."""
    return [r.strip() for r in (getattr(row, "readers", None) or "").split(",") if r.strip()]


def door_payload(row: Any, state: rules.DoorState, now: datetime) -> dict[str, Any]:
    """A door as the door panel shows it: state, how long open, seconds to the held-open alarm."""
    policy = policy_of(row)
    opening = state.opening
    return {"door_id": row.id, "name": row.name, "contact_point": row.contact_point, "contact": state.contact.value,
            "closed": state.is_closed, "opened_at": iso(opening.started_at) if opening else None,
            "open_seconds": round(opening.seen_open(now).total_seconds(), 1) if opening else None,
            "alarm_in_seconds": rules.countdown(state, now, policy),
            "prewarn_s": row.prewarn_s, "alarm_s": row.alarm_s, "alarms": list(state.active_alarms),
            # The floor map draws the door at its plan position, in the colour of rules.map_look.
            "x": _coord(getattr(row, "x", None)), "y": _coord(getattr(row, "y", None)), "look": rules.map_look(state),
            "floor_id": getattr(row, "floor_id", None),
            # Its badge readers: the panel says when one of them is down (nobody can badge in there).
            "readers": reader_ids(row)}


def _coord(value: Any) -> float | None:
    return None if value is None else float(value)


def apply_point_changes(conn: Connection, changes: list[dict[str, Any]], now: datetime) -> list[Publication]:
    """Run door contact and exit button changes through the door rules, in the caller's transaction."""
    if not changes:
        return []
    points = sorted({c["point"] for c in changes})
    doors = (_DOORS_OF_POINT.all(conn, {"point": points[0]}) if len(points) == 1 else
             conn.execute(_DOORS_OF_POINTS, {"contacts": points, "exits": points}).all())
    if not doors:
        return []
    pubs: list[Publication] = []
    for door in doors:
        state, policy = state_of(door), policy_of(door)
        events: list[Any] = []
        for ch in changes:
            at = datetime.fromisoformat(ch["at"].replace("Z", "+00:00"))
            if ch["point"] == door.contact_point:
                state, evs = rules.on_contact(state, ch["state"], at, policy)
                events += evs
            elif ch["point"] == door.exit_point and ch["state"] == "pressed":
                # The exit button is a grant: someone inside lets themselves out.
                state, evs = rules.on_grant(state, at, "exit button", "exit_button", policy=policy)
                events += evs
        _save(conn, door.id, state)
        pubs += _record(conn, door, events)
        pubs.append(("door_changed", door_payload(door, state, now)))
    return pubs


def grant(conn: Connection, door_id: str, at: datetime, who: str, kind: str, now: datetime) -> list[Publication]:
    """A badge or visitor card was accepted at a door's reader: it explains the next opening."""
    door = conn.execute(select(_doors).where(_doors.c.id == door_id).with_for_update()).first()
    if door is None:
        raise NotFound("unknown_door", f"door {door_id!r} is not defined")
    state, events = rules.on_grant(state_of(door), at, who, kind, policy=policy_of(door))
    _save(conn, door.id, state)
    return _record(conn, door, events) + [("door_changed", door_payload(door, state, now))]


_DOOR_STATES = Prepared(select(_doors.c.id, _doors.c.state))


def tick(ctx: ServiceContext) -> list[Publication]:
    """Let time pass for every door (held-open pre-warning and alarm, tailgating by duration).

    Every second, so it first looks (no write lock) and goes on only when a door is open or holds a grant.
    """
    now = ctx.now()
    with ctx.engine.connect() as conn:
        if not any(_timed(state_of(door)) for door in _DOOR_STATES.all(conn)):
            return []
    pubs: list[Publication] = []
    # Read, let time pass, write back: no contact change may commit in between (it would be undone).
    with write_transaction(ctx.engine) as conn:
        for door in conn.execute(select(_doors).with_for_update()).all():
            state = state_of(door)
            if not _timed(state):
                continue
            new_state, events = rules.tick(state, now, policy_of(door))
            if new_state != state:
                _save(conn, door.id, new_state)
            pubs += _record(conn, door, events)
            if events:
                pubs.append(("door_changed", door_payload(door, new_state, now)))
    publish_all(ctx, pubs)
    return pubs


def _timed(state: rules.DoorState) -> bool:
    """Whether time passing can change this door: it is open, or holds a grant."""
    return state.opening is not None or bool(state.grants)


def publish_all(ctx: ServiceContext, pubs: list[Publication]) -> None:
    """Publish, after the commit, what a transaction produced."""
    for name, payload in pubs:
        ctx.publish(name, payload)


_DOORS_WITH_READERS = select(_doors).where(_doors.c.readers != "")  # built once: asked on every tap


def door_for_reader(conn: Connection, reader_id: str) -> Any:
    """The door a reader stands at, or None."""
    for door in conn.execute(_DOORS_WITH_READERS):
        if reader_id in reader_ids(door):
            return door
    return None


def panel(ctx: ServiceContext, scope: floors.Scope = None) -> dict[str, Any]:
    """Doors and the alerts not yet acknowledged, for a screen's snapshot: of the floors in ``scope`` (None:
    every floor); an alert of no one floor (a visitor's) shows on every floor."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        doors = [door_payload(d, state_of(d), now) for d in conn.execute(
            select(_doors).where(floors.in_scope(_doors.c.floor_id, scope)).order_by(_doors.c.id))]
        open_alerts = [alert_payload(a) for a in conn.execute(
            select(_alerts).where(_alerts.c.acknowledged_at.is_(None),
                                  floors.in_scope(_alerts.c.floor_id, scope, unassigned=True))
            .order_by(_alerts.c.raised_at))]
    return {"doors": doors, "alerts": open_alerts}


def parse_data(text: str) -> dict[str, Any]:
    """An alert's data column."""
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {}
