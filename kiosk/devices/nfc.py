"""The nfcpy badge reader: a background thread that polls an NFC frontend for badges.

nfcpy chooses its driver from a path string (``usb``, ``usb:054c:06c3``, ``usb:001:004``,
``tty:USB0:pn532``, ``udp:localhost:54321``). This adapter opens the frontend, polls it
with ``ContactlessFrontend.connect(rdwr=...)``, turns each tag identifier into a
normalised UID and hands it to a ``ReaderCore``. Library errors become reader health:
a device that cannot be found or vanishes is DISCONNECTED and retried with exponential
backoff; anything else is ERROR and retried the same way. The thread never dies of an
exception while the reader is running.
"""

from __future__ import annotations

import errno
import logging
import re
import time
from typing import Any, Callable, Sequence

import nfc
import nfc.clf.device

from kiosk.devices.base import DeviceReader, ReaderHealth
from kiosk.domain.badges import InvalidBadgeUid, normalize_uid

logger = logging.getLogger(__name__)

# ISO 14443 A (MIFARE, most staff badges) and FeliCa. Each technology polled costs time
# when no badge is there, so only these two by default.
DEFAULT_TARGETS: tuple[str, ...] = ("106A", "212F")
# nfcpy's udp driver waits a full second for an answer per technology, and its tag
# emulation (tagtool's "emulate") is Type 3 only, so a udp path polls FeliCa alone.
UDP_TARGETS: tuple[str, ...] = ("212F",)
_TARGET = re.compile(r"^(106|212|424|848)[ABF]$")

FrontendFactory = Callable[[str], Any]


def describe_open_error(path: str, exc: BaseException) -> tuple[ReaderHealth, str]:
    """Turn an exception from opening the frontend into reader health and a message for the screen."""
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        return (ReaderHealth.ERROR,
                f"reader at {path} found but access denied: check the udev rule and the kiosk user's groups")
    if code == errno.EBUSY:
        return (ReaderHealth.ERROR,
                f"reader at {path} is busy: a kernel driver (port100, pn533_usb) or another program (pcscd) holds it")
    if isinstance(exc, OSError):
        return ReaderHealth.DISCONNECTED, f"no reader found at {path}; retrying"
    return ReaderHealth.ERROR, f"reader at {path} failed to open: {exc}; retrying"


class _ReaderLost(Exception):
    """nfcpy swallowed an I/O error and gave up polling: the device stopped answering."""


