"""Badge checks at door readers (§2.5, §4.4, §6.6): load the facts, ask the access rules, save, grant, publish.

Every decision goes to the event log with its reason. A grant tells the door rules, so the opening
that follows is explained; repeated refusals lock a card out and raise an alert.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import OperationalError

from kiosk.domain import access as rules
from kiosk.domain.badges import InvalidBadgeUid, masked_uid, normalize_uid
from kiosk.domain.rollcall import BadgeFacts, StaffFacts
from kiosk.domain.shifts import occurrence
from kiosk.services import doors
from kiosk.services.context import ServiceContext
from kiosk.services.errors import ServiceError
from kiosk.services.rollcall import load_shifts, not_recorded
from kiosk.store.db import write_transaction
from kiosk.store.eventlog import log_event
from kiosk.store.models import Alert, AttendanceRecord, Badge, BadgeLockout, Event, RollCall, RosterEntry, Staff

logger = logging.getLogger(__name__)

_staff, _badges, _roster = Staff.__table__, Badge.__table__, RosterEntry.__table__
_rollcalls, _att, _lock = RollCall.__table__, AttendanceRecord.__table__, BadgeLockout.__table__
_events, _alerts = Event.__table__, Alert.__table__


def policy(ctx: ServiceContext) -> rules.AccessPolicy:
    """Door-check windows from config."""
    return rules.AccessPolicy(roll_call=ctx.rollcall_policy)


def _badge(conn: Connection, uid: str) -> BadgeFacts | None:
    row = conn.execute(select(_badges.c.status, _staff.c.id, _staff.c.employee_no, _staff.c.name, _staff.c.role,
                              _staff.c.active).join(_staff, _staff.c.id == _badges.c.staff_id)
                       .where(_badges.c.uid == uid)).first()
    if row is None:
        return None
    return BadgeFacts(uid, row.status, StaffFacts(row.employee_no, row.name, row.role, bool(row.active)))


def _duties(ctx: ServiceContext, conn: Connection, employee_no: str, now: datetime
            ) -> tuple[list[rules.RosterDuty], dict[tuple[Any, str], str]]:
    """The person's roster occurrences from yesterday to tomorrow, and their roll call marks."""
    shifts = {s.code: s for s in load_shifts(conn)}
    today = now.astimezone(ctx.tz).date()
    rows = conn.execute(select(_roster.c.day, _roster.c.shift_code, _roster.c.duty, _roster.c.staff_id)
                        .join(_staff, _staff.c.id == _roster.c.staff_id)
                        .where(_staff.c.employee_no == employee_no,
                               _roster.c.day.between(today - timedelta(days=1), today + timedelta(days=1)))).all()
    duties = [rules.RosterDuty(occurrence(shifts[r.shift_code], r.day, ctx.tz), r.duty)
              for r in rows if r.shift_code in shifts]
    marks: dict[tuple[Any, str], str] = {}
    if rows:
        for m in conn.execute(select(_rollcalls.c.day, _rollcalls.c.shift_code, _att.c.status)
                              .join(_att, _att.c.rollcall_id == _rollcalls.c.id)
                              .where(_att.c.staff_id == rows[0].staff_id,
                                     _rollcalls.c.day.between(today - timedelta(days=1), today + timedelta(days=1)))):
            marks[(m.day, m.shift_code)] = m.status
    return duties, marks


def _recent_taps(conn: Connection, door_readers: list[str], now: datetime, window: timedelta) -> list[rules.RecentTap]:
    rows = conn.execute(select(_events.c.at, _events.c.data).where(
        _events.c.kind == "door_tap", _events.c.outcome == "granted", _events.c.at >= now - window,
        _events.c.actor.in_([f"reader:{r}" for r in door_readers]))).all()
    out = []
    for r in rows:
        d = json.loads(r.data or "{}")
        if d.get("employee_no"):
            out.append(rules.RecentTap(r.at, d.get("door", ""), d["employee_no"], d.get("role", ""), True))
    return out


def _lockout(conn: Connection, uid: str) -> rules.BadgeLockout:
    row = conn.execute(select(_lock).where(_lock.c.uid == uid)).first()
    if row is None:
        return rules.BadgeLockout()
    return rules.BadgeLockout(tuple(datetime.fromisoformat(t) for t in json.loads(row.refusals)), row.locked_until)


def _save_lockout(conn: Connection, uid: str, lock: rules.BadgeLockout) -> None:
    values = {"refusals": json.dumps([t.isoformat() for t in lock.refusals]), "locked_until": lock.locked_until}
    if not conn.execute(update(_lock).where(_lock.c.uid == uid).values(**values)).rowcount:
        conn.execute(insert(_lock).values(uid=uid, **values))


