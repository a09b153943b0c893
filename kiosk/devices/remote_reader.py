"""``kiosk reader --server URL``: a badge reader on a kiosk PC whose server runs elsewhere.

Taps go first into a durable outbox (the sensor gateway's: SQLite, WAL, synchronous=FULL), then to
the server's gateway endpoint as signed ``badge_tap`` events, in order, each stored once there. A
reader that is away from its server for hours loses nothing; ``kill -9`` loses nothing written.
"""

from __future__ import annotations

import logging
import threading
from datetime import timezone
from typing import Any

from floor_sensors.forwarder import Forwarder, utc_iso
from floor_sensors.outbox import Outbox
from floor_sensors.sdnotify import Notifier
from kiosk.devices.base import BadgeRead, ReaderHealth

logger = logging.getLogger(__name__)


class RemoteReader:
    """Reads badges locally and forwards each tap to the server."""

    def __init__(self, reader: Any, *, reader_id: str, server: str, secret: bytes, outbox_path: str) -> None:
        self.reader = reader
        self.reader_id = reader_id
        self.outbox = Outbox(outbox_path, reader_id)
        self.health: dict[str, Any] = {"state": ReaderHealth.DISCONNECTED.value, "message": "starting"}
        self.forwarder = Forwarder(self.outbox, gateway_id=reader_id, server=server, secret=secret,
                                   health=lambda: {"readers": {reader_id: dict(self.health)}}, health_interval=5.0)

    def on_tap(self, read: BadgeRead) -> None:
        """Write the tap to the outbox first; the forwarder sends it."""
        self.outbox.append([{"type": "badge_tap", "uid": read.uid, "reader": self.reader_id,
                             "at": utc_iso(read.at.astimezone(timezone.utc))}])

    def on_health(self, state: ReaderHealth, message: str) -> None:
        """Keep the health the forwarder reports with every batch."""
        self.health = {"state": state.value, "message": message}
        self.forwarder.health_changed()  # its screen shows it now, not at the next health interval
        logger.log(logging.INFO if state is ReaderHealth.CONNECTED else logging.WARNING,
                   "reader %s is %s: %s", self.reader_id, state.value, message)

    def status_line(self) -> str:
        """One line for ``systemctl status``: the reader, the outbox, the server."""
        server = "server unreachable" if self.forwarder.failing else "server reachable"
        return (f"reader {self.reader_id} {self.health['state']}; {len(self.outbox)} taps waiting in the outbox; "
                f"{server}")

    def run(self, stop: threading.Event, notifier: Notifier | None = None) -> None:
        """Read and forward until ``stop`` is set; under systemd, say when ready and pet the watchdog.

        The watchdog is pinged while the forwarder runs. A reader unplugged or a server away is no
        reason to restart (the reader reconnects, the outbox keeps the taps): both only show in the
        status line.
        """
        notifier = notifier if notifier is not None else Notifier({})
        self.forwarder.start()
        self.reader.start(self.on_tap, self.on_health)
        notifier.ready(self.status_line())
        try:
            while not stop.wait(notifier.watchdog or 10.0):
                if self.forwarder.alive():
                    if notifier.watchdog is not None:
                        notifier.ping(self.status_line())
                    else:
                        notifier.status(self.status_line())
                else:
                    logger.error("the forwarder thread has stopped: no more watchdog pings")
                    notifier.status("forwarder stopped: waiting for the watchdog to restart the reader")
        finally:
            notifier.stopping()
            self.reader.stop()
            self.forwarder.stop()
