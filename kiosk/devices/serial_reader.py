"""Serial badge readers: a reader on a serial port (or a USB-serial one) that sends each badge's UID as a line of text.

Many low-cost readers (125 kHz EM4100 readers, USB readers in "virtual COM port" mode) do no more than
that: ``04A1B2C3<CR><LF>``, or a frame ``<STX>04A1B2C3<ETX>``. This adapter reads the port with pyserial
on its own thread, takes the text between terminators (CR, LF, ETX; an STX is dropped) as the UID and
hands it to a ``ReaderCore``, like an nfcpy reader's. A reader that repeats the UID while a badge rests
on it makes one tap: the repeat filter drops the rest.

A port that is missing or stops answering (unplugged) is DISCONNECTED and reopened with back-off;
one the kiosk user may not open is ERROR. Text that is not a UID is logged and skipped.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import Any, Callable

import serial

from kiosk.devices.base import DeviceReader, ReaderHealth
from kiosk.domain.badges import InvalidBadgeUid, normalize_uid

logger = logging.getLogger(__name__)

DEFAULT_BAUD = 9600
STX, ETX = b"\x02", b"\x03"
MAX_LINE = 128  # bytes without a terminator before the text is dropped as noise


def describe_port_error(path: str, exc: BaseException) -> tuple[ReaderHealth, str]:
    """Turn an error opening the port into reader health and a message for the screen."""
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        return ReaderHealth.ERROR, f"serial reader at {path} found but access denied: add the kiosk user to dialout"
    if code == errno.EBUSY:
        return ReaderHealth.ERROR, f"serial reader at {path} is busy: another program holds the port"
    return ReaderHealth.DISCONNECTED, f"no serial reader at {path}; retrying"


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The complete texts in ``buffer`` (between CR, LF or ETX; STX dropped, blanks skipped) and what is left."""
    buffer = buffer.replace(STX, b"")
    parts = buffer.replace(b"\r", b"\n").replace(ETX, b"\n").split(b"\n")
    rest = parts.pop()
    return [p.strip() for p in parts if p.strip()], rest


class SerialLineReader(DeviceReader):
    """A badge reader that sends UIDs as text lines on a serial port, read with pyserial."""

    what = "serial reader"
    thread_prefix = "serial-reader"

    def __init__(self, path: str, *, baud: int = DEFAULT_BAUD, reader_id: str = "kiosk", debounce: float = 2.0,
                 backoff_initial: float = 0.5, backoff_cap: float = 10.0, read_timeout: float = 0.2,
                 stop_timeout: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(path, reader_id=reader_id, debounce=debounce, backoff_initial=backoff_initial,
                         backoff_cap=backoff_cap, stop_timeout=stop_timeout, clock=clock)
        self.baud = baud
        self.read_timeout = read_timeout  # how often the thread looks whether it should stop

    # -- the reader thread ------------------------------------------------------------

    def _session(self) -> float | None:
        """Open the port and read it until stop or failure; return when it opened, or None."""
        try:
            port = serial.Serial(self.path, self.baud, timeout=self.read_timeout)
        except (OSError, serial.SerialException) as exc:
            health, message = describe_port_error(self.path, exc)
            logger.debug("reader %s: open %s failed: %r", self.reader_id, self.path, exc)
            self._core.set_health(health, message)
            return None
        opened_at = self._clock()
        try:
            self._core.set_health(ReaderHealth.CONNECTED, f"serial reader ready at {self.path}")
            self._read(port)
        except (OSError, serial.SerialException) as exc:
            logger.debug("reader %s lost: %r", self.reader_id, exc)
            self._core.set_health(ReaderHealth.DISCONNECTED,
                                  f"serial reader at {self.path} stopped answering (unplugged?); reconnecting")
        finally:
            try:
                port.close()
            except Exception as exc:  # noqa: BLE001 - a port that is gone may fail to close
                logger.debug("reader %s: close failed: %r", self.reader_id, exc)
        return opened_at

    def _read(self, port: Any) -> None:
        """Hand on each UID the port sends until stopped; raise when the port fails."""
        buffer = b""
        while not self._stop.is_set():
            chunk = port.read(max(1, port.in_waiting))  # at least one byte, or nothing after read_timeout
            if not chunk:
                continue
            lines, buffer = split_lines(buffer + chunk)
            for line in lines:
                self._take(line)
            if len(buffer) > MAX_LINE:
                logger.warning("reader %s: %d bytes without a line end dropped (wrong baud rate?)",
                               self.reader_id, len(buffer))
                buffer = b""

    def _take(self, line: bytes) -> None:
        try:
            uid = normalize_uid(line.decode("ascii"))
        except (UnicodeDecodeError, InvalidBadgeUid):
            # Noise or a wrong baud rate: said without echoing what may be part of a badge number.
            logger.warning("reader %s sent %d bytes that are not a badge UID in hexadecimal; skipped",
                           self.reader_id, len(line))
            return
        self._core.deliver(uid)
