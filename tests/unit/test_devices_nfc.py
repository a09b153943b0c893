"""The nfcpy reader's own logic, against a fake frontend put where nfcpy's would be.

The fake plays nfcpy's part of the contract: ``connect(rdwr=..., terminate=...)`` calls
'on-connect' with a tag, 'on-release' when it leaves, returns False when the device
vanished (nfcpy catches the IOError itself), and returns None once ``terminate()`` is true.
The real library is driven in tests/integration/test_nfc_reader.py.
"""

from __future__ import annotations

import errno
import itertools
import os
import queue
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from kiosk.devices.base import BadgeRead, ReaderHealth, backoff_delays
from kiosk.devices.nfc import NfcpyReader, describe_open_error

DEADLINE = 5.0


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Wait until ``predicate()`` holds, failing with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTag:
    def __init__(self, identifier: Any) -> None:
        self.identifier = identifier


class FakeDevice:
    """A device without LED or buzzer, as nfcpy's base Device is."""

    def __str__(self) -> str:
        return "Fake RC-S380 at usb:001:004"


class BeepingDevice(FakeDevice):
    def __init__(self, fails: bool = False) -> None:
        self.beeps = 0
        self.fails = fails

    def turn_on_led_and_buzzer(self) -> None:
        self.beeps += 1
        if self.fails:
            raise OSError(errno.EIO, "buzzer went away")


class FakeFrontend:
    """One opened frontend; it plays the events the test puts on the bus."""

    def __init__(self, bus: "Bus", device: Any) -> None:
        self.bus = bus
        self.device = device
        self.closed = False

    def connect(self, *, rdwr: dict[str, Any], terminate: Callable[[], bool]) -> Any:
        assert rdwr["beep-on-connect"] is False
        while not terminate():
            try:
                event = self.bus.events.get(timeout=0.005)
            except queue.Empty:
                continue
            kind = event[0]
            if kind == "tag":
                _, identifier, arrive, leave = event
                self.bus.clock.now = arrive
                tag = FakeTag(identifier)
                if rdwr["on-connect"](tag):
                    self.bus.clock.now = leave
                    return rdwr["on-release"](tag)
                return tag
            if kind == "lose":
                return False
            if kind == "raise":
                raise event[1]
        return None

    def close(self) -> None:
        self.closed = True
        if self.bus.close_fails:
            raise OSError(errno.ENODEV, "already gone")


class Bus:
    """The test's control over the fake: what opening does, and what the device sees."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.open_failures: list[BaseException] = []
        self.frontends: list[FakeFrontend] = []
        self.device_factory: Callable[[], Any] = FakeDevice
        self.close_fails = False

    def open(self, path: str) -> FakeFrontend:
        if self.open_failures:
            raise self.open_failures.pop(0)
        frontend = FakeFrontend(self, self.device_factory())
        self.frontends.append(frontend)
        return frontend

    def tag(self, identifier: Any, arrive: float, leave: float | None = None) -> None:
        self.events.put(("tag", identifier, arrive, arrive + 0.1 if leave is None else leave))


class Kiosk:
    """The kiosk's side: what the reader told it."""

    def __init__(self) -> None:
        self.taps: list[BadgeRead] = []
        self.health: list[tuple[ReaderHealth, str]] = []
        self.threads: set[str] = set()

    def on_tap(self, read: BadgeRead) -> None:
        self.threads.add(threading.current_thread().name)
        self.taps.append(read)

    def on_health(self, state: ReaderHealth, message: str) -> None:
        self.health.append((state, message))

    def states(self) -> list[ReaderHealth]:
        return [state for state, _ in self.health]

    def saw(self, state: ReaderHealth, times: int = 1) -> Callable[[], bool]:
        return lambda: self.states().count(state) >= times


@pytest.fixture
def thread_errors() -> Iterator[list[threading.ExceptHookArgs]]:
    """Collect exceptions that escape any thread; a reader must never let one out."""
    caught: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook
    threading.excepthook = caught.append
    yield caught
    threading.excepthook = previous


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def kiosk() -> Kiosk:
    return Kiosk()


