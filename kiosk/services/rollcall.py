"""Roll call as a capability: load facts, ask the rules, save, then publish to the screens.

The tap path is the hot path of the floor (every operator, every shift) and is written with
SQLAlchemy Core: a handful of indexed selects and two inserts in one transaction.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from kiosk.domain import rollcall as rules
from kiosk.domain.badges import InvalidBadgeUid, masked_uid, normalize_uid
from kiosk.domain.shifts import ShiftDef, ShiftOccurrence, occurrence, occurrences_around, shift_defs
from kiosk.services import floors, leader_sessions
from kiosk.services.context import LeaderSession, ServiceContext
from kiosk.services.errors import NotFound, NotPermitted, ServiceError, StorageUnavailable
from kiosk.store.db import write_transaction
from kiosk.store.eventlog import log_event
from kiosk.store.lean import Prepared
from kiosk.store.models import (AttendanceRecord, Badge, DailyQuestion, Notice, RollCall, RosterEntry, Shift,
                                Staff)

logger = logging.getLogger(__name__)

_staff, _badges, _shifts = Staff.__table__, Badge.__table__, Shift.__table__
_roster, _rollcalls, _att = RosterEntry.__table__, RollCall.__table__, AttendanceRecord.__table__
_notices, _questions = Notice.__table__, DailyQuestion.__table__

LEADER_ROLES = ("leader", "supervisor", "admin")  # run roll call at the kiosk
CONSOLE_ROLES = LEADER_ROLES + ("security",)  # open the kiosk console (security acknowledges alerts)

PIN_REQUIRED = "请输入 PIN / Enter your PIN: this needs your badge and your PIN."


def load_shifts(conn: Connection) -> list[ShiftDef]:
    """All shift definitions."""
    return list(shift_defs(tuple(tuple(r) for r in conn.execute(_SHIFTS))))


def _iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z, as every payload carries times."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def _rollcall_row(conn: Connection, occ: ShiftOccurrence, floor_id: int) -> Any:
    """The roll call row of an occurrence on a floor (each floor calls its own roll), created on first need."""
    where = and_(_rollcalls.c.day == occ.day, _rollcalls.c.shift_code == occ.shift.code,
                 _rollcalls.c.floor_id == floor_id)
    row = conn.execute(select(_rollcalls).where(where)).first()
    if row is None:
        conn.execute(insert(_rollcalls).values(day=occ.day, shift_code=occ.shift.code, floor_id=floor_id))
        row = conn.execute(select(_rollcalls).where(where)).first()
    return row


def _only_floor(conn: Connection, what: str) -> int:
    """The centre's one floor; ServiceError on a centre with several (the caller must say which)."""
    ids = list(floors.codes(conn).values())
    if len(ids) != 1:
        raise ServiceError("floor_required", f"The centre has several floors: {what} at that floor's kiosk.")
    return ids[0]


def current(ctx: ServiceContext, conn: Connection) -> tuple[ShiftOccurrence | None, bool]:
    """The occurrence whose roll call is open, else the next; and whether it is open."""
    return rules.current_or_next(load_shifts(conn), ctx.now(), ctx.rollcall_policy, ctx.tz)


# Prebuilt statements for the tap path: built and cache-keyed once, not per tap.
_SHIFTS = select(_shifts.c.code, _shifts.c.name, _shifts.c.start, _shifts.c.end)
_rc_for_tap = _rollcalls.alias("rc")
_other_line = _roster.alias("other_line")
# A person with no line on this shift: the shift they are rostered on that day, if any ("not on this shift").
_OTHER_SHIFT_OF_DAY = (select(_other_line.c.shift_code)
                       .where(_other_line.c.staff_id == _staff.c.id, _other_line.c.day == bindparam("day"))
                       .limit(1).scalar_subquery())