def door_tap(ctx: ServiceContext, raw_uid: str, reader_id: str, at: datetime | None = None,
             visitor_lookup: Any = None, announce: bool = True) -> dict[str, Any]:
    """Decide one tap at a door reader, log it with its reason, grant the door, publish the decision.

    ``announce=False`` keeps the decision off the screens' tap card (the demo's simulated crowd);
    it is logged and granted all the same.
    """
    now = at or ctx.now()
    try:
        uid = normalize_uid(raw_uid)
    except InvalidBadgeUid as exc:
        raise ServiceError("invalid_uid", str(exc)) from None
    try:
        return _door_tap(ctx, uid, reader_id, now, visitor_lookup, announce)
    except OperationalError as exc:
        # Fail secure: nothing is granted, the screens say so.
        logger.error("door tap %s at %s not recorded: database refused the write: %s", masked_uid(uid), reader_id,
                     exc.orig)
        raise not_recorded(ctx, uid, reader_id, "storage_unavailable", "The door check was not recorded: the "
                           "database is unavailable. The door stays locked; tell the duty leader.") from None


def _door_tap(ctx: ServiceContext, uid: str, reader_id: str, now: datetime, visitor_lookup: Any,
              announce: bool) -> dict[str, Any]:
    pol = policy(ctx)
    with ctx.engine.begin() as conn:
        door = doors.door_for_reader(conn, reader_id)
        if door is None:
            log_event(conn, at=now, kind="door_tap_refused", actor=f"reader:{reader_id}", subject=uid,
                      outcome="unknown_reader", reason=f"reader {reader_id!r} is not assigned to any door")
    if door is None:
        raise ServiceError("unknown_reader", f"Reader {reader_id!r} is not assigned to any door: add it to the "
                                             "door's readers.")
    # Reads the lockout and the door state and writes them back: no other writer in between.
    with write_transaction(ctx.engine) as conn:
        readers = doors.reader_ids(door)
        badge = _badge(conn, uid)
        visitor = visitor_lookup(conn, uid, now) if (badge is None and visitor_lookup is not None) else None
        duties, marks = _duties(ctx, conn, badge.holder.employee_no, now) if badge else ([], {})
        lock = _lockout(conn, uid)
        decision = rules.decide_door_tap(door_id=door.id, uid=uid, now=now, policy=pol, badge=badge,
                                         visitor=visitor, duties=duties, marks=marks,
                                         recent_taps=_recent_taps(conn, readers, now, pol.escort_window),
                                         lockout=lock)
        new_lock, locked_events = rules.record_decision(lock, decision, pol)
        if new_lock != lock:
            _save_lockout(conn, uid, new_lock)
        log_event(conn, at=now, kind="door_tap", actor=f"reader:{reader_id}", subject=uid,
                  outcome=decision.outcome.value, reason=decision.reason_text, rule=decision.rule,
                  data={"door": door.id, "employee_no": decision.employee_no, "role": decision.role,
                        "visitor": decision.visitor_name, "escorted_by": decision.escorted_by})
        pubs: list[doors.Publication] = []
        if decision.granted:
            pubs += doors.grant(conn, door.id, now, decision.who, decision.grant_kind, now)
        for ev in locked_events:
            alert = {"kind": ev.name, "condition": "", "severity": ev.severity, "rule": ev.rule, "door_id": door.id,
                     "floor_id": door.floor_id,
                     "subject": ev.holder_name or masked_uid(uid),
                     "message": f"Card {masked_uid(uid)} ({ev.holder_name or 'unknown'}) refused {ev.refusals} times: "
                                f"locked out until {doors.iso(ev.locked_until)}.",
                     "raised_at": now, "level": 0, "data": "{}"}
            alert_id = conn.execute(insert(_alerts).values(**alert)).inserted_primary_key[0]
            log_event(conn, at=now, kind="alert_raised", actor=f"door:{door.id}", subject=str(alert_id),
                      outcome=ev.name, reason=alert["message"], rule=ev.rule)
            pubs.append(("alert_raised", doors.alert_payload({**alert, "id": alert_id})))
    payload = {"door_id": door.id, "door_name": door.name, "reader_id": reader_id, "outcome": decision.outcome.value,
               "granted": decision.granted, "reason": decision.reason_text, "rule": decision.rule,
               "employee_no": decision.employee_no, "name": decision.name or decision.visitor_name,
               "visitor": decision.visitor_name is not None, "at": doors.iso(now), "uid_tail": masked_uid(uid),
               "detail": decision.detail, "floor_id": door.floor_id}
    logger.info("door %s tap %s: %s", door.id, masked_uid(uid), decision.outcome.value)
    if announce:
        ctx.publish("door_tap_decided", payload)
    doors.publish_all(ctx, pubs)
    return payload
