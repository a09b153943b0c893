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
        logger.log(logging.INFO if state is ReaderHealth.CONNECTED else logging.WARNING,
                   "reader %s is %s: %s", self.reader_id, state.value, message)

    def run(self, stop: threading.Event) -> None:
        """Read and forward until ``stop`` is set."""
        self.forwarder.start()
        self.reader.start(self.on_tap, self.on_health)
        try:
            stop.wait()
        finally:
            self.reader.stop()
            self.forwarder.stop()