_TAP_FACTS = (
    select(_badges.c.status, _staff.c.id, _staff.c.employee_no, _staff.c.name, _staff.c.role, _staff.c.active,
           _roster.c.seat_id, _roster.c.duty, _roster.c.floor_id, _rc_for_tap.c.id.label("rc_id"),
           _rc_for_tap.c.closed_at.label("rc_closed_at"), _att.c.status.label("mark"),
           _OTHER_SHIFT_OF_DAY.label("other_shift"))
    .select_from(_badges)
    .join(_staff, _staff.c.id == _badges.c.staff_id)
    .outerjoin(_roster, and_(_roster.c.staff_id == _staff.c.id, _roster.c.day == bindparam("day"),
                             _roster.c.shift_code == bindparam("shift")))
    # The roll call of the floor the person is rostered on: each floor calls its own.
    .outerjoin(_rc_for_tap, and_(_rc_for_tap.c.day == bindparam("day"), _rc_for_tap.c.shift_code == bindparam("shift"),
                                 _rc_for_tap.c.floor_id == _roster.c.floor_id))
    .outerjoin(_att, and_(_att.c.rollcall_id == _rc_for_tap.c.id, _att.c.staff_id == _staff.c.id))
    .where(_badges.c.uid == bindparam("uid"))
)
_BADGE_ONLY = (select(_badges.c.status, _staff.c.id, _staff.c.employee_no, _staff.c.name, _staff.c.role,
                      _staff.c.active)
               .join(_staff, _staff.c.id == _badges.c.staff_id).where(_badges.c.uid == bindparam("uid")))
_INSERT_MARK = insert(_att)
# The tap's own statements run straight on the driver (kiosk.store.lean): one tap, one short transaction.
_TAP_FACTS_LEAN = Prepared(_TAP_FACTS)
_BADGE_ONLY_LEAN = Prepared(_BADGE_ONLY)
_INSERT_MARK_LEAN = Prepared(_INSERT_MARK, keys=("rollcall_id", "staff_id", "status", "at", "leader_late", "manual"))


