"""Desk logins (§2.4): accounts, scrypt password hashes, lockout, server-side sessions; every refusal logged.

A desk user is a username and a password linked to a member of staff; the role is that person's role,
read at every request, so a change of role or a departure takes effect at once and a person who has
left cannot log in. Passwords are hashed with scrypt (``hashlib.scrypt``: memory-hard, per-user random
salt, parameters stored with the hash so they can be raised later; a hash with weaker parameters is
replaced at the next successful login). A session is a random token in the browser's cookie and only
its SHA-256 in ``desk_sessions``, so a reader of the database cannot take over a session, and logging
out or running idle ends the session on the server, not only in the browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from kiosk.domain import logins
from kiosk.domain.permissions import ROLE_PERMISSIONS
from kiosk.services.context import ServiceContext
from kiosk.services.errors import NotFound, ServiceError
from kiosk.store.eventlog import log_event
from kiosk.store.models import DeskSession, Staff, User

logger = logging.getLogger(__name__)

_users, _sessions, _staff = User.__table__, DeskSession.__table__, Staff.__table__

# scrypt: N=2^15, r=8, p=1 is 32 MiB and about 0.1 s per check here; stronger than the 2^14 floor.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
_SALT_BYTES, _KEY_BYTES = 16, 32
_MAXMEM = 256 * 1024 * 1024  # above 128·N·r for any parameters we accept
MIN_PASSWORD = 10
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
RULE = "§2.4"


# --- passwords ---------------------------------------------------------------------------------------------

def hash_password(password: str, *, n: int | None = None, r: int | None = None, p: int | None = None) -> str:
    """``scrypt$n=..,r=..,p=..$salt$key`` with a fresh random salt (base64 without padding)."""
    n, r, p = n or SCRYPT_N, r or SCRYPT_R, p or SCRYPT_P
    salt = secrets.token_bytes(_SALT_BYTES)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_KEY_BYTES)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _params(stored: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, params, salt, key = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown password scheme {scheme!r}")
    values = dict(item.split("=", 1) for item in params.split(","))
    return int(values["n"]), int(values["r"]), int(values["p"]), _unb64(salt), _unb64(key)


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; compared in constant time; a damaged hash never matches."""
    try:
        n, r, p, salt, key = _params(stored)
        if n > 2 ** 20 or r > 32 or p > 16:  # a forged row must not make the server allocate gigabytes
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=len(key))
    except (ValueError, KeyError, TypeError):
        return False
    return hmac.compare_digest(got, key)


def needs_rehash(stored: str) -> bool:
    """True when a hash was made with weaker parameters than today's."""
    try:
        n, r, p, _salt, _key = _params(stored)
    except (ValueError, KeyError):
        return True
    return n < SCRYPT_N or r < SCRYPT_R or p < SCRYPT_P


# Checked against when the username is unknown, so the answer takes as long as for a real account.
_DUMMY_HASH = hash_password(secrets.token_hex(8))


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if password.strip() != password:
        return "the password must not start or end with a space"
    return None


# --- accounts ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeskUser:
    """A logged-in desk user as a request sees them: who, their role now, and the session."""

    user_id: int
    username: str
    employee_no: str
    name: str
    role: str
    session_id: str  # the stored SHA-256 of the cookie token

    def can(self, permission: str) -> bool:
        """True when the user's current role has ``permission``."""
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())


def add_user(ctx: ServiceContext, username: str, employee_no: str, password: str, actor: str = "cli") -> int:
    """Create a desk login for a member of staff; refused for an unknown, departed or already linked person."""
    if not USERNAME_RE.match(username):
        raise ServiceError("bad_username", "A username is 2 to 64 letters, digits or . _ @ -.")
    problem = password_problem(password)
    if problem:
        raise ServiceError("weak_password", problem[0].upper() + problem[1:] + ".")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        person = conn.execute(select(_staff.c.name, _staff.c.role, _staff.c.active)
                              .where(_staff.c.employee_no == employee_no)).first()
        if person is None:
            raise ServiceError("unknown_staff", f"No member of staff has employee number {employee_no}.")
        if not person.active:
            raise ServiceError("staff_left", f"{person.name} ({employee_no}) has left: no login for them.")
        if conn.execute(select(_users.c.id).where(_users.c.username == username)).first():
            raise ServiceError("username_taken", f"The username {username!r} is taken.")
        user_id = conn.execute(insert(_users).values(
            username=username, password_hash=hash_password(password), employee_no=employee_no, failed_count=0,
            locked_until=None, created_at=now, updated_at=now)).inserted_primary_key[0]
        log_event(conn, at=now, kind="user_added", actor=actor, subject=username, outcome=person.role, rule=RULE,
                  data={"employee_no": employee_no})
    return int(user_id)


def _user_row(conn: Connection, username: str) -> Any:
    row = conn.execute(select(_users).where(_users.c.username == username)).first()
    if row is None:
        raise NotFound("unknown_user", f"There is no desk login {username!r}.")
    return row


