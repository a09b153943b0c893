"""What a reader hands the kiosk (taps, health changes), kept with a condition to wait on: for the reader tests."""

from __future__ import annotations

import threading
import time
from typing import Callable

import pytest

from kiosk.devices.base import BadgeRead, ReaderHealth


class ReaderEvents:
    """The kiosk's side of a reader: ``on_tap`` and ``on_health`` record, ``wait`` waits for a condition."""

    def __init__(self, deadline: float = 10.0) -> None:
        self.deadline = deadline
        self.taps: list[BadgeRead] = []
        self.health: list[tuple[ReaderHealth, str]] = []
        self._changed = threading.Condition()

    def on_tap(self, read: BadgeRead) -> None:
        with self._changed:
            self.taps.append(read)
            self._changed.notify_all()

    def on_health(self, state: ReaderHealth, message: str) -> None:
        with self._changed:
            self.health.append((state, message))
            self._changed.notify_all()

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        """Wait until ``predicate()`` holds; woken by taps and health, and re-checked often for the rest."""
        deadline = time.monotonic() + (self.deadline if timeout is None else timeout)
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"timed out waiting for {what}; taps {self.uids()}, health so far: {self.health}")
                self._changed.wait(min(remaining, 0.01))

    def states(self) -> list[ReaderHealth]:
        return [state for state, _ in self.health]

    def state(self) -> ReaderHealth | None:
        """The latest health, or None before the first."""
        return self.health[-1][0] if self.health else None

    def uids(self) -> list[str]:
        return [t.uid for t in self.taps]