def record_tap(ctx: ServiceContext, raw_uid: str, reader_id: str = "kiosk",
               at: datetime | None = None, *, raced: bool = False) -> dict[str, Any]:
    """Record one roll call tap and return what the screen shows; publish it after the commit.

    ``at`` is when the reader saw the badge (default: now). A database that refuses the write raises
    StorageUnavailable: the tap is then NOT accepted.
    """
    now = at or ctx.now()
    try:
        uid = normalize_uid(raw_uid)
    except InvalidBadgeUid as exc:
        raise ServiceError("invalid_uid", str(exc)) from None
    policy = ctx.rollcall_policy
    try:
        with write_transaction(ctx.engine) as conn:
            # The mark is decided from what is read here: no other writer in between.
            catalog = ctx.catalog.read(conn)
            reader_floor = catalog.kiosk_floor(reader_id)
            shifts = catalog.shifts
            occ, _open = rules.current_or_next(shifts, now, policy, ctx.tz)
            # One indexed lookup gives the badge, its holder, their roster line and mark for this occurrence.
            if occ is not None:
                row = _TAP_FACTS_LEAN.first(conn, {"uid": uid, "day": occ.day, "shift": occ.shift.code})
            else:
                row = _BADGE_ONLY_LEAN.first(conn, {"uid": uid})
            badge = staff_id = None
            roster: dict[str, rules.RosterLine] = {}
            answered: set[str] = set()
            other_shift = None
            closed = False
            rc_id = None
            roster_floor = None
            if row is not None:
                staff_id = row.id
                badge = rules.BadgeFacts(uid, row.status,
                                         rules.StaffFacts(row.employee_no, row.name, row.role, bool(row.active)))
            if row is not None and occ is not None:
                if row.duty is not None:
                    roster[row.employee_no] = rules.RosterLine(row.employee_no, row.name, row.seat_id, row.duty)
                    rc_id, closed = row.rc_id, row.rc_closed_at is not None
                    roster_floor = row.floor_id
                    if row.mark in ("present", "late"):
                        answered.add(row.employee_no)
                else:
                    other_shift = row.other_shift
            decision = rules.decide_tap(badge, occ, roster, answered, now, policy, other_shift)
            if other_shift and decision.outcome is rules.Outcome.NOT_ON_ROSTER:
                names = {sd.code: sd.name for sd in shifts}
                decision = replace(decision, detail={**decision.detail, "on_shift_name": names.get(other_shift, "")})
            if closed and decision.outcome.accepted:
                # The leader closed roll call early: a later tap is outside the window.
                decision = rules.TapDecision(rules.Outcome.OUTSIDE_WINDOW, decision.employee_no, decision.name,
                                             decision.seat, decision.duty, detail={"closed": "1"})
            if decision.outcome.accepted:
                if rc_id is None:
                    rc_id = _rollcall_row(conn, occ, floor_id=roster_floor).id
                _INSERT_MARK_LEAN.run(conn, {"rollcall_id": rc_id, "staff_id": staff_id,
                                             "status": decision.outcome.value, "at": now,
                                             "leader_late": decision.leader_late, "manual": False})
            log_event(conn, at=now, kind="rollcall_tap", actor=f"reader:{reader_id}", subject=uid,
                      outcome=decision.outcome.value, rule=decision.rule,
                      reason=_reason(decision),
                      data={"employee_no": decision.employee_no,
                            "shift": occ.shift.code if occ else None,
                            "day": occ.day.isoformat() if occ else None,
                            "leader_late": decision.leader_late})
            # The kiosk that read the badge shows the card; the person's own floor's board counts the mark.
            floor_id = floors.scope_of([reader_floor, roster_floor])
    except IntegrityError as exc:
        if not raced:
            # The same badge raced itself (two readers at once): the first one counted.
            logger.info("tap %s raced an earlier tap; reporting duplicate", masked_uid(uid))
            return record_tap(ctx, uid, reader_id, at, raced=True)
        # Refused again with the race's winner in view: not a race, and trying on would loop.
        logger.error("tap %s not recorded: the database refused it twice: %s", masked_uid(uid), exc.orig)
        raise not_recorded(ctx, uid, reader_id, "tap_not_recorded", "The tap was not recorded. Please tap "
                           "again; if it fails again, tell the duty leader.") from None
    except OperationalError as exc:
        logger.error("tap %s not recorded: database refused the write: %s", masked_uid(uid), exc.orig)
        raise not_recorded(ctx, uid, reader_id, "storage_unavailable", "The tap was not recorded: the database "
                           "is unavailable. Tell the duty leader.") from None

    payload = {
        "ok": True,
        "outcome": decision.outcome.value,
        "accepted": decision.outcome.accepted,
        "employee_no": decision.employee_no,
        "name": decision.name,
        "seat": decision.seat,
        "duty": decision.duty,
        "leader_late": decision.leader_late,
        "detail": decision.detail,
        "rule": decision.rule,
        "at": _iso(now),
        "reader_id": reader_id,
        "uid_tail": masked_uid(uid),
        "shift": occ.shift.code if occ else None,
        "floor_id": floor_id,
    }
    ctx.publish("tap_recorded", payload)  # the screen first, then the log line
    logger.info("tap %s at %s: %s", masked_uid(uid), reader_id, decision.outcome.value)
    if (badge is not None and badge.status == "active" and badge.holder.active
            and (badge.holder.role in CONSOLE_ROLES or decision.duty == "leader")):
        # The duty leader of the shift runs its roll call whatever their staff role.
        role = "leader" if decision.duty == "leader" and badge.holder.role == "operator" else badge.holder.role
        _open_leader_session(ctx, reader_id, replace(badge.holder, role=role), now)
    return payload


def not_recorded(ctx: ServiceContext, uid: str, reader_id: str, error: str, message: str) -> StorageUnavailable:
    """A tap the database did not take: the screens are told (``tap_failed``); the caller raises what this returns."""
    ctx.publish("tap_failed", {"ok": False, "error": error, "uid_tail": masked_uid(uid), "reader_id": reader_id,
                               "message": message})
    return StorageUnavailable(error, message)


def _reason(decision: rules.TapDecision) -> str:
    if decision.outcome is rules.Outcome.NOT_ON_ROSTER and decision.detail.get("on_shift"):
        return f"rostered on shift {decision.detail['on_shift']}"
    if decision.leader_late:
        return "duty leader tapped less than the required time before shift start"
    return ""


def _open_leader_session(ctx: ServiceContext, kiosk_id: str, who: rules.StaffFacts, now: datetime) -> None:
    """A badge-only session for the person who tapped; the same person tapping again keeps their PIN state."""
    sess = leader_sessions.open_session(ctx, kiosk_id, who.employee_no, who.name, who.role, now)
    ctx.publish("leader_session_started", _session_payload(kiosk_id, sess))


