"""What every service needs: config, database, clock, policy and a way to publish to screens."""

from __future__ import annotations

import functools
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kiosk.domain.rollcall import RollCallPolicy
from kiosk.services.catalog import CatalogCache

logger = logging.getLogger(__name__)

Publisher = Callable[[str, dict[str, Any]], None]
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The real time, aware UTC. Services read the clock only through ``ServiceContext.now``."""
    return datetime.now(timezone.utc)


def _no_publish(name: str, payload: dict[str, Any]) -> None:
    logger.debug("no publisher: %s dropped", name)


@dataclass
class LeaderSession:
    """A leader identified by badge at one kiosk; actions beyond a tap need it. Ends after idle time.

    A badge alone ("badge only") acknowledges alerts; anything else needs the session PIN-verified too
    (``kiosk.services.pins``). ``pin_failures`` counts wrong PINs in this session. Stored as a row, so
    every server process sees it: ``kiosk.services.leader_sessions``.
    """

    employee_no: str
    name: str
    role: str
    expires_at: datetime
    pin_verified: bool = False
    pin_failures: int = 0
    started_at: datetime | None = None


RUSH_PAUSE = 0.05  # s between two looks for a lull while taps keep coming


class Priority:
    """Work people wait for (a badge tap, a door event) goes first; housekeeping steps aside.

    Foreground work runs inside :meth:`foreground`. Background work calls, between small steps,
    :meth:`step_aside` (wait while foreground work runs: the timer round) or :meth:`wait_for_lull` (wait
    until none has run for a moment: sealing the log, which can wait). Background and foreground threads
    share one interpreter lock: a tap that met a sealing round took turns with it and arrived late.
    """

    def __init__(self) -> None:
        self._busy = 0
        self._guard = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._last_end = float("-inf")  # monotonic time the last foreground work ended

    @contextmanager
    def foreground(self) -> Iterator[None]:
        """Mark latency-critical work for its duration."""
        with self._guard:
            self._busy += 1
            self._idle.clear()
        try:
            yield
        finally:
            with self._guard:
                self._busy -= 1
                if not self._busy:
                    self._last_end = time.monotonic()
                    self._idle.set()

    def step_aside(self, max_wait: float = 0.05) -> bool:
        """Let running foreground work finish first (waiting at most ``max_wait`` s); False if it still runs."""
        return self._idle.is_set() or self._idle.wait(max_wait)

    def wait_for_lull(self, until: float, quiet: float = 0.005) -> bool:
        """Wait until no foreground work has run for ``quiet`` s, or until monotonic time ``until``.

        True as soon as it is quiet, even with ``until`` already past. False when ``until`` came first: the
        caller then goes on anyway (after :meth:`step_aside`), so a steady stream of taps delays background
        work by a bounded time but never starves it.
        """
        # It sleeps rather than waiting for each tap to end, and through a rush in longer steps: every
        # wake-up takes the interpreter lock, if only for microseconds, from the tap that holds it.
        while True:
            now = time.monotonic()
            if self._idle.is_set():
                calm = now - self._last_end
                if calm >= quiet:
                    return True
                pause = quiet - calm
            else:
                pause = max(quiet, RUSH_PAUSE)
            if now >= until:
                return False
            time.sleep(min(pause, until - now))


@dataclass
class ServiceContext:
    """Shared by the web layer, the CLI and device threads of one process."""

    config: dict[str, Any]
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = system_clock
    publish: Publisher = _no_publish
    reader_health: dict[str, dict[str, str]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    priority: Priority = field(default_factory=Priority)
    catalog: CatalogCache = field(default_factory=CatalogCache)

    @property
    def tz(self) -> ZoneInfo:
        """The floor's local time zone."""
        return ZoneInfo(self.config["TIMEZONE"])

    @property
    def rollcall_policy(self) -> RollCallPolicy:
        """Roll call windows from config."""
        cfg = self.config
        return _policy(cfg["ROLLCALL_OPENS_MINUTES"], cfg["ROLLCALL_CLOSES_MINUTES"], cfg["LEADER_EARLY_MINUTES"])

    @property
    def leader_idle(self) -> timedelta:
        """A leader's badge session at a kiosk ends after this long without use."""
        return timedelta(seconds=float(self.config.get("LEADER_IDLE_SECONDS", 60)))

    def now(self) -> datetime:
        """The current instant, aware UTC, from the injected clock."""
        return self.clock()


@functools.lru_cache(maxsize=8)
def _policy(opens: Any, closes: Any, early: Any) -> RollCallPolicy:
    # Every badge tap asks for the policy: the same three settings give the same (frozen) policy.
    return RollCallPolicy(opens_before=timedelta(minutes=float(opens)), closes_after=timedelta(minutes=float(closes)),
                          leader_early=timedelta(minutes=float(early)))