@pytest.fixture
def make_reader(bus: Bus, thread_errors: list[threading.ExceptHookArgs]) -> Iterator[Callable[..., NfcpyReader]]:
    readers: list[NfcpyReader] = []

    def make(**options: Any) -> NfcpyReader:
        options.setdefault("debounce", 2.0)
        reader = NfcpyReader("usb:054c:06c3", reader_id="lobby", frontend_factory=bus.open, clock=bus.clock,
                             backoff_initial=0.01, backoff_cap=0.04, **options)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.stop()
    assert thread_errors == []


def test_a_reader_that_opens_reports_connected_with_the_device_name(make_reader: Callable[..., NfcpyReader],
                                                                    kiosk: Kiosk) -> None:
    reader = make_reader()
    reader.start(kiosk.on_tap, kiosk.on_health)
    wait_for(kiosk.saw(ReaderHealth.CONNECTED), "connected")
    assert kiosk.health[0] == (ReaderHealth.DISCONNECTED, "connecting to reader at usb:054c:06c3")
    assert kiosk.health[-1] == (ReaderHealth.CONNECTED, "reader ready: Fake RC-S380 at usb:001:004")
    assert reader.health is ReaderHealth.CONNECTED


def test_a_tag_identifier_becomes_a_normalised_tap_on_the_reader_thread(
        make_reader: Callable[..., NfcpyReader], kiosk: Kiosk, bus: Bus) -> None:
    make_reader().start(kiosk.on_tap, kiosk.on_health)
    bus.tag(b"\x04\xa1\xb2\xc3\xd4\xe5\xf6", arrive=1000.0)
    wait_for(lambda: kiosk.taps, "a tap")
    assert (kiosk.taps[0].uid, kiosk.taps[0].reader_id, kiosk.taps[0].monotonic) == \
        ("04A1B2C3D4E5F6", "lobby", 1000.0)
    assert kiosk.threads == {"nfc-reader-lobby"}


def test_a_badge_lifted_and_touched_again_at_once_counts_once(make_reader: Callable[..., NfcpyReader],
                                                              kiosk: Kiosk, bus: Bus) -> None:
    make_reader(debounce=2.0).start(kiosk.on_tap, kiosk.on_health)
    bus.tag(b"\x04\xa1", arrive=1000.0, leave=1030.0)  # held for half a minute
    bus.tag(b"\x04\xa1", arrive=1031.0)  # the window runs from when it left, not when it came
    bus.tag(b"\x04\xa1", arrive=1034.0)
    wait_for(lambda: bus.events.empty() and len(kiosk.taps) == 2, "two taps")
    assert [t.monotonic for t in kiosk.taps] == [1000.0, 1034.0]


def test_a_reader_that_vanishes_mid_read_reports_disconnected_and_comes_back_on_a_fresh_frontend(
        make_reader: Callable[..., NfcpyReader], kiosk: Kiosk, bus: Bus) -> None:
    make_reader().start(kiosk.on_tap, kiosk.on_health)
    wait_for(kiosk.saw(ReaderHealth.CONNECTED), "connected")
    bus.events.put(("lose",))
    wait_for(kiosk.saw(ReaderHealth.CONNECTED, times=2), "reconnected")
    assert kiosk.states() == [ReaderHealth.DISCONNECTED, ReaderHealth.CONNECTED,
                              ReaderHealth.DISCONNECTED, ReaderHealth.CONNECTED]
    assert "stopped answering" in kiosk.health[2][1]
    assert len(bus.frontends) == 2 and bus.frontends[0].closed
    bus.tag(b"\x04\xa1", arrive=1000.0)
    wait_for(lambda: kiosk.taps, "a tap after reconnecting")


def test_an_io_error_escaping_nfcpy_is_a_disconnect_too(make_reader: Callable[..., NfcpyReader],
                                                        kiosk: Kiosk, bus: Bus) -> None:
    make_reader().start(kiosk.on_tap, kiosk.on_health)
    bus.events.put(("raise", OSError(errno.ENODEV, "No such device")))
    wait_for(kiosk.saw(ReaderHealth.CONNECTED, times=2), "reconnected")
    assert ReaderHealth.ERROR not in kiosk.states()


