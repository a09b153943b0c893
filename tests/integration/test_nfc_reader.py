"""The real NfcpyReader against nfcpy's own udp driver and a Type 3 (FeliCa) tag it emulates.

nfcpy's ``udp:HOST:PORT`` driver sends each frame as a datagram; a second frontend on
the same port in card mode answers as a tag, exactly as ``tagtool.py emulate tt3`` does.
Every wait here has a deadline and waits for an event, not for a guessed time.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from typing import Any, Callable, Iterator

import nfc
import nfc.clf
import pytest

from kiosk.devices.base import BadgeRead, ReaderHealth
from kiosk.devices.nfc import NfcpyReader

pytestmark = pytest.mark.hardware_sim

DEADLINE = 10.0
IDM = bytearray.fromhex("03FE001122334455")
PMM = bytearray.fromhex("03014B024F4993FF")
SYSTEM_CODE = bytearray.fromhex("12FC")  # NFC Forum Type 3 Tag
# What the reader sends when it polls for FeliCa (nfcpy's SENSF_REQ, system code FFFF).
POLL_DATAGRAM = b"212F 0600ffff0100"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmulatedBadge:
    """A FeliCa badge on the udp "field": a card-mode frontend in its own thread."""

    def __init__(self, port: int, idm: bytes = IDM) -> None:
        self.port = port
        self.idm = bytearray(idm)
        self.commands = 0  # commands answered since it was read: presence checks while held
        self.read = threading.Event()
        self._gone = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulated-badge", daemon=True)

    def present(self) -> "EmulatedBadge":
        self._thread.start()
        return self

    def remove(self) -> None:
        """Take the badge out of the field; safe to call twice."""
        if not self._thread.is_alive():
            return
        self._gone.set()
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "the emulated badge did not leave the field"

    def _on_startup(self, target: nfc.clf.LocalTarget) -> nfc.clf.LocalTarget:
        target.brty = "212F"
        target.sensf_res = bytearray([0x01]) + self.idm + PMM + SYSTEM_CODE
        return target

    def _on_connect(self, tag: Any) -> bool:
        process = tag.process_command

        def counted(cmd: bytearray) -> Any:
            self.commands += 1
            return process(cmd)

        tag.process_command = counted
        self.read.set()
        return True  # keep answering until the reader lets go or we leave

    def _run(self) -> None:
        clf = nfc.ContactlessFrontend(f"udp:localhost:{self.port}")
        try:
            while not self._gone.is_set():
                clf.connect(card={"on-startup": self._on_startup, "on-connect": self._on_connect},
                            terminate=self._gone.is_set)
        finally:
            clf.close()


class Kiosk:
    """The kiosk's side of the reader, with events to wait on."""

    def __init__(self) -> None:
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

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
        """Wait until ``predicate()`` holds; woken by taps and health, and re-checked often for the rest."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"timed out waiting for {what}; health so far: {self.health}")
                self._changed.wait(min(remaining, 0.01))

    def states(self) -> list[ReaderHealth]:
        return [state for state, _ in self.health]


def wait_until_polled(port: int) -> None:
    """Return once the reader polls the empty field again: it has let go of the last badge."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as field:
        field.bind(("127.0.0.1", port))
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            field.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = field.recvfrom(1024)
            except socket.timeout:
                break
            if data == POLL_DATAGRAM:
                return
    pytest.fail("the reader never polled the empty field")


@pytest.fixture
def thread_errors() -> Iterator[list[threading.ExceptHookArgs]]:
    caught: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook
    threading.excepthook = caught.append
    yield caught
    threading.excepthook = previous


@pytest.fixture
def port() -> int:
    return free_udp_port()


@pytest.fixture
def kiosk() -> Kiosk:
    return Kiosk()


@pytest.fixture
def field(port: int) -> Iterator[Callable[[], EmulatedBadge]]:
    """Present emulated badges on the test's udp port; any still there leave at the end."""
    badges: list[EmulatedBadge] = []

    def present() -> EmulatedBadge:
        badges.append(EmulatedBadge(port).present())
        return badges[-1]

    yield present
    for badge in badges:
        badge.remove()


@pytest.fixture
def readers(thread_errors: list[threading.ExceptHookArgs]) -> Iterator[list[NfcpyReader]]:
    started: list[NfcpyReader] = []
    yield started
    for reader in started:
        reader.stop()
    assert thread_errors == [], "an exception escaped a thread"