class NfcpyReader(DeviceReader):
    """A badge reader driven by nfcpy on a background thread started by ``start()``."""

    what = "reader"
    thread_prefix = "nfc-reader"

    def __init__(self, path: str, *, reader_id: str = "kiosk", debounce: float = 2.0,
                 targets: Sequence[str] | None = None,
                 iterations: int | None = None,
                 interval: float = 0.1,
                 backoff_initial: float = 0.5,
                 backoff_cap: float = 10.0,
                 beep: bool = True,
                 stop_timeout: float = 5.0,
                 frontend_factory: FrontendFactory | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Prepare the reader; nothing is opened until ``start()``.

        ``targets`` are nfcpy technology strings; ``iterations`` × ``interval`` is how often
        nfcpy lets us check for ``stop()`` while no badge is there (it defaults to 5 × 0.1 s,
        and to 1 on a udp path, where each poll already takes a second).
        ``frontend_factory`` opens a frontend from the path; it is
        ``nfc.ContactlessFrontend`` unless a test puts something else at this edge.
        """
        is_udp = path.startswith("udp")
        targets = tuple(targets) if targets is not None else (UDP_TARGETS if is_udp else DEFAULT_TARGETS)
        bad = [t for t in targets if not _TARGET.match(t)]
        if not targets or bad:
            raise ValueError(f"targets must be nfcpy technology strings such as 106A, 212F; got {list(targets)}")
        super().__init__(path, reader_id=reader_id, debounce=debounce, backoff_initial=backoff_initial,
                         backoff_cap=backoff_cap, stop_timeout=stop_timeout, clock=clock)
        self.targets = targets
        self.iterations = iterations if iterations is not None else (1 if is_udp else 5)
        self.interval = interval
        self.beep = beep
        self._factory: FrontendFactory = frontend_factory or nfc.ContactlessFrontend
        self._open_attempts = 0

    @property
    def open_attempts(self) -> int:
        """How many times the thread has tried to open the frontend (for tests and diagnostics)."""
        return self._open_attempts

    # -- the reader thread ------------------------------------------------------------

    def _session(self) -> float | None:
        """Open one fresh frontend and poll it until stop or failure; return when it opened, or None."""
        self._open_attempts += 1
        try:
            # A fresh frontend each attempt: reopening one nfcpy has closed is unreliable.
            clf = self._factory(self.path)
        except Exception as exc:
            health, message = describe_open_error(self.path, exc)
            logger.debug("reader %s: open %s failed: %r", self.reader_id, self.path, exc)
            self._core.set_health(health, message)
            return None
        opened_at = self._clock()
        try:
            self._core.set_health(ReaderHealth.CONNECTED, f"reader ready: {clf.device}")
            self._poll(clf)
        except (_ReaderLost, OSError) as exc:
            logger.debug("reader %s lost: %r", self.reader_id, exc)
            self._core.set_health(ReaderHealth.DISCONNECTED,
                                  f"reader at {self.path} stopped answering (unplugged?); reconnecting")
        except Exception as exc:
            logger.exception("reader %s failed while polling", self.reader_id)
            self._core.set_health(ReaderHealth.ERROR, f"reader at {self.path} failed: {exc}; reconnecting")
        finally:
            self._close(clf)
        return opened_at

    def _poll(self, clf: Any) -> None:
        """Poll for badges until stopped; raise ``_ReaderLost`` when nfcpy gives up on the device."""
        held: list[str] = []  # the UID of the badge on the reader now, if any

        def on_connect(tag: Any) -> bool:
            try:
                uid = normalize_uid(tag.identifier)
            except (InvalidBadgeUid, AttributeError, TypeError) as exc:
                logger.debug("reader %s: tag without a usable identifier (%s): %s", self.reader_id, exc, tag)
                return True
            held[:] = [uid]
            if self._core.deliver(uid) is not None and self.beep:
                self._signal(clf)
            # §3.3: one tap is one answer. True makes nfcpy hold this tag until it leaves
            # the field, so a badge resting on the reader is read once however long it rests.
            return True

        def on_release(tag: Any) -> bool:
            if held:
                # The repeat window runs from when the badge left, not when it arrived:
                # lifting a held badge and touching it again at once is still one tap.
                self._core.repeats.accept(held.pop(), self._clock())
            return True

        rdwr = {
            "targets": list(self.targets),
            "on-connect": on_connect,
            "on-release": on_release,
            "iterations": self.iterations,
            "interval": self.interval,
            "beep-on-connect": False,  # we signal accepted taps only, and best effort
        }
        while not self._stop.is_set():
            result = clf.connect(rdwr=rdwr, terminate=self._stop.is_set)
            # nfcpy catches the IOError of a vanished device, logs it and returns False.
            if result is False and not self._stop.is_set():
                raise _ReaderLost("nfcpy stopped polling")

    def _signal(self, clf: Any) -> None:
        """Beep and flash on an accepted tap where the device can; never fail the tap for it."""
        device = getattr(clf, "device", None)
        method = getattr(type(device), "turn_on_led_and_buzzer", None)
        if method is None or method is nfc.clf.device.Device.turn_on_led_and_buzzer:
            logger.debug("reader %s: %s has no LED/buzzer nfcpy can drive", self.reader_id, device)
            return
        try:
            device.turn_on_led_and_buzzer()  # ACR122U: red LED and beep; nfcpy restores green on release
        except Exception as exc:
            logger.debug("reader %s: LED/buzzer failed: %r", self.reader_id, exc)

    def _close(self, clf: Any) -> None:
        """Close a frontend, ignoring the errors of a device that is already gone."""
        try:
            clf.close()
        except Exception as exc:
            logger.debug("reader %s: close failed: %r", self.reader_id, exc)