def test_a_reader_not_found_is_retried_with_backoff_until_it_appears(make_reader: Callable[..., NfcpyReader],
                                                                     kiosk: Kiosk, bus: Bus) -> None:
    bus.open_failures = [OSError(errno.ENODEV, os.strerror(errno.ENODEV)) for _ in range(3)]
    reader = make_reader()
    reader.start(kiosk.on_tap, kiosk.on_health)
    wait_for(kiosk.saw(ReaderHealth.CONNECTED), "connected")
    assert reader.open_attempts == 4
    # retries repeat the same state and message, so the screen hears of it once
    assert kiosk.health[1] == (ReaderHealth.DISCONNECTED, "no reader found at usb:054c:06c3; retrying")
    assert kiosk.states() == [ReaderHealth.DISCONNECTED, ReaderHealth.DISCONNECTED, ReaderHealth.CONNECTED]


def test_a_reader_the_kiosk_may_not_open_is_an_error_that_names_the_fix(make_reader: Callable[..., NfcpyReader],
                                                                       kiosk: Kiosk, bus: Bus) -> None:
    bus.open_failures = [OSError(errno.EACCES, os.strerror(errno.EACCES))]
    make_reader().start(kiosk.on_tap, kiosk.on_health)
    wait_for(kiosk.saw(ReaderHealth.CONNECTED), "connected after the rule was fixed")
    state, message = kiosk.health[1]
    assert state is ReaderHealth.ERROR and "udev" in message


def test_an_unexpected_failure_while_polling_is_an_error_and_is_retried(
        make_reader: Callable[..., NfcpyReader], kiosk: Kiosk, bus: Bus) -> None:
    make_reader().start(kiosk.on_tap, kiosk.on_health)
    bus.events.put(("raise", RuntimeError("driver bug")))
    wait_for(kiosk.saw(ReaderHealth.CONNECTED, times=2), "reconnected")
    assert (ReaderHealth.ERROR, "reader at usb:054c:06c3 failed: driver bug; reconnecting") in kiosk.health


def test_a_failing_tap_handler_does_not_stop_the_reader(make_reader: Callable[..., NfcpyReader],
                                                        kiosk: Kiosk, bus: Bus) -> None:
    seen: list[str] = []

    def broken(read: BadgeRead) -> None:
        seen.append(read.uid)
        raise RuntimeError("database down")

    make_reader().start(broken, kiosk.on_health)
    bus.tag(b"\x04\xa1", arrive=1000.0)
    bus.tag(b"\x04\xb2", arrive=1000.5)
    wait_for(lambda: seen == ["04A1", "04B2"], "both taps")
    assert kiosk.states()[-1] is ReaderHealth.CONNECTED


def test_a_tag_without_a_usable_identifier_is_ignored(make_reader: Callable[..., NfcpyReader],
                                                      kiosk: Kiosk, bus: Bus) -> None:
    make_reader().start(kiosk.on_tap, kiosk.on_health)
    bus.tag(b"", arrive=1000.0)
    bus.tag(b"\x04\xa1", arrive=1000.5)
    wait_for(lambda: kiosk.taps, "the good tap")
    assert [t.uid for t in kiosk.taps] == ["04A1"]


def test_an_accepted_tap_beeps_where_the_device_can_and_a_repeat_does_not(
        make_reader: Callable[..., NfcpyReader], kiosk: Kiosk, bus: Bus) -> None:
    bus.device_factory = BeepingDevice
    make_reader().start(kiosk.on_tap, kiosk.on_health)
    bus.tag(b"\x04\xa1", arrive=1000.0)
    bus.tag(b"\x04\xa1", arrive=1000.5)
    wait_for(lambda: bus.events.empty() and kiosk.taps, "the tap")
    wait_for(lambda: bus.frontends[0].device.beeps == 1, "one beep")


def test_a_reader_told_not_to_beep_stays_silent(make_reader: Callable[..., NfcpyReader],
                                               kiosk: Kiosk, bus: Bus) -> None:
    bus.device_factory = BeepingDevice
    make_reader(beep=False).start(kiosk.on_tap, kiosk.on_health)
    bus.tag(b"\x04\xa1", arrive=1000.0)
    wait_for(lambda: kiosk.taps, "the tap")
    assert bus.frontends[0].device.beeps == 0


def test_a_tap_handler_may_stop_the_reader_without_deadlock(make_reader: Callable[..., NfcpyReader],
                                                            kiosk: Kiosk, bus: Bus) -> None:
    reader = make_reader()
    reader.start(lambda read: reader.stop(), kiosk.on_health)
    bus.tag(b"\x04\xa1", arrive=1000.0)
    wait_for(lambda: not any(t.name == "nfc-reader-lobby" for t in threading.enumerate()), "the thread to end")
    assert reader.health is ReaderHealth.DISCONNECTED


