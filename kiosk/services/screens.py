"""Paired kiosk screens: an admin pairs a screen once; only paired screens (and desk logins) get Socket.IO.

``pair`` makes a one-time code (valid ``CODE_VALID``); the screen's browser opens ``/pair?code=...`` and
``redeem`` swaps the code for a long-lived random token, kept in the browser's cookie. Only SHA-256 hashes of
the code and the token are stored, so a reader of the database cannot impersonate a screen. Re-pairing a name
replaces its token (the old browser is refused); ``revoke`` refuses it at once. Pair and revoke are logged.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from kiosk.domain import floors as floors_rules
from kiosk.services import floors
from kiosk.services.context import ServiceContext
from kiosk.services.errors import NotFound, NotPermitted, ServiceError
from kiosk.store.eventlog import log_event
from kiosk.store.models import Screen, Staff

logger = logging.getLogger(__name__)

_screens, _staff = Screen.__table__, Staff.__table__
COOKIE = "kiosk_screen"
CODE_VALID = timedelta(minutes=10)
PAIR_ROLES = ("admin",)
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# The last-seen time is written at most this often per screen, not on every reconnect.
SEEN_EVERY = timedelta(minutes=5)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_KEEP = object()  # pair(): the screen keeps the floor it has (or, new, gets the only floor)


def pair(ctx: ServiceContext, name: str, by: str, *, require_admin: bool = True, floor: Any = _KEEP) -> str:
    """Make a one-time pairing code for screen ``name`` (an admin's act); returns the code.

    ``floor`` is the floor's code (the screen shows that floor) or ``"all"`` (every floor). Left out, a screen
    paired before keeps its floor and a new one gets the only floor; on a centre with several floors a new
    screen must be told. ``require_admin=False`` is for set-up tooling (tests, benchmarks) on an instance
    without an admin.
    """
    if not NAME_RE.match(name):
        raise ServiceError("bad_name", "A screen name is 1–64 letters, digits, '.', '_' or '-' (it is the kiosk id).")
    now = ctx.now()
    code = secrets.token_urlsafe(9)  # 12 characters: short enough to type, valid 10 minutes, used once
    with ctx.engine.begin() as conn:
        admin = conn.execute(select(_staff.c.role, _staff.c.active).where(_staff.c.employee_no == by)).first()
        if require_admin and admin is None:
            raise NotFound("unknown_staff", f"No staff member {by}.")
        if require_admin and (admin.role not in PAIR_ROLES or not admin.active):
            raise NotPermitted("not_admin", f"Only an admin may pair a screen; {by} is a {admin.role}.")
        values: dict[str, Any] = {"code_hash": _sha(code), "code_expires_at": now + CODE_VALID, "paired_by": by}
        row = conn.execute(select(_screens.c.id).where(_screens.c.name == name)).first()
        if floor is not _KEEP or row is None:
            values["floor_id"] = floors.choose(conn, None if floor is _KEEP else floor, f"screen {name}")
        if row is None:
            conn.execute(insert(_screens).values(name=name, **values))
        else:
            conn.execute(update(_screens).where(_screens.c.id == row.id).values(**values))
        floor_id = values["floor_id"] if "floor_id" in values else conn.execute(
            select(_screens.c.floor_id).where(_screens.c.name == name)).scalar()
        log_event(conn, at=now, kind="screen_pairing_started", actor=by, subject=name, outcome="code_issued",
                  data={"expires_at": (now + CODE_VALID).isoformat(),
                        "floor": floors.code_of(conn, floor_id) or floors_rules.ALL})
    logger.info("pairing code issued for screen %s by %s", name, by)
    return code


def redeem(ctx: ServiceContext, code: str, remote: str = "") -> tuple[str, str]:
    """Swap a pairing code (once, before it expires) for the screen's token: (name, token)."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = conn.execute(select(_screens).where(_screens.c.code_hash == _sha(code or ""))).first()
        if row is None or row.code_expires_at is None or row.code_expires_at <= now:
            log_event(conn, at=now, kind="screen_pairing_refused", actor=f"screen:{remote}",
                      subject=row.name if row else "", outcome="expired" if row else "unknown_code")
            raise NotPermitted("bad_pairing_code", "This pairing link is unknown, used or expired (it is valid "
                               "10 minutes, once): ask an admin for a new one (kiosk screen pair).")
        token = secrets.token_urlsafe(32)
        conn.execute(update(_screens).where(_screens.c.id == row.id).values(
            token_hash=_sha(token), code_hash=None, code_expires_at=None, paired_at=now, revoked_at=None,
            last_seen_at=now))
        log_event(conn, at=now, kind="screen_paired", actor=row.paired_by, subject=row.name, outcome="paired",
                  data={"remote": remote})
    logger.info("screen %s paired", row.name)
    return row.name, token


def pair_now(ctx: ServiceContext, name: str, by: str = "setup", floor: Any = _KEEP) -> str:
    """Pair in one step, without the admin check (tests, benchmarks): the screen's token."""
    return redeem(ctx, pair(ctx, name, by, require_admin=False, floor=floor))[1]


def screen_for(ctx: ServiceContext, token: str | None) -> str | None:
    """The name of the paired, unrevoked screen holding ``token``, or None."""
    found = screen_of(ctx, token)
    return found[0] if found else None


def screen_of(ctx: ServiceContext, token: str | None) -> tuple[str, int | None] | None:
    """(name, floor id) of the paired, unrevoked screen holding ``token`` (floor None: every floor), or None."""
    if not token:
        return None
    now = ctx.now()
    with ctx.engine.connect() as conn:
        row = conn.execute(select(_screens.c.id, _screens.c.name, _screens.c.last_seen_at, _screens.c.floor_id)
                           .where(_screens.c.token_hash == _sha(token), _screens.c.revoked_at.is_(None))).first()
    if row is None:
        return None
    if row.last_seen_at is None or now - row.last_seen_at >= SEEN_EVERY:
        with ctx.engine.begin() as conn:
            conn.execute(update(_screens).where(_screens.c.id == row.id).values(last_seen_at=now))
    return str(row.name), row.floor_id


def revoke(ctx: ServiceContext, name: str, by: str = "cli") -> None:
    """Refuse the screen from now on (it must be paired again)."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        done = conn.execute(update(_screens).where(_screens.c.name == name).values(
            revoked_at=now, token_hash=None, code_hash=None, code_expires_at=None)).rowcount
        if not done:
            raise NotFound("unknown_screen", f"No screen called {name}.")
        log_event(conn, at=now, kind="screen_revoked", actor=by, subject=name, outcome="revoked")
    logger.info("screen %s revoked by %s", name, by)


def list_screens(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Every screen with its state: paired, pending (code issued) or revoked."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(_screens).order_by(_screens.c.name)).all()
        floor_codes = {f.id: f.code for f in floors.list_floors(conn)}

    def state(r: Any) -> str:
        if r.revoked_at is not None:
            return "revoked"
        if r.token_hash:
            return "paired"
        return "pending" if r.code_expires_at and r.code_expires_at > now else "unpaired"

    return [{"name": r.name, "state": state(r), "paired_at": _iso(r.paired_at), "paired_by": r.paired_by,
             "revoked_at": _iso(r.revoked_at), "last_seen_at": _iso(r.last_seen_at),
             "floor": floor_codes.get(r.floor_id, floors_rules.ALL) if r.floor_id is not None else floors_rules.ALL}
            for r in rows]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