def _session_payload(kiosk_id: str, sess: LeaderSession) -> dict[str, Any]:
    return {"kiosk": kiosk_id, "employee_no": sess.employee_no, "name": sess.name, "role": sess.role,
            "expires_at": _iso(sess.expires_at), "pin_verified": sess.pin_verified}


_PIN_SET = select(_staff.c.pin_hash.is_not(None)).where(_staff.c.employee_no == bindparam("employee_no"))


def require_leader(ctx: ServiceContext, kiosk_id: str, roles: tuple[str, ...] = LEADER_ROLES, *,
                   pin: bool = True) -> LeaderSession:
    """The person identified at this kiosk, refreshed, if their role may do this; else NotPermitted.

    ``pin``: the action needs the session PIN-verified (everything but acknowledging an alert); a badge-only
    session is refused with ``pin_required``, or ``pin_not_set`` when the person has no PIN to enter.
    """
    # Reaching for the PIN pad is use too: the session is refreshed before the PIN is asked for.
    sess = leader_sessions.touch(ctx, kiosk_id, ctx.now(),
                                 "Only a shift leader can do this: tap your leader badge first.", roles)
    if not pin or sess.pin_verified:
        return sess
    with ctx.engine.connect() as conn:
        has_pin = bool(conn.execute(_PIN_SET, {"employee_no": sess.employee_no}).scalar())
    if not has_pin:
        raise NotPermitted("pin_not_set", pin_not_set_message(sess.employee_no))
    raise NotPermitted("pin_required", PIN_REQUIRED)


def pin_not_set_message(employee_no: str) -> str:
    """The refusal for a leader without a PIN: who can fix it, and how."""
    return (f"尚未设置 PIN，请管理员设置 / No PIN is set for {employee_no}: an administrator must set one "
            f"(kiosk staff set-pin {employee_no}).")


def end_leader_session(ctx: ServiceContext, kiosk_id: str) -> None:
    """End the leader's session at this kiosk (the screen's button)."""
    leader_sessions.end(ctx, kiosk_id)
    ctx.publish("leader_session_ended", {"kiosk": kiosk_id})


def expire_leader_sessions(ctx: ServiceContext) -> list[str]:
    """End the sessions idle for ``LEADER_IDLE_SECONDS`` and tell the screens (a timer step)."""
    ended = leader_sessions.expire(ctx)
    for kiosk_id in ended:
        ctx.publish("leader_session_ended", {"kiosk": kiosk_id})
    return ended


def leader_payload(ctx: ServiceContext, kiosk_id: str) -> dict[str, Any] | None:
    """The session at this kiosk as screens see it (who, role, idle deadline, PIN verified), or None."""
    with ctx.engine.connect() as conn:
        sess = leader_sessions.live(conn, kiosk_id, ctx.now())
    return _session_payload(kiosk_id, sess) if sess is not None else None


_KIOSK_FLOOR = object()  # board(): the floor of the kiosk asking (every floor when it shows them all)


