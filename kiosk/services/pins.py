"""Leaders' kiosk PINs: set and cleared by an administrator, entered at the kiosk after a badge tap.

A badge tap by a leader (or anyone above) opens a *badge-only* session at that kiosk: enough to
acknowledge an alert. Everything else (roll call, visitor cards, the sign-out register) needs the session
PIN-verified (``rollcall.require_leader(..., pin=True)``). The PIN is hashed like a desk password (scrypt
with a per-PIN random salt, parameters stored with the hash, compared in constant time; see
``kiosk.services.users``); it is never stored, logged or published. Every PIN entered, right or wrong,
and every PIN set or cleared goes to the event log. The ``LEADER_PIN_MAX_FAILURES``-th wrong PIN in one
session ends the session and raises an alert (``leader_pin_locked_out``): a lost badge in the wrong hands
shows up on every screen and goes up the escalation ladder like any alert. The
``LEADER_PIN_MAX_LOCKOUTS``-th such lock-out of one person within 24 hours (counted from the event log,
so every server process sees the same count, and only since their PIN was last set) blocks the PIN until
an administrator sets a new one.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, select, update

from kiosk.domain import pins as rules
from kiosk.services import leader_sessions, rollcall
from kiosk.services.context import LeaderSession, ServiceContext
from kiosk.services.doors import alert_payload
from kiosk.services.errors import NotFound, NotPermitted, ServiceError
from kiosk.services.users import check_password, hash_password, needs_rehash
from kiosk.store.db import write_transaction
from kiosk.store.eventlog import log_event
from kiosk.store.models import Alert, Event, Staff

logger = logging.getLogger(__name__)

_staff, _alerts, _events = Staff.__table__, Alert.__table__, Event.__table__
LOCKOUT_WINDOW = timedelta(hours=24)
RULE = "§2.4"
LOCKED_OUT_KIND = "leader_pin_locked_out"

_STORED = select(_staff.c.pin_hash).where(_staff.c.employee_no == bindparam("employee_no"))


def policy(ctx: ServiceContext) -> rules.PinPolicy:
    """The wrong-PIN allowance from config."""
    return rules.PinPolicy(max_failures=int(ctx.config.get("LEADER_PIN_MAX_FAILURES", 5)),
                           max_lockouts=int(ctx.config.get("LEADER_PIN_MAX_LOCKOUTS", 3)))


def recent_lockouts(conn: Any, employee_no: str, now: datetime) -> int:
    """Sessions of this person ended on wrong PINs in the last 24 hours, after their PIN was last set."""
    last_set = conn.execute(select(func.max(_events.c.id)).where(
        _events.c.kind == "staff_pin_set", _events.c.subject == employee_no)).scalar()
    query = select(func.count()).select_from(_events).where(
        _events.c.kind == LOCKED_OUT_KIND, _events.c.subject == employee_no, _events.c.at >= now - LOCKOUT_WINDOW)
    if last_set is not None:
        query = query.where(_events.c.id > last_set)  # log order: the same second can hold both
    return int(conn.execute(query).scalar_one())


def blocked_message(employee_no: str) -> str:
    """What the screen says when a PIN is blocked."""
    return ("PIN 多次输错已被锁定，请管理员重新设置 / This PIN is blocked after repeated wrong entries: "
            f"an administrator must set a new one (kiosk staff set-pin {employee_no}).")


# --- set by an administrator --------------------------------------------------------------------------------

def _person(conn: Any, employee_no: str) -> Any:
    row = conn.execute(select(_staff.c.name, _staff.c.role, _staff.c.active, _staff.c.pin_hash)
                       .where(_staff.c.employee_no == employee_no)).first()
    if row is None:
        raise NotFound("unknown_staff", f"No member of staff has employee number {employee_no}.")
    return row


def set_pin(ctx: ServiceContext, employee_no: str, pin: str, actor: str = "cli") -> dict[str, Any]:
    """Give a member of staff a new kiosk PIN; refused if malformed, trivially weak, or the person has left."""
    problem = rules.new_pin_problem(pin, employee_no)
    if problem:
        raise ServiceError("weak_pin", problem[0].upper() + problem[1:] + ".")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        person = _person(conn, employee_no)
        if not person.active:
            raise ServiceError("staff_left", f"{person.name} ({employee_no}) has left: no PIN for them.")
        conn.execute(update(_staff).where(_staff.c.employee_no == employee_no).values(pin_hash=hash_password(pin)))
        outcome = "changed" if person.pin_hash else "set"
        log_event(conn, at=now, kind="staff_pin_set", actor=actor, subject=employee_no, outcome=outcome, rule=RULE,
                  data={"role": person.role})
    logger.info("kiosk PIN of %s %s by %s", employee_no, outcome, actor)
    return {"employee_no": employee_no, "name": person.name, "role": person.role, "outcome": outcome}


def clear_pin(ctx: ServiceContext, employee_no: str, actor: str = "cli") -> dict[str, Any]:
    """Remove a member of staff's kiosk PIN: at the kiosk they can then only acknowledge alerts."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        person = _person(conn, employee_no)
        conn.execute(update(_staff).where(_staff.c.employee_no == employee_no).values(pin_hash=None))
        outcome = "cleared" if person.pin_hash else "none_set"
        log_event(conn, at=now, kind="staff_pin_cleared", actor=actor, subject=employee_no, outcome=outcome,
                  rule=RULE)
    logger.info("kiosk PIN of %s cleared by %s (%s)", employee_no, actor, outcome)
    return {"employee_no": employee_no, "name": person.name, "outcome": outcome}


