"""A simulated badge reader for demos and tests: taps and health are driven from code.

A simulated tap goes through the same ``ReaderCore`` as a real reader's (normalisation,
repeat filter, handlers), so whatever listens cannot tell the difference. One difference
is deliberate: ``tap()`` calls the handlers on the caller's thread and returns what it
delivered, so a test or a demo script needs no waiting.
"""

from __future__ import annotations

import time
from typing import Callable

from kiosk.devices.base import BadgeRead, HealthHandler, ReaderCore, ReaderHealth, TapHandler
from kiosk.domain.badges import normalize_uid

CONNECTED_MESSAGE = "simulated reader"
UNPLUGGED_MESSAGE = "simulated reader unplugged"


class SimulatedReader:
    """A reader whose badge taps and plug state come from ``tap()``, ``unplug()`` and ``replug()``."""

    def __init__(self, *, reader_id: str = "kiosk", debounce: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reader_id = reader_id
        self._core = ReaderCore(reader_id, debounce, clock=clock,
                                health=ReaderHealth.CONNECTED, message=CONNECTED_MESSAGE)

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

    def tap(self, uid: str | bytes, *, now: float | None = None) -> BadgeRead | None:
        """Present a badge; return the read handed on, or None if dropped (repeat, unplugged, not started).

        Raises ``InvalidBadgeUid`` for a UID no reader could produce.
        """
        normal = normalize_uid(uid)
        if self._core.health is not ReaderHealth.CONNECTED:
            return None  # an unplugged or failing reader reads nothing
        return self._core.deliver(normal, now)

    def unplug(self, message: str = UNPLUGGED_MESSAGE) -> None:
        """Behave as a reader pulled from its socket: health DISCONNECTED, taps ignored."""
        self._core.set_health(ReaderHealth.DISCONNECTED, message)

    def fail(self, message: str = "simulated reader failure") -> None:
        """Behave as a reader that is present but failing: health ERROR, taps ignored."""
        self._core.set_health(ReaderHealth.ERROR, message)

    def replug(self, message: str = CONNECTED_MESSAGE) -> None:
        """Behave as a reader plugged back in: health CONNECTED, taps read again."""
        self._core.set_health(ReaderHealth.CONNECTED, message)