def board(ctx: ServiceContext, kiosk_id: str = "kiosk", scope: Any = _KIOSK_FLOOR) -> dict[str, Any]:
    """The full roll call board: sent on every (re)connect so a screen is never stale.

    ``scope`` is the floors whose roster lines it lists (None: every floor); by default the kiosk's floor.
    """
    now = ctx.now()
    policy = ctx.rollcall_policy
    with ctx.engine.connect() as conn:
        if scope is _KIOSK_FLOOR:
            kiosk_floor = floors.kiosk_floor(ctx, conn, kiosk_id)
            scope = None if kiosk_floor is None else (kiosk_floor,)
        occ, is_open = current(ctx, conn)
        rows: list[dict[str, Any]] = []
        closed = None
        question = None
        if occ is not None:
            rcs = {rc.floor_id: rc for rc in conn.execute(select(_rollcalls).where(
                _rollcalls.c.day == occ.day, _rollcalls.c.shift_code == occ.shift.code,
                floors.in_scope(_rollcalls.c.floor_id, scope)))}
            marks = {}
            if rcs:
                for m in conn.execute(select(_att).where(_att.c.rollcall_id.in_([rc.id for rc in rcs.values()]))):
                    marks[m.staff_id] = m
                q = conn.execute(select(_questions, _staff.c.name, _staff.c.employee_no)
                                 .join(_staff, _staff.c.id == _questions.c.staff_id)
                                 .where(_questions.c.rollcall_id.in_([rc.id for rc in rcs.values()]))
                                 .order_by(_questions.c.id.desc())).first()
                if q is not None:
                    question = {"id": q.id, "employee_no": q.employee_no, "name": q.name, "question": q.question,
                                "answered_well": q.answered_well}
            roster = conn.execute(
                select(_staff.c.id, _staff.c.employee_no, _staff.c.name, _roster.c.seat_id, _roster.c.duty,
                       _roster.c.floor_id)
                .join(_staff, _staff.c.id == _roster.c.staff_id)
                .where(_roster.c.day == occ.day, _roster.c.shift_code == occ.shift.code,
                       floors.in_scope(_roster.c.floor_id, scope))
                .order_by(_roster.c.duty.asc(), _roster.c.seat_id, _staff.c.employee_no)).all()
            # Closed when every floor shown here that has a roster (or a roll call) has closed its own.
            shown = {r.floor_id for r in roster} or set(rcs)
            done = [rcs[f] for f in shown if f in rcs and rcs[f].closed_at is not None]
            if shown and len(done) == len(shown):
                last = max(done, key=lambda rc: rc.closed_at)
                closed = {"at": _iso(last.closed_at), "by": last.closed_by}
            for r in roster:
                m = marks.get(r.id)
                floor_closed = r.floor_id in rcs and rcs[r.floor_id].closed_at is not None
                rows.append({"employee_no": r.employee_no, "name": r.name, "seat": r.seat_id, "duty": r.duty,
                             "status": m.status if m else ("absent" if floor_closed else "pending"),
                             "at": _iso(m.at) if m else None, "manual": bool(m.manual) if m else False,
                             "note": m.note if m else None, "leader_late": bool(m.leader_late) if m else False})
        from kiosk.services import sensors  # here: sensors builds on the floor map, which builds on this module

        remote = sensors.remote_readers(conn)
        local_today = now.astimezone(ctx.tz).date()
        notices = [{"id": n.id, "title": n.title, "body": n.body, "has_question": bool(n.question)}
                   for n in conn.execute(select(_notices).where(_notices.c.valid_from <= local_today,
                                                                _notices.c.valid_until >= local_today)
                                         .order_by(_notices.c.id))]
    opens, closes = rules.window(occ, policy) if occ else (None, None)
    counts = {"expected": len(rows)}
    for status in ("present", "late", "absent", "excused", "pending"):
        counts[status] = sum(1 for r in rows if r["status"] == status)
    return {
        "now": _iso(now),
        "timezone": ctx.config["TIMEZONE"],
        "language": ctx.config["LANGUAGE"],
        "shift": None if occ is None else {
            "code": occ.shift.code, "name": occ.shift.name, "day": occ.day.isoformat(),
            "starts_at": _iso(occ.starts_at), "ends_at": _iso(occ.ends_at)},
        "window": None if occ is None else {"opens_at": _iso(opens), "closes_at": _iso(closes), "open": is_open},
        "closed": closed,
        "rows": rows,
        "counts": counts,
        "notices": notices,
        "question": question,
        "leader": leader_payload(ctx, kiosk_id),
        # This process's own readers, and those on other PCs as their last word said (kiosk reader).
        "readers": {**remote, **ctx.reader_health},
        "policy": {"opens_before_minutes": policy.opens_before.total_seconds() / 60,
                   "closes_after_minutes": policy.closes_after.total_seconds() / 60,
                   "leader_early_minutes": policy.leader_early.total_seconds() / 60},
    }


def _open_occurrence(ctx: ServiceContext, conn: Connection) -> ShiftOccurrence:
    occ, is_open = current(ctx, conn)
    if occ is None or not is_open:
        raise ServiceError("rollcall_not_open", "No roll call is open now.")
    return occ


def _open_rollcall(conn: Connection, occ: ShiftOccurrence, floor_id: int) -> Any:
    rc = _rollcall_row(conn, occ, floor_id=floor_id)
    if rc.closed_at is not None:
        raise ServiceError("rollcall_closed", "This roll call is already closed.")
    return rc