def test_a_buzzer_that_fails_never_fails_the_tap(make_reader: Callable[..., NfcpyReader],
                                                 kiosk: Kiosk, bus: Bus) -> None:
    bus.device_factory = lambda: BeepingDevice(fails=True)
    make_reader().start(kiosk.on_tap, kiosk.on_health)
    bus.tag(b"\x04\xa1", arrive=1000.0)
    bus.tag(b"\x04\xb2", arrive=1000.5)
    wait_for(lambda: len(kiosk.taps) == 2, "both taps")
    assert kiosk.states() == [ReaderHealth.DISCONNECTED, ReaderHealth.CONNECTED]


def test_stop_closes_the_frontend_joins_the_thread_and_is_safe_twice(make_reader: Callable[..., NfcpyReader],
                                                                     kiosk: Kiosk, bus: Bus) -> None:
    bus.close_fails = True  # a device already gone must not make stop() fail
    reader = make_reader()
    reader.start(kiosk.on_tap, kiosk.on_health)
    wait_for(kiosk.saw(ReaderHealth.CONNECTED), "connected")
    reader.stop()
    reader.stop()
    assert bus.frontends[0].closed
    assert not any(t.name == "nfc-reader-lobby" for t in threading.enumerate())
    assert reader.health is ReaderHealth.DISCONNECTED
    bus.tag(b"\x04\xa1", arrive=1000.0)
    assert kiosk.taps == [] and kiosk.states()[-1] is ReaderHealth.CONNECTED  # nobody is told after stop


def test_stop_while_the_device_is_missing_returns_without_waiting_out_the_backoff(
        bus: Bus, kiosk: Kiosk) -> None:
    bus.open_failures = [OSError(errno.ENODEV, "No such device")] * 100
    reader = NfcpyReader("usb", frontend_factory=bus.open, backoff_initial=30.0, backoff_cap=60.0,
                         stop_timeout=DEADLINE)
    reader.start(kiosk.on_tap, kiosk.on_health)
    wait_for(kiosk.saw(ReaderHealth.DISCONNECTED, times=2), "the failed open")
    reader.stop()
    assert not any(t.name == "nfc-reader-kiosk" for t in threading.enumerate())


def test_a_running_reader_cannot_be_started_twice(make_reader: Callable[..., NfcpyReader], kiosk: Kiosk) -> None:
    reader = make_reader()
    reader.start(kiosk.on_tap, kiosk.on_health)
    with pytest.raises(RuntimeError):
        reader.start(kiosk.on_tap, kiosk.on_health)


def test_a_stopped_reader_can_be_started_again(make_reader: Callable[..., NfcpyReader],
                                               kiosk: Kiosk, bus: Bus) -> None:
    reader = make_reader()
    reader.start(kiosk.on_tap, kiosk.on_health)
    reader.stop()
    reader.start(kiosk.on_tap, kiosk.on_health)
    bus.tag(b"\x04\xa1", arrive=1000.0)
    wait_for(lambda: kiosk.taps, "a tap after restarting")


def test_backoff_doubles_from_the_initial_wait_up_to_the_cap() -> None:
    assert list(itertools.islice(backoff_delays(0.5, 10.0), 8)) == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]


@pytest.mark.parametrize("exc, state", [
    (OSError(errno.ENODEV, "No such device"), ReaderHealth.DISCONNECTED),
    (OSError(-2, "Name or service not known"), ReaderHealth.DISCONNECTED),
    (OSError(errno.EACCES, "Permission denied"), ReaderHealth.ERROR),
    (OSError(errno.EBUSY, "Device or resource busy"), ReaderHealth.ERROR),
    (ImportError("No module named 'usb1'"), ReaderHealth.ERROR),
])
def test_open_errors_become_health(exc: BaseException, state: ReaderHealth) -> None:
    assert describe_open_error("usb", exc)[0] is state


def test_targets_must_be_nfcpy_technologies() -> None:
    with pytest.raises(ValueError):
        NfcpyReader("usb", targets=["MIFARE"])
    with pytest.raises(ValueError):
        NfcpyReader("usb", targets=[])
