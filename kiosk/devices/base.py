"""The badge reader port: what the kiosk needs from any reader, whatever drives it."""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterator, Protocol

from kiosk.domain.badges import masked_uid

logger = logging.getLogger(__name__)


class ReaderHealth(str, enum.Enum):
    """Reader health is a first-class state the kiosk shows."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # unplugged or not found; being retried
    ERROR = "error"  # present but failing


@dataclass(frozen=True)
class BadgeRead:
    """One badge seen by a reader, UID already normalised."""

    uid: str
    reader_id: str
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    monotonic: float = field(default_factory=time.monotonic)


TapHandler = Callable[[BadgeRead], None]
HealthHandler = Callable[[ReaderHealth, str], None]


def backoff_delays(initial: float, cap: float) -> Iterator[float]:
    """Yield the waits between a device's reopen attempts: ``initial``, doubling, then ``cap`` for ever."""
    delay = initial
    while True:
        yield min(delay, cap)
        delay = min(delay * 2, cap)


class BadgeReader(Protocol):
    """A reader delivers taps and health changes to callbacks from its own thread."""

    reader_id: str

    def start(self, on_tap: TapHandler, on_health: HealthHandler) -> None:
        """Begin reading in the background; callbacks run on the reader's thread."""

    def stop(self) -> None:
        """Stop reading and release the device; safe to call twice."""

    @property
    def health(self) -> ReaderHealth:
        """The current health."""


class RepeatFilter:
    """A badge held on the reader counts once: the same UID again within ``window`` seconds is dropped.

    Time is passed in (monotonic seconds) so the rule is testable without sleeping.
    """

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def accept(self, uid: str, now: float) -> bool:
        """True if this read is a new tap, False if it repeats one within the window."""
        with self._lock:
            last = self._last.get(uid)
            self._last[uid] = now
            if len(self._last) > 1024:  # keep it small on a busy floor
                cutoff = now - self.window
                self._last = {k: v for k, v in self._last.items() if v >= cutoff}
            return last is None or now - last >= self.window


class ReaderCore:
    """What every adapter shares: the callbacks, the repeat filter, and health that reports each change.

    An adapter owns one core and feeds it normalised UIDs; the core decides whether a read
    is a new tap, builds the ``BadgeRead`` and calls the handlers. Handler exceptions are
    logged, never raised into the adapter, so a faulty handler cannot kill a reader thread.
    """

    def __init__(self, reader_id: str, debounce: float, *,
                 health: ReaderHealth = ReaderHealth.DISCONNECTED,
                 message: str = "not started",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reader_id = reader_id
        self.repeats = RepeatFilter(debounce)
        self.clock = clock
        self._health = health
        self._message = message
        self._on_tap: TapHandler | None = None
        self._on_health: HealthHandler | None = None
        # Re-entrant so a health handler may read or even set health without deadlock;
        # held while notifying so handlers see changes in the order they happened.
        self._lock = threading.RLock()

    @property
    def health(self) -> ReaderHealth:
        """The current health."""
        return self._health

    @property
    def message(self) -> str:
        """The human message that goes with the current health."""
        return self._message

    @property
    def attached(self) -> bool:
        """True between ``attach`` and ``detach``."""
        return self._on_tap is not None

    def attach(self, on_tap: TapHandler, on_health: HealthHandler) -> None:
        """Subscribe the handlers and tell the health handler the current health at once."""
        with self._lock:
            self._on_tap, self._on_health = on_tap, on_health
            self._notify_health()

    def detach(self) -> None:
        """Unsubscribe the handlers; later taps and health changes are not reported."""
        with self._lock:
            self._on_tap = self._on_health = None

    def set_health(self, health: ReaderHealth, message: str) -> None:
        """Record the health; the handler hears of it only if state or message changed."""
        with self._lock:
            if (health, message) == (self._health, self._message):
                return
            self._health, self._message = health, message
            logger.debug("reader %s: %s (%s)", self.reader_id, health.value, message)
            self._notify_health()

    def deliver(self, uid: str, now: float | None = None) -> BadgeRead | None:
        """Offer one normalised UID; return the ``BadgeRead`` handed on, or None if dropped."""
        on_tap = self._on_tap
        if on_tap is None:
            logger.debug("reader %s not started; read of %s ignored", self.reader_id, masked_uid(uid))
            return None
        now = self.clock() if now is None else now
        if not self.repeats.accept(uid, now):
            logger.debug("reader %s: %s again within %.1f s, dropped",
                         self.reader_id, masked_uid(uid), self.repeats.window)
            return None
        read = BadgeRead(uid=uid, reader_id=self.reader_id, monotonic=now)
        try:
            on_tap(read)
        except Exception:
            logger.exception("tap handler failed for badge %s on reader %s", masked_uid(uid), self.reader_id)
        # Logged once the tap is handed on (and, at a kiosk, on the screen): writing the line first kept the
        # person at the glass waiting for the log file.
        logger.info("reader %s: badge %s", self.reader_id, masked_uid(uid))
        return read

    def _notify_health(self) -> None:
        on_health = self._on_health
        if on_health is None:
            return
        try:
            on_health(self._health, self._message)
        except Exception:
            logger.exception("health handler failed on reader %s", self.reader_id)


class CoreBackedReader:
    """A reader driven from code (simulated, keyboard wedge): a ReaderCore and the port's plumbing."""

    def __init__(self, *, reader_id: str, debounce: float, clock: Callable[[], float],
                 health: ReaderHealth, message: str) -> None:
        self.reader_id = reader_id
        self._core = ReaderCore(reader_id, debounce, clock=clock, health=health, message=message)

    @property
    def health(self) -> ReaderHealth:
        """The current health."""
        return self._core.health

    @property
    def health_message(self) -> str:
        """The human message that goes with the current health."""
        return self._core.message

    def start(self, on_tap: TapHandler, on_health: HealthHandler) -> None:
        """Subscribe the handlers; the health handler hears the current health at once."""
        self._core.attach(on_tap, on_health)

    def stop(self) -> None:
        """Unsubscribe the handlers; safe to call twice."""
        self._core.detach()
