"""Exactly one process runs the floor's timers (held open, escalation, roll call close, sealing).

Several ``kiosk serve`` processes may serve the screens; the timers must run once. The lease is
held by whichever process took it first and is released by the operating system or the database
the moment that process dies, so another takes over on its next tick (within a second or two):

* PostgreSQL: a session-level advisory lock on a dedicated connection;
* SQLite (one machine): an exclusive ``flock`` on a file in the instance folder.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

logger = logging.getLogger(__name__)

LOCK_KEY = 0x6B696F736B  # "kiosk": the advisory lock id of the timer lease


class TimerLease:
    """Try to become (or stay) the process that runs the timers."""

    def __init__(self, engine: Engine, instance_path: str) -> None:
        self.engine = engine
        self.instance_path = instance_path
        self._conn: Any = None
        self._fd: int | None = None
        self.held = False

    def try_acquire(self) -> bool:
        """True if this process holds the lease (now or already); never blocks."""
        if self.held and self._still_held():
            return True
        self.held = False
        try:
            self.held = self._acquire()
        except Exception as exc:  # the database may be down; try again next tick
            logger.warning("timer lease: cannot take it now: %s", exc)
            self._release_quietly()
            self.held = False
        if self.held:
            logger.info("this process (pid %s) now runs the floor timers", os.getpid())
        return self.held

    def _acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            if self._conn is None:
                self._conn = self.engine.connect()
            got = self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            self._conn.commit()
            return bool(got)
        path = Path(self.instance_path) / "timers.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        if self._fd is None:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return True

    def _still_held(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return self._fd is not None  # a flock lasts as long as the descriptor
        try:
            self._conn.execute(text("SELECT 1")).scalar()
            self._conn.commit()
            return True
        except Exception:
            logger.warning("timer lease: lost the database connection that held it")
            self._release_quietly()
            return False

    def _release_quietly(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def release(self) -> None:
        """Give the lease up (at shutdown)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._conn is not None and self.held:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                self._conn.commit()
            except Exception:
                pass
        self._release_quietly()
        self.held = False
