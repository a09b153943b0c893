"""Choose the badge reader adapter from the ``KIOSK_NFC_DEVICE`` setting.

``sim``, ``wedge`` and ``none`` name the readers driven from code; ``serial:PATH[@BAUD]`` a reader
that sends UIDs as text lines on a serial port; anything else must be an nfcpy device path spelled
as nfcpy spells it. The spec is checked here, before any
device is touched, so a typo is a clear start-up error rather than a reader that is
"not found" for ever. Nothing is opened and no thread starts until ``reader.start()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiosk.devices.base import BadgeReader, HealthHandler, ReaderCore, ReaderHealth, TapHandler

VALID_FORMS = (
    "sim | wedge | none | "
    "usb | usb:VVVV[:PPPP] (vendor:product in hex, e.g. usb:054c:06c3) | "
    "usb:BBB[:DDD] (bus:device from lsusb, e.g. usb:001:004) | "
    "tty:PORT[:DRIVER] (one serial port, DRIVER pn532 or arygon, e.g. tty:USB0:pn532, tty:AMA0:pn532) | "
    "udp[:HOST][:PORT] (nfcpy's simulated driver, e.g. udp:localhost:54321) | "
    "serial:PATH[@BAUD] (a reader sending UIDs as text lines, e.g. serial:/dev/ttyUSB0@9600; 9600 by default)"
)

# nfcpy's own path grammar (nfc/clf/transport.py and nfc/clf/device.py), narrowed where
# nfcpy would guess: a tty port must name one device, because nfcpy probes every port a
# glob matches by writing PN532 frames to it, and the sensor gateway's serial links may
# be among them.
_USB = re.compile(r"^usb(:[0-9a-fA-F]{4}(:[0-9a-fA-F]{4})?|:[0-9]{1,3}(:[0-9]{1,3})?)?$")
_TTY = re.compile(r"^tty:(?P<port>[A-Za-z][A-Za-z0-9-]*[0-9])(:(?P<driver>pn532|arygon))?$")
_UDP = re.compile(r"^udp(:(?P<host>[A-Za-z0-9.-]*)(:(?P<port>[0-9]{1,5}))?)?$")
_SERIAL = re.compile(r"^serial:(?P<path>/[^@\s]+)(@(?P<baud>[0-9]{3,7}))?$", re.IGNORECASE)


@dataclass(frozen=True)
class ReaderSpec:
    """A parsed ``KIOSK_NFC_DEVICE``: which adapter, and for nfcpy the device path."""

    kind: str  # "sim" | "wedge" | "none" | "nfcpy" | "serial"
    path: str | None = None
    baud: int | None = None  # a serial reader's


def parse_reader_spec(spec: str) -> ReaderSpec:
    """Check a reader spec and say which adapter it names; raise ValueError listing valid forms."""
    text = spec.strip()
    keyword = text.lower()
    if keyword in ("sim", "wedge", "none"):
        return ReaderSpec(keyword)
    serial_spec = _SERIAL.match(text)
    if serial_spec:
        return ReaderSpec("serial", serial_spec.group("path"), int(serial_spec.group("baud") or 9600))
    if keyword.startswith("serial:"):
        raise ValueError(f"reader {spec!r}: a serial reader is serial:/dev/PORT or serial:/dev/PORT@BAUD "
                         f"(an absolute path); valid forms: {VALID_FORMS}")
    scheme, sep, rest = text.partition(":")
    path = scheme.lower() + sep + rest  # nfcpy wants the scheme in lower case
    if _USB.match(path) or _TTY.match(path):
        return ReaderSpec("nfcpy", path)
    udp = _UDP.match(path)
    if udp:
        host, port = udp.group("host"), udp.group("port")
        if host and host.isdigit() and port is None:
            # nfcpy reads udp:54321 as a host named "54321"
            raise ValueError(f"reader {spec!r}: a udp port alone is written udp::{host} "
                             f"or udp:localhost:{host}; valid forms: {VALID_FORMS}")
        if port is not None and not 0 < int(port) < 65536:
            raise ValueError(f"reader {spec!r}: udp port must be 1-65535; valid forms: {VALID_FORMS}")
        return ReaderSpec("nfcpy", path)
    raise ValueError(f"unknown badge reader {spec!r}; valid forms: {VALID_FORMS}")


class NoReader:
    """The reader for ``none``: it never taps and says so on the health line."""

    MESSAGE = "no reader configured"

    def __init__(self, *, reader_id: str = "kiosk") -> None:
        self.reader_id = reader_id
        self._core = ReaderCore(reader_id, 0.0, health=ReaderHealth.DISCONNECTED, message=self.MESSAGE)

    @property
    def health(self) -> ReaderHealth:
        """Always DISCONNECTED."""
        return self._core.health

    @property
    def health_message(self) -> str:
        """Always "no reader configured"."""
        return self._core.message

    def start(self, on_tap: TapHandler, on_health: HealthHandler) -> None:
        """Tell the health handler there is no reader; nothing will ever tap."""
        self._core.attach(on_tap, on_health)

    def stop(self) -> None:
        """Unsubscribe; safe to call twice."""
        self._core.detach()


def open_reader(spec: str, *, reader_id: str = "kiosk", debounce: float = 2.0) -> BadgeReader:
    """Build (not start) the reader a ``KIOSK_NFC_DEVICE`` value names."""
    parsed = parse_reader_spec(spec)
    if parsed.kind == "sim":
        from kiosk.devices.sim import SimulatedReader
        return SimulatedReader(reader_id=reader_id, debounce=debounce)
    if parsed.kind == "wedge":
        from kiosk.devices.wedge import WedgeReader
        return WedgeReader(reader_id=reader_id, debounce=debounce)
    if parsed.kind == "none":
        return NoReader(reader_id=reader_id)
    if parsed.kind == "serial":
        from kiosk.devices.serial_reader import SerialLineReader
        assert parsed.path is not None and parsed.baud is not None
        return SerialLineReader(parsed.path, baud=parsed.baud, reader_id=reader_id, debounce=debounce)
    # Imported here so sim, wedge and none work without loading nfcpy and libusb.
    from kiosk.devices.nfc import NfcpyReader
    assert parsed.path is not None
    return NfcpyReader(parsed.path, reader_id=reader_id, debounce=debounce)