def test_a_badge_tapped_on_a_real_nfcpy_reader_is_read_once_while_held_and_again_after_the_window(
        port: int, kiosk: Kiosk, readers: list[NfcpyReader],
        field: Callable[[], EmulatedBadge]) -> None:
    window = 0.3
    reader = NfcpyReader(f"udp:localhost:{port}", reader_id="lobby", debounce=window, targets=["212F"])
    readers.append(reader)
    reader.start(kiosk.on_tap, kiosk.on_health)
    kiosk.wait(lambda: ReaderHealth.CONNECTED in kiosk.states(), "CONNECTED")
    assert kiosk.health[-1][1].startswith("reader ready: ") and f"udp:localhost:{port}" in kiosk.health[-1][1]

    badge = field()
    kiosk.wait(lambda: len(kiosk.taps) >= 1, "the first tap")
    assert kiosk.taps[0].uid == "03FE001122334455" and kiosk.taps[0].reader_id == "lobby"

    # Held: the reader keeps checking the badge is there; let it do so for longer than the window.
    held_since = time.monotonic()
    kiosk.wait(lambda: badge.commands >= 6 and time.monotonic() - held_since > 2 * window,
               "the reader to check the held badge a few times")
    assert len(kiosk.taps) == 1, "a badge held on the reader counted more than once"

    badge.remove()
    wait_until_polled(port)
    time.sleep(window)  # the scenario: the badge stays away for longer than the window

    field()
    kiosk.wait(lambda: len(kiosk.taps) >= 2, "the second tap")
    assert [t.uid for t in kiosk.taps] == ["03FE001122334455"] * 2
    assert kiosk.states() == [ReaderHealth.DISCONNECTED, ReaderHealth.CONNECTED]

    started = time.monotonic()
    reader.stop()
    stopped_in = time.monotonic() - started
    # One udp poll waits 1 s for an answer; stop() lands within one poll, not the 5 s join timeout.
    assert stopped_in < reader.stop_timeout
    assert not any(t.name == "nfc-reader-lobby" for t in threading.enumerate()), "stop() left the thread running"
    assert reader.health is ReaderHealth.DISCONNECTED


def test_a_badge_presented_again_within_the_window_does_not_count(
        port: int, kiosk: Kiosk, readers: list[NfcpyReader],
        field: Callable[[], EmulatedBadge]) -> None:
    reader = NfcpyReader(f"udp:localhost:{port}", debounce=30.0, targets=["212F"])
    readers.append(reader)
    reader.start(kiosk.on_tap, kiosk.on_health)
    first = field()
    kiosk.wait(lambda: len(kiosk.taps) == 1, "the first tap")
    first.remove()
    wait_until_polled(port)

    again = field()
    kiosk.wait(lambda: again.commands >= 3, "the reader to hold the badge presented again")
    assert len(kiosk.taps) == 1
    again.remove()


def test_a_reader_path_with_no_device_reports_disconnected_and_keeps_retrying(
        kiosk: Kiosk, readers: list[NfcpyReader]) -> None:
    # No USB device has vendor ffff, product ffff: nfcpy raises IOError(ENODEV) on open.
    reader = NfcpyReader("usb:ffff:ffff", backoff_initial=0.05, backoff_cap=0.1)
    readers.append(reader)
    reader.start(kiosk.on_tap, kiosk.on_health)
    kiosk.wait(lambda: reader.open_attempts >= 3 and len(kiosk.health) >= 2, "three attempts to open")
    assert kiosk.health[-1] == (ReaderHealth.DISCONNECTED, "no reader found at usb:ffff:ffff; retrying")
    assert reader.health is ReaderHealth.DISCONNECTED


def test_a_reader_plugged_in_later_comes_back_on_a_fresh_frontend_and_reads(
        port: int, kiosk: Kiosk, readers: list[NfcpyReader],
        field: Callable[[], EmulatedBadge]) -> None:
    # nfcpy's udp driver always opens, so "unplugged" is played at the adapter's edge: opening
    # raises what nfcpy raises for a missing device until the test plugs it in.
    plugged = threading.Event()
    opened: list[nfc.ContactlessFrontend] = []

    def frontend(path: str) -> nfc.ContactlessFrontend:
        if not plugged.is_set():
            raise IOError(errno.ENODEV, os.strerror(errno.ENODEV))
        opened.append(nfc.ContactlessFrontend(path))
        return opened[-1]

    reader = NfcpyReader(f"udp:localhost:{port}", targets=["212F"], backoff_initial=0.05, backoff_cap=0.2,
                         frontend_factory=frontend)
    readers.append(reader)
    reader.start(kiosk.on_tap, kiosk.on_health)
    kiosk.wait(lambda: reader.open_attempts >= 2, "a retry")
    assert kiosk.health[-1] == (ReaderHealth.DISCONNECTED, f"no reader found at udp:localhost:{port}; retrying")

    plugged.set()
    kiosk.wait(lambda: ReaderHealth.CONNECTED in kiosk.states(), "CONNECTED once plugged in")
    badge = field()
    kiosk.wait(lambda: len(kiosk.taps) == 1, "a tap after coming back")
    badge.remove()
    assert len(opened) == 1