def _screen_floor(conn: Connection, kiosk_id: str) -> int | None:
    """The floor a kiosk screen is paired to; None when it shows every floor (or is not a paired screen)."""
    return floors.screen_floor(conn, kiosk_id)[1]


def _action_floor(conn: Connection, kiosk_id: str, occ: ShiftOccurrence, leader: LeaderSession) -> int:
    """Whose roll call a leader at this kiosk runs: the kiosk's floor; at a screen of every floor, the floor the
    leader is rostered on this shift; on a one-floor centre, the floor."""
    floor_id = _screen_floor(conn, kiosk_id)
    if floor_id is not None:
        return floor_id
    own = conn.execute(select(_roster.c.floor_id).join(_staff, _staff.c.id == _roster.c.staff_id).where(
        _staff.c.employee_no == leader.employee_no, _roster.c.day == occ.day,
        _roster.c.shift_code == occ.shift.code)).scalar()
    return own if own is not None else _only_floor(conn, "run roll call")


def _rostered_staff(conn: Connection, occ: ShiftOccurrence, employee_no: str, floor_id: int | None = None) -> Any:
    """A person's roster line for the occurrence (on ``floor_id`` when given); NotFound when there is none."""
    q = (select(_staff.c.id, _staff.c.name, _roster.c.duty, _roster.c.floor_id)
         .join(_roster, _roster.c.staff_id == _staff.c.id)
         .where(_staff.c.employee_no == employee_no, _roster.c.day == occ.day, _roster.c.shift_code == occ.shift.code))
    if floor_id is not None:
        q = q.where(_roster.c.floor_id == floor_id)
    row = conn.execute(q).first()
    if row is None:
        where = " on this floor" if floor_id is not None else ""
        raise NotFound("not_on_roster", f"{employee_no} is not on the roster of shift {occ.shift.code}{where}.")
    return row


def mark_by_hand(ctx: ServiceContext, kiosk_id: str, employee_no: str, status: str, note: str) -> dict[str, Any]:
    """A leader marks someone present (forgotten badge) or excused (leave, sick), with a reason, recorded as manual."""
    leader = require_leader(ctx, kiosk_id)
    note = (note or "").strip()
    if status not in ("present", "excused"):
        raise ServiceError("bad_status", "Mark a person present or excused.")
    if not note:
        raise ServiceError("reason_required", "Give a reason (forgotten badge, leave, sick…).")
    now = ctx.now()
    # The mark is decided from what is read here: no tap may commit in between (store.db.write_transaction).
    with write_transaction(ctx.engine) as conn:
        occ = _open_occurrence(ctx, conn)
        # At a floor's kiosk only that floor's roster; at a screen of every floor, whoever it is, on their floor.
        person = _rostered_staff(conn, occ, employee_no, _screen_floor(conn, kiosk_id))
        rc = _open_rollcall(conn, occ, person.floor_id)
        if status == "present" and now > occ.starts_at:
            status = "late"
        existing = conn.execute(select(_att.c.id, _att.c.status).where(
            _att.c.rollcall_id == rc.id, _att.c.staff_id == person.id)).first()
        if existing is not None and existing.status in ("present", "late"):
            raise ServiceError("already_present", f"{person.name} is already marked {existing.status}.")
        values = dict(status=status, at=now, manual=True, marked_by=leader.employee_no, note=note[:200])
        if existing is None:
            conn.execute(insert(_att).values(rollcall_id=rc.id, staff_id=person.id, **values))
        else:
            conn.execute(update(_att).where(_att.c.id == existing.id).values(**values))
        log_event(conn, at=now, kind="rollcall_marked", actor=leader.employee_no, subject=employee_no,
                  outcome=status, reason=note, rule="§3.4", data={"shift": occ.shift.code, "day": occ.day.isoformat()})
    payload = {"employee_no": employee_no, "name": person.name, "status": status, "manual": True,
               "note": note, "by": leader.employee_no, "at": _iso(now), "floor_id": person.floor_id}
    ctx.publish("attendance_marked", payload)
    return payload


