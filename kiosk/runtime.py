"""What a running kiosk process does beside serving pages: the badge reader and the timers.

Started by ``kiosk serve`` / ``kiosk demo`` (in the server's worker process), never by ``create_app``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask

from kiosk.devices.base import BadgeRead, ReaderHealth
from kiosk.services import alerts, doors, floor, rollcall, sensors, taps, visitors
from kiosk.services.entrylog import EntryLogTimer
from kiosk.services.errors import ServiceError
from kiosk.web import services

logger = logging.getLogger(__name__)


def door_readers(cfg: dict[str, Any]) -> dict[str, str]:
    """``DOOR_READERS`` ("door-main=usb:054c:06c3,door-back=tty:USB0:pn532") as reader id -> device."""
    out: dict[str, str] = {}
    for part in str(cfg.get("DOOR_READERS") or "").split(","):
        if part.strip():
            reader_id, sep, spec = part.partition("=")
            if not sep or not reader_id.strip() or not spec.strip():
                raise ValueError(f"DOOR_READERS entry {part!r} is not reader-id=device")
            out[reader_id.strip()] = spec.strip()
    return out


class Runtime:
    """Owns the reader and the timer thread of one server process."""

    def __init__(self, app: Flask, reader_id: str = "kiosk", tick_seconds: float = 1.0) -> None:
        self.app = app
        self.ctx = services(app)
        self.reader_id = reader_id
        self.tick_seconds = tick_seconds
        self.reader: Any = None
        self.readers: dict[str, Any] = {}
        self.sensors: Any = None
        self.demo_floor: Any = None
        from kiosk.devices.notifiers import from_config

        self.notifiers = from_config(app.config, self.ctx.publish)
        from kiosk.services.leadership import TimerLease

        self.lease = TimerLease(self.ctx.engine, app.config["INSTANCE_PATH"])
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._sealer: threading.Thread | None = None
        self.tick_started: float | None = None  # monotonic, while a tick runs: the watchdog sees a stuck one
        self.entry_log = EntryLogTimer(self.ctx)

    def start(self) -> None:
        """Open the configured reader and start the timers."""
        from kiosk.devices.registry import open_reader

        cfg = self.app.config
        debounce = float(cfg["NFC_DEBOUNCE_SECONDS"])
        self.reader = open_reader(cfg["NFC_DEVICE"], reader_id=self.reader_id, debounce=debounce)
        self.readers = {self.reader_id: self.reader}
        for reader_id, spec in door_readers(cfg).items():
            self.readers[reader_id] = open_reader(spec, reader_id=reader_id, debounce=debounce)
        self.app.extensions["kiosk.reader"] = self.reader
        self.app.extensions["kiosk.readers"] = self.readers
        for reader_id, reader in self.readers.items():
            self.ctx.reader_health[reader_id] = {"state": reader.health.value, "message": ""}
            reader.start(self._on_tap, self._health_handler(reader_id))
        if cfg.get("DEMO_SENSORS_URL"):
            from pathlib import Path

            from kiosk.devices.sensor_sim import DemoSensors

            self.sensors = DemoSensors(Path(cfg["INSTANCE_PATH"]), cfg["DEMO_SENSORS_URL"])
            self.sensors.start()
            self.app.extensions["kiosk.demo_sensors"] = self.sensors
        if cfg.get("DEMO_CALL_PLATFORM"):
            # The demo's simulated call platform and seats (kiosk demo only): kiosk.services.floor_demo.
            from kiosk.services.floor_demo import DemoFloor

            self.demo_floor = DemoFloor(self.ctx, time_scale=float(cfg["DEMO_CALL_PLATFORM"]))
            self.demo_floor.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="kiosk-timers", daemon=True)
        self._ticker.start()
        self._sealer = threading.Thread(target=self._seal_loop, name="entry-log", daemon=True)
        self._sealer.start()
        logger.info("reader %s (%s) and timers started", self.reader_id, cfg["NFC_DEVICE"])

    def stop(self) -> None:
        """Stop the timers and release the reader."""
        self._stop.set()
        for reader in self.readers.values():
            reader.stop()
        if self.sensors is not None:
            self.sensors.stop()
        if self.demo_floor is not None:
            self.demo_floor.stop()
        for thread in (self._ticker, self._sealer):
            if thread is not None:
                thread.join(timeout=5)
        self.lease.release()

    def _on_tap(self, read: BadgeRead) -> None:
        try:
            taps.handle(self.ctx, read.uid, read.reader_id, at=read.at)
        except ServiceError as exc:
            logger.error("tap at %s not recorded: %s", read.reader_id, exc.message)
        except Exception:  # a reader thread must survive any one bad tap
            logger.exception("tap at %s failed", read.reader_id)
            self.ctx.publish("tap_failed", {"ok": False, "error": "internal_error", "reader_id": read.reader_id,
                                            "message": "The tap was not recorded. Please tap again."})

    def _health_handler(self, reader_id: str) -> Any:
        def on_health(state: ReaderHealth, message: str) -> None:
            self.ctx.reader_health[reader_id] = {"state": state.value, "message": message}
            logger.log(logging.INFO if state is ReaderHealth.CONNECTED else logging.WARNING,
                       "reader %s is %s: %s", reader_id, state.value, message)
            self.ctx.publish("reader_health_changed", {"reader_id": reader_id, "state": state.value,
                                                       "message": message})
        return on_health

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.tick_started = time.monotonic()
            try:
                self.tick()
            except Exception:
                logger.exception("timer tick failed; will try again")
            finally:
                self.tick_started = None

    def _seal_loop(self) -> None:
        # Sealing, checkpoints and the daily purge, on their own thread: the door and alert timers never
        # wait for a seal that is waiting for a lull between taps.
        while not self._stop.wait(self.tick_seconds):
            if not self.lease.held:
                continue  # the timer thread takes and keeps the lease; the process holding it seals
            try:
                self.entry_log.tick()
            except Exception:
                logger.exception("sealing the entry log failed; will try again")

    def timers_alive(self) -> bool:
        """True while the timer thread and the entry log's thread run."""
        return all(t is not None and t.is_alive() for t in (self._ticker, self._sealer))

    def tick(self) -> None:
        """One round: the floor's timers, if this process holds the lease."""
        if self.lease.try_acquire():
            self.floor_timers()

    def floor_timers(self) -> None:
        """Close roll calls at window end, idle leader sessions, door, floor and visitor timers, escalation
        (sealing: ``_seal_loop``).

        Between the steps, a badge tap or door event being handled goes first (``ServiceContext.priority``).
        """
        step_aside = self.ctx.priority.step_aside
        for step in (lambda: rollcall.tick(self.ctx), lambda: rollcall.expire_leader_sessions(self.ctx),
                     lambda: sensors.check_silent(self.ctx),
                     lambda: doors.tick(self.ctx), lambda: floor.tick(self.ctx), lambda: visitors.tick(self.ctx),
                     lambda: alerts.escalate(self.ctx, self.notifiers)):
            step_aside()
            step()