def set_password(ctx: ServiceContext, username: str, password: str, actor: str = "cli") -> None:
    """Replace a user's password; ends their open sessions and clears the failure count and any lock."""
    problem = password_problem(password)
    if problem:
        raise ServiceError("weak_password", problem[0].upper() + problem[1:] + ".")
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = _user_row(conn, username)
        conn.execute(update(_users).where(_users.c.id == row.id).values(
            password_hash=hash_password(password), failed_count=0, locked_until=None, updated_at=now))
        _end_sessions(conn, row.id, now, "replaced")
        log_event(conn, at=now, kind="user_password_set", actor=actor, subject=username, outcome="ok", rule=RULE)


def lock_user(ctx: ServiceContext, username: str, until: datetime | None = None, actor: str = "cli") -> datetime:
    """Lock a login (by default for a hundred years: until unlocked) and end its sessions."""
    now = ctx.now()
    until = until or now + timedelta(days=36500)
    with ctx.engine.begin() as conn:
        row = _user_row(conn, username)
        conn.execute(update(_users).where(_users.c.id == row.id).values(locked_until=until, updated_at=now))
        _end_sessions(conn, row.id, now, "locked")
        log_event(conn, at=now, kind="user_locked", actor=actor, subject=username, outcome="locked", rule=RULE,
                  data={"until": until.isoformat()})
    return until


def unlock_user(ctx: ServiceContext, username: str, actor: str = "cli") -> None:
    """Lift a lock (manual or after wrong passwords) and clear the failure count."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        row = _user_row(conn, username)
        conn.execute(update(_users).where(_users.c.id == row.id).values(locked_until=None, failed_count=0,
                                                                        updated_at=now))
        log_event(conn, at=now, kind="user_unlocked", actor=actor, subject=username, outcome="unlocked", rule=RULE)


def list_users(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Every desk login with its person, role now and lock state."""
    now = ctx.now()
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(_users, _staff.c.name, _staff.c.role, _staff.c.active)
                            .join(_staff, _staff.c.employee_no == _users.c.employee_no, isouter=True)
                            .order_by(_users.c.username)).all()
    return [{"username": r.username, "employee_no": r.employee_no, "name": r.name, "role": r.role,
             "active": bool(r.active), "locked": bool(r.locked_until and r.locked_until > now),
             "locked_until": r.locked_until, "last_login_at": r.last_login_at} for r in rows]


# --- logging in --------------------------------------------------------------------------------------------

class LoginRefused(ServiceError):
    """A login attempt that did not open a session; the message is safe to show."""

    status = 401


def _refuse(ctx: ServiceContext, conn: Connection, code: str, message: str, username: str, remote: str,
            **data: Any) -> LoginRefused:
    log_event(conn, at=ctx.now(), kind="login_refused", actor=f"desk:{remote}"[:64], subject=username[:64],
              outcome=code, reason=message, rule=RULE, data=data)
    logger.warning("desk login refused for %r from %s: %s", username[:64], remote, code)
    return LoginRefused(code, message)


# One message for an unknown username and a wrong password: the form must not tell which usernames exist.
BAD_CREDENTIALS = "Wrong username or password."


def authenticate(ctx: ServiceContext, username: str, password: str, remote: str,
                 policy: logins.LoginPolicy) -> tuple[DeskUser, str]:
    """Check a password and open a session; return the user and the token for the cookie, or raise LoginRefused.

    Refused (and logged): an unknown user or a wrong password (counted; the ``max_failures``-th locks the
    login for ``lock_for``), a locked login (even with the right password), a person who has left.
    """
    now = ctx.now()
    refusal: LoginRefused | None = None
    with ctx.engine.begin() as conn:
        row = conn.execute(select(_users, _staff.c.name, _staff.c.role, _staff.c.active)
                           .join(_staff, _staff.c.employee_no == _users.c.employee_no, isouter=True)
                           .where(_users.c.username == username)).first()
        if row is None:
            check_password(password, _DUMMY_HASH)  # as slow as a real check
            refusal = _refuse(ctx, conn, "bad_credentials", BAD_CREDENTIALS, username, remote, known=False)
        else:
            failures = logins.Failures(row.failed_count, row.locked_until)
            if logins.is_locked(failures, now):
                refusal = _refuse(ctx, conn, "locked",
                                  "This login is locked after repeated wrong passwords (or by an admin). Try again "
                                  "later or ask an admin to unlock it.", username, remote,
                                  until=row.locked_until.isoformat() if row.locked_until else None)
            elif not check_password(password, row.password_hash):
                after = logins.after_failure(failures, now, policy)
                conn.execute(update(_users).where(_users.c.id == row.id).values(
                    failed_count=after.count, locked_until=after.locked_until, updated_at=now))
                if after.locked_until is not None and not logins.is_locked(failures, now):
                    refusal = _refuse(ctx, conn, "locked_now",
                                      f"Wrong password, {policy.max_failures} times: this login is locked for "
                                      f"{int(policy.lock_for.total_seconds() // 60)} minutes.", username, remote,
                                      until=after.locked_until.isoformat())
                else:
                    refusal = _refuse(ctx, conn, "bad_credentials", BAD_CREDENTIALS, username, remote, known=True,
                                      failures=after.count)
            elif row.role is None or not row.active:
                refusal = _refuse(ctx, conn, "staff_left",
                                  "This login belongs to someone who has left (or is no longer on the staff list): "
                                  "it cannot be used.", username, remote, employee_no=row.employee_no)
        if refusal is None:
            token = secrets.token_urlsafe(32)
            sid = session_id(token)
            values: dict[str, Any] = {"failed_count": 0, "locked_until": None, "last_login_at": now, "updated_at": now}
            if needs_rehash(row.password_hash):
                values["password_hash"] = hash_password(password)
            conn.execute(update(_users).where(_users.c.id == row.id).values(**values))
            conn.execute(insert(_sessions).values(id=sid, user_id=row.id, created_at=now, last_seen_at=now))
            log_event(conn, at=now, kind="login_succeeded", actor=row.employee_no, subject=username, outcome=row.role,
                      rule=RULE, data={"remote": remote})
            user = DeskUser(row.id, row.username, row.employee_no, row.name, row.role, sid)
    if refusal is not None:
        raise refusal
    logger.info("desk login: %s (%s)", username, user.role)
    return user, token