def close_rollcall(ctx: ServiceContext, by: str, occ_key: tuple[date, str] | None = None,
                   floor_id: int | None = None) -> dict[str, Any]:
    """Close one floor's roll call and write its attendance record (§3.4): absentees listed for the leader.

    ``floor_id`` left out is the centre's one floor (a centre with several must say which).
    """
    now = ctx.now()
    # Absentees are those with no mark when this reads: no tap may commit in between (store.db.write_transaction).
    with write_transaction(ctx.engine) as conn:
        if floor_id is None:
            floor_id = _only_floor(conn, "close roll call")
        if occ_key is None:
            occ = _open_occurrence(ctx, conn)
            rc = _open_rollcall(conn, occ, floor_id)
        else:
            shifts = {s.code: s for s in load_shifts(conn)}
            occ = occurrence(shifts[occ_key[1]], occ_key[0], ctx.tz)
            rc = _rollcall_row(conn, occ, floor_id=floor_id)
            if rc.closed_at is not None:
                return {"already": True}
        roster = conn.execute(select(_staff.c.id, _staff.c.employee_no, _staff.c.name, _roster.c.seat_id,
                                     _roster.c.duty).join(_staff, _staff.c.id == _roster.c.staff_id)
                              .where(_roster.c.day == occ.day, _roster.c.shift_code == occ.shift.code,
                                     _roster.c.floor_id == floor_id)).all()
        marks = {m.staff_id: m for m in conn.execute(select(_att).where(_att.c.rollcall_id == rc.id))}
        by_no = {r.employee_no: r for r in roster}
        lines = [rules.RosterLine(r.employee_no, r.name, r.seat_id, r.duty) for r in roster]
        tapped = {r.employee_no: rules.Attendance(marks[r.id].status) for r in roster
                  if r.id in marks and marks[r.id].status in ("present", "late")}
        excused = {r.employee_no: marks[r.id].note or "" for r in roster
                   if r.id in marks and marks[r.id].status == "excused"}
        record = rules.close(lines, tapped, excused)
        absentees = []
        for line in record:
            if line.status is rules.Attendance.ABSENT:
                person = by_no[line.employee_no]
                conn.execute(insert(_att).values(rollcall_id=rc.id, staff_id=person.id, status="absent", at=None))
                absentees.append({"employee_no": person.employee_no, "name": person.name, "seat": person.seat_id})
        result = conn.execute(update(_rollcalls).where(_rollcalls.c.id == rc.id, _rollcalls.c.closed_at.is_(None))
                              .values(closed_at=now, closed_by=by))
        if result.rowcount != 1:
            raise ServiceError("rollcall_closed", "This roll call is already closed.")
        summary = {s.value: sum(1 for l in record if l.status is s) for s in rules.Attendance}
        floor_code = floors.code_of(conn, floor_id)
        log_event(conn, at=now, kind="rollcall_closed", actor=by, subject=f"{occ.day.isoformat()}/{occ.shift.code}",
                  outcome="closed", rule="§3.4", data={"summary": summary, "floor": floor_code,
                                                        "absent": [a["employee_no"] for a in absentees]})
    payload = {"shift": occ.shift.code, "day": occ.day.isoformat(), "by": by, "at": _iso(now),
               "summary": summary, "absentees": absentees, "floor_id": floor_id, "floor": floor_code}
    logger.info("roll call %s/%s closed by %s: %s", occ.day, occ.shift.code, by, summary)
    ctx.publish("rollcall_closed", payload)
    return payload


def close_leader(ctx: ServiceContext, kiosk_id: str) -> dict[str, Any]:
    """The identified leader closes the open roll call of the kiosk's floor."""
    leader = require_leader(ctx, kiosk_id)
    with ctx.engine.connect() as conn:
        floor_id = _action_floor(conn, kiosk_id, _open_occurrence(ctx, conn), leader)
    return close_rollcall(ctx, leader.employee_no, floor_id=floor_id)


# The floors with a roster for one occurrence whose roll call is not closed (or has no row yet): every second.
_UNCLOSED_FLOORS = Prepared(
    select(_roster.c.floor_id).distinct()
    .outerjoin(_rollcalls, and_(_rollcalls.c.day == _roster.c.day, _rollcalls.c.shift_code == _roster.c.shift_code,
                                _rollcalls.c.floor_id == _roster.c.floor_id))
    .where(_roster.c.day == bindparam("day"), _roster.c.shift_code == bindparam("shift"),
           _rollcalls.c.closed_at.is_(None)))