# --- entered at the kiosk -----------------------------------------------------------------------------------

def _live_session(ctx: ServiceContext, kiosk_id: str) -> LeaderSession:
    """The session at this kiosk, its idle time refreshed (typing a PIN is use)."""
    return leader_sessions.touch(ctx, kiosk_id, ctx.now(), "Tap your leader badge first, then enter your PIN.")


def _refused(ctx: ServiceContext, kiosk_id: str, employee_no: str, outcome: str, reason: str,
             data: dict[str, Any] | None = None) -> None:
    with ctx.engine.begin() as conn:
        log_event(conn, at=ctx.now(), kind="leader_pin_refused", actor=f"kiosk:{kiosk_id}", subject=employee_no,
                  outcome=outcome, reason=reason, rule=RULE, data=data)


def verify(ctx: ServiceContext, kiosk_id: str, pin: str) -> dict[str, Any]:
    """The leader identified by badge at this kiosk enters their PIN; the right one verifies the session.

    A wrong PIN answers ``pin_wrong`` with the tries ``remaining``; the last allowed one ends the session
    (``pin_locked``) and raises an alert. A PIN that is not 4 to 6 digits is refused without counting.
    """
    pin = str(pin or "")
    sess = _live_session(ctx, kiosk_id)
    if sess.pin_verified:
        return {"pin_verified": True}
    employee_no = sess.employee_no
    problem = rules.format_problem(pin)
    if problem:
        _refused(ctx, kiosk_id, employee_no, "malformed", problem)
        raise ServiceError("pin_format", "PIN 为 4 至 6 位数字 / A PIN is 4 to 6 digits.")
    with ctx.engine.connect() as conn:
        stored = conn.execute(_STORED, {"employee_no": employee_no}).scalar()
        lockouts = recent_lockouts(conn, employee_no, ctx.now()) if stored is not None else 0
    if stored is None:
        _refused(ctx, kiosk_id, employee_no, "not_set", "no PIN set")
        raise NotPermitted("pin_not_set", rollcall.pin_not_set_message(employee_no))
    if rules.pin_blocked(lockouts, policy(ctx)):
        # Not even checked: a blocked PIN gives no yes/no answer to whoever is trying PINs.
        _refused(ctx, kiosk_id, employee_no, "blocked", f"PIN blocked after {lockouts} lock-outs in 24 hours")
        raise NotPermitted("pin_blocked", blocked_message(employee_no))
    right = check_password(pin, stored)  # scrypt, then a constant-time comparison; outside the lock (≈0.1 s)
    now = ctx.now()
    with write_transaction(ctx.engine) as conn:
        # Read again: another screen's PIN, the idle end or the next person's tap may have changed it meanwhile.
        current = leader_sessions.live(conn, kiosk_id, now, lock=True)
        if not leader_sessions.same(current, sess):
            raise NotPermitted("leader_required", "The session ended meanwhile: tap your leader badge again.")
        assert current is not None
        if right:
            current.pin_verified, current.pin_failures = True, 0
            wrong = None
        else:
            wrong = rules.after_wrong_pin(current.pin_failures, policy(ctx))
            current.pin_failures = wrong.failures
        if wrong is not None and wrong.ends_session:
            leader_sessions.remove(conn, kiosk_id)
        else:
            leader_sessions.save(conn, kiosk_id, current)
        name = current.name
    if wrong is None:
        with ctx.engine.begin() as conn:
            log_event(conn, at=now, kind="leader_pin_verified", actor=employee_no, subject=f"kiosk:{kiosk_id}",
                      outcome="ok", rule=RULE)
            if needs_rehash(stored):
                conn.execute(update(_staff).where(_staff.c.employee_no == employee_no)
                             .values(pin_hash=hash_password(pin)))
        logger.info("leader %s verified their PIN at %s", employee_no, kiosk_id)
        payload = rollcall.leader_payload(ctx, kiosk_id)
        if payload:
            ctx.publish("leader_pin_verified", payload)  # the floor map of this kiosk id, too
        return {"pin_verified": True}
    if not wrong.ends_session:
        _refused(ctx, kiosk_id, employee_no, "wrong", f"wrong PIN, {wrong.remaining} tries left",
                 {"failures": wrong.failures, "remaining": wrong.remaining})
        logger.warning("wrong PIN for %s at %s (%s left)", employee_no, kiosk_id, wrong.remaining)
        raise ServiceError("pin_wrong", f"PIN 不正确 / Wrong PIN: {wrong.remaining} tries left.",
                           remaining=wrong.remaining)
    _locked_out(ctx, kiosk_id, employee_no, name, wrong.failures)
    raise NotPermitted("pin_locked", "PIN 错误次数过多，已退出 / Too many wrong PINs: the session has ended. "
                                     "Tap your badge again.", remaining=0)