def session_id(token: str) -> str:
    """What ``desk_sessions`` stores for a cookie token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionEnded(ServiceError):
    """The cookie's session is over (idle, logged out, locked, person left); the message says which."""

    status = 401


def resume(ctx: ServiceContext, token: str, policy: logins.LoginPolicy, remote: str) -> DeskUser:
    """The user of a cookie token, touching the session; raise SessionEnded (logged once) when it is over."""
    now = ctx.now()
    sid = session_id(token)
    ended: SessionEnded | None = None
    with ctx.engine.begin() as conn:
        row = conn.execute(select(_sessions, _users.c.username, _users.c.employee_no, _users.c.locked_until,
                                  _staff.c.name, _staff.c.role, _staff.c.active)
                           .join(_users, _users.c.id == _sessions.c.user_id)
                           .join(_staff, _staff.c.employee_no == _users.c.employee_no, isouter=True)
                           .where(_sessions.c.id == sid)).first()
        if row is None:
            raise SessionEnded("no_session", "Please log in.")
        if row.ended_at is not None:
            raise SessionEnded("session_ended", ended_message(row.ended_why or "", policy), why=row.ended_why or "")
        why = None
        if logins.session_idle(row.last_seen_at, now, policy):
            why = "idle"
        elif row.role is None or not row.active:
            why = "left"
        elif row.locked_until is not None and row.locked_until > now and _manually_locked(row.locked_until, now):
            why = "locked"
        if why is not None:
            conn.execute(update(_sessions).where(_sessions.c.id == sid).values(ended_at=now, ended_why=why))
            message = ended_message(why, policy)
            log_event(conn, at=now, kind="session_expired", actor=row.employee_no, subject=row.username,
                      outcome=why, rule=RULE, reason=message,
                      data={"remote": remote, "last_seen": row.last_seen_at.isoformat()})
            ended = SessionEnded("session_expired", message, why=why)
        else:
            conn.execute(update(_sessions).where(_sessions.c.id == sid).values(last_seen_at=now))
    if ended is not None:
        raise ended
    return DeskUser(row.user_id, row.username, row.employee_no, row.name, row.role, sid)


_ENDED = {
    "idle": "Your session expired after {} minutes without use. Please log in again.",
    "left": "Your login belongs to someone no longer on the staff list. The session has ended.",
    "locked": "Your login was locked by an admin. The session has ended.",
    "logout": "You have logged out.",
    "replaced": "Your password was changed. Please log in with the new one.",
}


def _manually_locked(locked_until: datetime, now: datetime) -> bool:
    """A lock an admin set (``lock_user``) ends sessions; a lockout after wrong guesses does not: the guesser
    must not be able to throw the real user out."""
    return locked_until - now > timedelta(days=1)


def ended_message(why: str, policy: logins.LoginPolicy) -> str:
    """Why a session is over, in words (the idle one with the configured minutes)."""
    text = _ENDED.get(why, "Your session has ended. Please log in again.")
    return text.format(int(policy.idle_timeout.total_seconds() // 60)) if why == "idle" else text


def logout(ctx: ServiceContext, user: DeskUser, remote: str) -> None:
    """End the session on the server and log it."""
    now = ctx.now()
    with ctx.engine.begin() as conn:
        conn.execute(update(_sessions).where(_sessions.c.id == user.session_id, _sessions.c.ended_at.is_(None))
                     .values(ended_at=now, ended_why="logout"))
        log_event(conn, at=now, kind="logout", actor=user.employee_no, subject=user.username, outcome="ok",
                  rule=RULE, data={"remote": remote})


def _end_sessions(conn: Connection, user_id: int, now: datetime, why: str) -> None:
    conn.execute(update(_sessions).where(_sessions.c.user_id == user_id, _sessions.c.ended_at.is_(None))
                 .values(ended_at=now, ended_why=why))
