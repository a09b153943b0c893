"""The real NfcpyReader against nfcpy's own udp driver and a Type 3 (FeliCa) tag it emulates.

The emulated badge (``tests/nfc_emulation.py``) is a second nfcpy frontend on the same udp
port in card mode, answering as a tag exactly as ``tagtool.py emulate tt3`` does.
Every wait here has a deadline and waits for an event, not for a guessed time.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from typing import Callable, Iterator

import nfc
import pytest

from kiosk.devices.base import ReaderHealth
from kiosk.devices.nfc import NfcpyReader
from nfc_emulation import DEADLINE, EmulatedBadge, free_udp_port, wait_until_polled
from reader_events import ReaderEvents as Kiosk

pytestmark = pytest.mark.hardware_sim


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
    return Kiosk(DEADLINE)


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
