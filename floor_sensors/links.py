"""Serial links to FSN/1 nodes: one thread per node, reconnecting with back-off.

Each :class:`SerialNodeLink` opens its configured device path with pyserial
(``serial_for_url``, so a pty or ``loop://`` works where a device would), reads
whatever is waiting in chunks (``read(in_waiting or 1)`` with a short timeout,
never ``readline``: a line that never ends must not block supervision), feeds an
incremental :class:`~floor_sensors.protocol.FrameDecoder` and hands what comes
out to a sink as :class:`LinkEvent` values. When the port fails
(``SerialException``/``OSError``: unplugged) it reports :class:`LinkLost` at
once, then tries to reopen after ``reconnect_initial`` seconds, doubling up to
``reconnect_max``, and resumes without the gateway restarting. ``send`` writes
SNAP/ACK frames back.

The sink is called from the link's thread; the gateway puts the events on a
queue and runs supervision from one thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

import serial

from floor_sensors.config import NodeConfig
from floor_sensors.protocol import Direction, Frame, FrameDecoder, FrameError, encode_frame

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkOpened:
    """The port of ``source`` was opened (first time or after a loss)."""

    source: str
    at: float


@dataclass(frozen=True)
class LinkLost:
    """The port of ``source`` failed or vanished."""

    source: str
    at: float
    reason: str


@dataclass(frozen=True)
class FrameReceived:
    """A valid frame arrived from ``source``."""

    source: str
    frame: Frame
    at: float


@dataclass(frozen=True)
class FrameDropped:
    """A frame from ``source`` was dropped by the decoder."""

    source: str
    error: FrameError
    at: float


@dataclass(frozen=True)
class PollResult:
    """A Modbus module answered: ``bits[0]`` is discrete input 1."""

    source: str
    bits: tuple[bool, ...]
    at: float


@dataclass(frozen=True)
class PollFailed:
    """A Modbus poll of ``source`` failed."""

    source: str
    at: float
    reason: str


LinkEvent = Union[LinkOpened, LinkLost, FrameReceived, FrameDropped, PollResult, PollFailed]
Sink = Callable[[LinkEvent], None]
Opener = Callable[..., Any]


class SerialNodeLink:
    """Reads one FSN/1 node's serial port in its own thread and writes frames back."""

    def __init__(
        self,
        node: NodeConfig,
        sink: Sink,
        *,
        clock: Callable[[], float] = time.monotonic,
        read_timeout: float = 0.05,
        opener: Opener = serial.serial_for_url,
    ) -> None:
        self.node = node
        self.sink = sink
        self.clock = clock
        self.read_timeout = read_timeout
        self.opener = opener
        self.decoder = FrameDecoder(Direction.FROM_NODE, inputs=node.inputs)
        self.opens = 0
        self._ser: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wait: Callable[[float], object] = self._stop.wait  # tests record the back-off here

    @property
    def source(self) -> str:
        """The node id this link serves."""
        return self.node.id

    def start(self) -> None:
        """Start the reader thread."""
        self._thread = threading.Thread(target=self._run, name=f"link-{self.node.id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread and close the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._close()

    def send(self, frame: Frame) -> bool:
        """Write ``frame`` to the node; return False if the port is not open or the write failed."""
        data = encode_frame(frame)
        with self._lock:
            ser = self._ser
            if ser is None:
                return False
            try:
                ser.write(data)
                return True
            except (serial.SerialException, OSError) as exc:
                # The reader thread sees the same failure and reports the loss.
                logger.debug("node %s: write failed: %s", self.node.id, exc)
                return False

    def _run(self) -> None:
        delay = self.node.reconnect_initial
        failures = 0
        while not self._stop.is_set():
            if self._ser is None:
                if not self._open(failures):
                    failures += 1
                    self._wait(delay)
                    delay = min(delay * 2, self.node.reconnect_max)
                    continue
                failures = 0
                delay = self.node.reconnect_initial
            try:
                ser = self._ser
                data = ser.read(ser.in_waiting or 1)
            except Exception as exc:  # noqa: BLE001 - pyserial raises more than SerialException on unplug
                if self._stop.is_set():
                    break
                self._lost(str(exc) or type(exc).__name__)
                self._wait(delay)
                continue
            if data:
                now = self.clock()
                for item in self.decoder.feed(data):
                    if isinstance(item, FrameError):
                        self.sink(FrameDropped(self.node.id, item, now))
                    else:
                        self.sink(FrameReceived(self.node.id, item, now))

    def _open(self, failures: int) -> bool:
        try:
            ser = self.opener(
                self.node.port,
                baudrate=self.node.baudrate,
                timeout=self.read_timeout,
                write_timeout=0.5,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            log = logger.warning if failures == 0 else logger.debug
            log("node %s: cannot open %s: %s (retrying)", self.node.id, self.node.port, exc)
            return False
        self.decoder.reset()
        with self._lock:
            self._ser = ser
        self.opens += 1
        logger.info("node %s: opened %s", self.node.id, self.node.port)
        self.sink(LinkOpened(self.node.id, self.clock()))
        return True

    def _lost(self, reason: str) -> None:
        logger.warning("node %s: port %s lost: %s", self.node.id, self.node.port, reason)
        self._close()
        self.decoder.reset()  # a partial frame from before the loss must not join the next one
        self.sink(LinkLost(self.node.id, self.clock(), reason))

    def _close(self) -> None:
        with self._lock:
            ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # noqa: BLE001 - closing a vanished device may fail in many ways
                logger.debug("node %s: error closing the port", self.node.id, exc_info=True)