def _locked_out(ctx: ServiceContext, kiosk_id: str, employee_no: str, name: str, failures: int) -> None:
    """The session has ended on too many wrong PINs: log it, raise an alert, tell the screens."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        blocked = rules.pin_blocked(recent_lockouts(conn, employee_no, now) + 1, policy(ctx))
    message = (f"{failures} wrong PINs in a row at kiosk {kiosk_id} with the badge of {name} ({employee_no}): "
               "session ended. Check who has the badge.")
    if blocked:
        message += " The PIN is now blocked until an administrator sets a new one."
    alert = {"kind": LOCKED_OUT_KIND, "condition": "", "severity": "warning", "rule": RULE, "door_id": None,
             "subject": f"{name} ({employee_no})"[:100], "message": message, "raised_at": now, "level": 0,
             "data": json.dumps({"kiosk": kiosk_id, "employee_no": employee_no, "failures": failures})}
    with ctx.engine.begin() as conn:
        log_event(conn, at=now, kind="leader_pin_locked_out", actor=f"kiosk:{kiosk_id}", subject=employee_no,
                  outcome="pin_blocked" if blocked else "session_ended", reason=message, rule=RULE,
                  data={"failures": failures})
        alert_id = conn.execute(insert(_alerts).values(**alert)).inserted_primary_key[0]
        log_event(conn, at=now, kind="alert_raised", actor=f"kiosk:{kiosk_id}", subject=str(alert_id),
                  outcome=LOCKED_OUT_KIND, reason=message, rule=RULE)
    logger.warning("leader session at %s ended: %s wrong PINs for %s", kiosk_id, failures, employee_no)
    ctx.publish("leader_session_ended", {"kiosk": kiosk_id, "reason": "pin_locked"})
    ctx.publish("alert_raised", alert_payload({**alert, "id": alert_id}))
