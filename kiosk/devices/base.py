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


class DeviceReader(CoreBackedReader):
    """A reader whose device is read on a thread of its own: opened, read until it fails or is stopped, and
    reopened with back-off, until ``stop()``. The thread never dies of an exception while the reader runs.

    A subclass opens and reads the device in :meth:`_session` and says what it is in ``what`` (for the
    health messages) and ``thread_prefix`` (the thread's name).
    """

    what = "reader"
    thread_prefix = "reader"

    def __init__(self, path: str, *, reader_id: str, debounce: float, backoff_initial: float, backoff_cap: float,
                 stop_timeout: float, clock: Callable[[], float]) -> None:
        if backoff_initial <= 0 or backoff_cap < backoff_initial:
            raise ValueError("backoff needs 0 < backoff_initial <= backoff_cap")
        super().__init__(reader_id=reader_id, debounce=debounce, clock=clock, health=ReaderHealth.DISCONNECTED,
                         message=f"connecting to {self.what} at {path}")
        self.path = path
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self.stop_timeout = stop_timeout
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, on_tap: TapHandler, on_health: HealthHandler) -> None:
        """Start the reader thread; callbacks run on it."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"reader {self.reader_id} is already running")
        self._stop.clear()
        self._core.set_health(ReaderHealth.DISCONNECTED, f"connecting to {self.what} at {self.path}")
        self._core.attach(on_tap, on_health)
        self._thread = threading.Thread(target=self._run, name=f"{self.thread_prefix}-{self.reader_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop reading, close the device and join the thread; safe to call twice."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.stop_timeout)
            if thread.is_alive():
                # Closing the device under a thread still inside its driver (libusb) is worse than leaving it;
                # the thread is kept so start() refuses to open the device a second time.
                logger.warning("reader %s did not stop within %.1f s; leaving its thread behind",
                               self.reader_id, self.stop_timeout)
            else:
                self._thread = None
        self._core.detach()
        self._core.set_health(ReaderHealth.DISCONNECTED, "reader stopped")

    def _run(self) -> None:
        """Open, read, and on failure reopen with back-off, until stopped."""
        try:
            delays = backoff_delays(self.backoff_initial, self.backoff_cap)
            while not self._stop.is_set():
                opened_at = self._session()
                if self._stop.is_set():
                    break
                if opened_at is not None and self._clock() - opened_at >= self.backoff_cap:
                    # It ran well for a while: a fresh failure starts again from quick retries.
                    delays = backoff_delays(self.backoff_initial, self.backoff_cap)
                delay = next(delays)
                logger.debug("reader %s: next attempt in %.1f s", self.reader_id, delay)
                if self._stop.wait(delay):
                    break
        except Exception:  # a bug here must show as health, not as a silently dead thread
            logger.exception("reader %s thread failed", self.reader_id)
            self._core.set_health(ReaderHealth.ERROR, f"{self.what} at {self.path} stopped after an internal error")

    def _session(self) -> float | None:
        """Open the device and read it until stop or failure (setting health); return when it opened, or None."""
        raise NotImplementedError