def tick(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Close automatically, floor by floor, every roll call whose window ended in the last day and which has a
    roster on that floor."""
    now = ctx.now()
    policy = ctx.rollcall_policy
    closed = []
    due = []
    with ctx.engine.connect() as conn:
        for occ in occurrences_around(ctx.catalog.read(conn).shifts, now, ctx.tz):
            _opens, closes = rules.window(occ, policy)
            if closes <= now and now - closes < timedelta(days=1):
                due += [(occ.key, row.floor_id) for row in
                        _UNCLOSED_FLOORS.all(conn, {"day": occ.day, "shift": occ.shift.code})]
    for key, floor_id in sorted(due):
        closed.append(close_rollcall(ctx, "auto", key, floor_id=floor_id))
    return closed


def pick_question(ctx: ServiceContext, kiosk_id: str, rng: random.Random | None = None) -> dict[str, Any]:
    """§3.5: pick a present operator at random and show a question from today's notices."""
    leader = require_leader(ctx, kiosk_id)
    rng = rng or random.Random()
    now = ctx.now()
    today = now.astimezone(ctx.tz).date()
    with ctx.engine.begin() as conn:
        occ = _open_occurrence(ctx, conn)
        rc = _open_rollcall(conn, occ, _action_floor(conn, kiosk_id, occ, leader))
        present = conn.execute(select(_staff.c.id, _staff.c.employee_no, _staff.c.name)
                               .join(_att, _att.c.staff_id == _staff.c.id)
                               .join(_roster, and_(_roster.c.staff_id == _staff.c.id, _roster.c.day == occ.day,
                                                   _roster.c.shift_code == occ.shift.code))
                               .where(_att.c.rollcall_id == rc.id, _att.c.status.in_(("present", "late")),
                                      _roster.c.duty == "operator")).all()
        chosen_no = rules.pick_for_question([p.employee_no for p in present], rng)
        if chosen_no is None:
            raise ServiceError("nobody_present", "Nobody is present yet to ask.")
        notices = conn.execute(select(_notices).where(_notices.c.valid_from <= today, _notices.c.valid_until >= today,
                                                      _notices.c.question.is_not(None))).all()
        if not notices:
            raise ServiceError("no_question", "None of today's notices has a question attached.")
        notice = rng.choice(notices)
        person = next(p for p in present if p.employee_no == chosen_no)
        qid = conn.execute(insert(_questions).values(rollcall_id=rc.id, staff_id=person.id, notice_id=notice.id,
                                                     question=notice.question, asked_by=leader.employee_no,
                                                     asked_at=now)).inserted_primary_key[0]
        log_event(conn, at=now, kind="daily_question_asked", actor=leader.employee_no, subject=chosen_no,
                  rule="§3.5", data={"notice": notice.id})
    payload = {"id": qid, "employee_no": chosen_no, "name": person.name, "question": notice.question,
               "answered_well": None, "floor_id": rc.floor_id}
    ctx.publish("question_asked", payload)
    return payload


def record_answer(ctx: ServiceContext, kiosk_id: str, question_id: int, answered_well: bool) -> dict[str, Any]:
    """§3.5: the leader records whether the question was answered well."""
    leader = require_leader(ctx, kiosk_id)
    now = ctx.now()
    with ctx.engine.begin() as conn:
        q = conn.execute(select(_questions, _staff.c.employee_no, _staff.c.name, _rollcalls.c.floor_id)
                         .join(_staff, _staff.c.id == _questions.c.staff_id)
                         .join(_rollcalls, _rollcalls.c.id == _questions.c.rollcall_id)
                         .where(_questions.c.id == question_id)).first()
        if q is None:
            raise NotFound("no_such_question", f"Question {question_id} does not exist.")
        conn.execute(update(_questions).where(_questions.c.id == question_id).values(answered_well=bool(answered_well)))
        log_event(conn, at=now, kind="daily_question_answered", actor=leader.employee_no, subject=q.employee_no,
                  outcome="well" if answered_well else "not_well", rule="§3.5")
    payload = {"id": question_id, "employee_no": q.employee_no, "name": q.name, "question": q.question,
               "answered_well": bool(answered_well), "floor_id": q.floor_id}
    ctx.publish("question_answered", payload)
    return payload
