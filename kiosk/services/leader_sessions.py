"""Leader sessions at the kiosks: who is identified at which kiosk, until when, with or without the PIN.

A leader's (or supervisor's, security officer's) badge tap at a kiosk opens a badge-only session for that
kiosk (``kiosk.services.rollcall``); the PIN typed on the kiosk's screen verifies it (``kiosk.services.pins``).
It ends after ``LEADER_IDLE_SECONDS`` without use, on the screen's button, after too many wrong PINs, or when
the next person taps. A session is a row (``leader_sessions``, migration 0014), not a process's memory: in a
centre the tap can reach one server process (a kiosk PC's reader posts to any of them) and the screen's PIN
another (its websocket lives on one), and both must see the same session. Every change is a short write
transaction that reads the row first (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from kiosk.services.context import LeaderSession, ServiceContext
from kiosk.services.errors import NotPermitted
from kiosk.store.db import write_transaction
from kiosk.store.lean import Prepared
from kiosk.store.models import LeaderSessionRow

_t = LeaderSessionRow.__table__
_ONE = select(_t).where(_t.c.kiosk_id == bindparam("kiosk_id"))
_ONE_FOR_UPDATE = _ONE.with_for_update()
_IDLE_PAST = select(_t.c.kiosk_id).where(_t.c.expires_at <= bindparam("now"))
_IDLE_PAST_LEAN = Prepared(_IDLE_PAST)  # looked at every second


def _session(row: Any) -> LeaderSession:
    return LeaderSession(row.employee_no, row.name, row.role, row.expires_at, pin_verified=bool(row.pin_verified),
                         pin_failures=int(row.pin_failures), started_at=row.started_at)


def live(conn: Connection, kiosk_id: str, now: datetime, *, lock: bool = False) -> LeaderSession | None:
    """The session at this kiosk, or None (there is none, or it was idle past its end).

    ``lock``: in a write transaction about to change it, so PostgreSQL holds the row until the commit.
    """
    row = conn.execute(_ONE_FOR_UPDATE if lock else _ONE, {"kiosk_id": kiosk_id}).first()
    if row is None or row.expires_at <= now:
        return None
    return _session(row)


def same(a: LeaderSession | None, b: LeaderSession | None) -> bool:
    """Whether two reads saw the same session (not one that ended and a new one since)."""
    return a is not None and b is not None and (a.employee_no, a.started_at) == (b.employee_no, b.started_at)


def save(conn: Connection, kiosk_id: str, sess: LeaderSession) -> None:
    """Write back a session's idle deadline and PIN state, in the caller's write transaction."""
    conn.execute(update(_t).where(_t.c.kiosk_id == kiosk_id).values(
        expires_at=sess.expires_at, pin_verified=sess.pin_verified, pin_failures=sess.pin_failures))


def touch(ctx: ServiceContext, kiosk_id: str, now: datetime, missing: str,
          roles: tuple[str, ...] | None = None) -> LeaderSession:
    """The session at this kiosk, its idle deadline moved on (using the kiosk is use), in one short write.

    NotPermitted ``leader_required`` (``missing`` says what to do) when there is none; ``role_not_allowed``
    when ``roles`` are given and the session's role is not among them, and then nothing is refreshed.
    """
    with write_transaction(ctx.engine) as conn:
        sess = live(conn, kiosk_id, now, lock=True)
        if sess is None:
            raise NotPermitted("leader_required", missing)
        if roles is not None and sess.role not in roles:
            raise NotPermitted("role_not_allowed", f"A {sess.role} cannot do this; it needs: {', '.join(roles)}.")
        sess.expires_at = now + ctx.leader_idle
        save(conn, kiosk_id, sess)
    return sess


def remove(conn: Connection, kiosk_id: str) -> None:
    """End the session at this kiosk, in the caller's write transaction."""
    conn.execute(delete(_t).where(_t.c.kiosk_id == kiosk_id))


def open_session(ctx: ServiceContext, kiosk_id: str, employee_no: str, name: str, role: str,
                 now: datetime) -> LeaderSession:
    """A badge-only session for the person who tapped, replacing whoever was identified at this kiosk.

    The same person tapping again keeps the session: neither its wrong-PIN count nor a verified PIN is reset.
    """
    for attempt in (1, 2):
        try:
            with write_transaction(ctx.engine) as conn:
                old = live(conn, kiosk_id, now, lock=True)
                sess = LeaderSession(employee_no, name, role, now + ctx.leader_idle, started_at=now)
                if old is not None and old.employee_no == employee_no:
                    sess.pin_verified, sess.pin_failures = old.pin_verified, old.pin_failures
                    sess.started_at = old.started_at
                remove(conn, kiosk_id)
                conn.execute(insert(_t).values(
                    kiosk_id=kiosk_id, employee_no=employee_no, name=name, role=role, started_at=sess.started_at,
                    expires_at=sess.expires_at, pin_verified=sess.pin_verified, pin_failures=sess.pin_failures))
            return sess
        except IntegrityError:
            # PostgreSQL: another process opened a session at this kiosk between our read and our insert.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def end(ctx: ServiceContext, kiosk_id: str) -> None:
    """End the session at this kiosk (the screen's button, or idle)."""
    with write_transaction(ctx.engine) as conn:
        remove(conn, kiosk_id)


def expire(ctx: ServiceContext) -> list[str]:
    """End every session idle past its end; return their kiosks (a read, and a write only when one ended)."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        if not _IDLE_PAST_LEAN.first(conn, {"now": now}):
            return []
    with write_transaction(ctx.engine) as conn:
        ended = list(conn.execute(_IDLE_PAST.with_for_update(), {"now": now}).scalars())
        if ended:
            conn.execute(delete(_t).where(_t.c.kiosk_id.in_(ended)))
    return ended
