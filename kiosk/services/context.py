"""What every service needs: config, database, clock, policy and a way to publish to screens."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kiosk.domain.rollcall import RollCallPolicy

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
    (``kiosk.services.pins``). ``pin_failures`` counts wrong PINs in this session.
    """

    employee_no: str
    name: str
    role: str
    expires_at: datetime
    pin_verified: bool = False
    pin_failures: int = 0


@dataclass
class ServiceContext:
    """Shared by the web layer, the CLI and device threads of one process."""

    config: dict[str, Any]
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = system_clock
    publish: Publisher = _no_publish
    reader_health: dict[str, dict[str, str]] = field(default_factory=dict)
    leader_sessions: dict[str, LeaderSession] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def tz(self) -> ZoneInfo:
        """The floor's local time zone."""
        return ZoneInfo(self.config["TIMEZONE"])

    @property
    def rollcall_policy(self) -> RollCallPolicy:
        """Roll call windows from config."""
        return RollCallPolicy(
            opens_before=timedelta(minutes=float(self.config["ROLLCALL_OPENS_MINUTES"])),
            closes_after=timedelta(minutes=float(self.config["ROLLCALL_CLOSES_MINUTES"])),
            leader_early=timedelta(minutes=float(self.config["LEADER_EARLY_MINUTES"])),
        )

    @property
    def leader_idle(self) -> timedelta:
        """A leader's badge session at a kiosk ends after this long without use."""
        return timedelta(seconds=float(self.config.get("LEADER_IDLE_SECONDS", 60)))

    def now(self) -> datetime:
        """The current instant, aware UTC, from the injected clock."""
        return self.clock()
