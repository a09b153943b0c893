"""A simulated badge reader for demos and tests: taps and health are driven from code.

A simulated tap goes through the same ``ReaderCore`` as a real reader's (normalisation,
repeat filter, handlers), so whatever listens cannot tell the difference. One difference
is deliberate: ``tap()`` calls the handlers on the caller's thread and returns what it
delivered, so a test or a demo script needs no waiting.
"""

from __future__ import annotations

import time
from typing import Callable

from kiosk.devices.base import BadgeRead, CoreBackedReader, ReaderCore, ReaderHealth
from kiosk.domain.badges import normalize_uid

CONNECTED_MESSAGE = "simulated reader"
UNPLUGGED_MESSAGE = "simulated reader unplugged"


class SimulatedReader(CoreBackedReader):
    """A reader whose badge taps and plug state come from ``tap()``, ``unplug()`` and ``replug()``."""

    def __init__(self, *, reader_id: str = "kiosk", debounce: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(reader_id=reader_id, debounce=debounce, clock=clock,
                         health=ReaderHealth.CONNECTED, message=CONNECTED_MESSAGE)

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
