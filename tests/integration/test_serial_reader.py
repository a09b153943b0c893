"""The real SerialLineReader (pyserial) on a pty pair: the test writes what a serial badge reader sends.

Unplugging is closing the pty's master side; plugging back in is a new pty behind the same path (a
symlink, as udev's ``/dev/serial/by-id`` names are). Every wait has a deadline and waits for an event.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from kiosk.devices.base import ReaderHealth
from kiosk.devices.serial_reader import MAX_LINE, SerialLineReader, describe_port_error, split_lines
from reader_events import ReaderEvents as Kiosk

pytestmark = pytest.mark.hardware_sim

DEADLINE = 5.0


class Port:
    """A pty pair whose slave is reached through ``path`` (a symlink); ``unplug`` and ``plug`` swap it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.master = self.slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        if self.path.is_symlink():
            self.path.unlink()
        self.path.symlink_to(os.ttyname(self.slave))

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        for fd in (self.master, self.slave):
            os.close(fd)
        self.master = self.slave = -1
        self.path.unlink()

    def close(self) -> None:
        if self.master >= 0:
            self.unplug()


@pytest.fixture
def port(tmp_path: Path) -> Iterator[Port]:
    p = Port(tmp_path / "ttyREADER")
    yield p
    p.close()


@pytest.fixture
def kiosk() -> Kiosk:
    return Kiosk(DEADLINE)


@pytest.fixture
def start(kiosk: Kiosk) -> Iterator[Callable[..., SerialLineReader]]:
    readers: list[SerialLineReader] = []

    def go(path: Path, **kw: float) -> SerialLineReader:
        reader = SerialLineReader(str(path), backoff_initial=0.01, backoff_cap=0.05, read_timeout=0.05, **kw)
        readers.append(reader)
        reader.start(kiosk.on_tap, kiosk.on_health)
        return reader

    yield go
    for reader in readers:
        reader.stop()


def connected(kiosk: Kiosk) -> Callable[[], bool]:
    return lambda: kiosk.state() is ReaderHealth.CONNECTED


def test_each_line_or_frame_the_reader_sends_is_a_tap(port: Port, kiosk: Kiosk, start) -> None:
    start(port.path, debounce=0.0)
    kiosk.wait(connected(kiosk), "the reader to connect")
    port.send(b"04a1b2c3\r\n")  # CR LF, lower case
    port.send(b"\x020415AB12CD\x03")  # an STX ... ETX frame
    port.send(b"04:A1:B2:C4")  # a line that arrives in two pieces
    kiosk.wait(lambda: len(kiosk.taps) == 2, "two taps")
    port.send(b"\n")
    kiosk.wait(lambda: len(kiosk.taps) == 3, "the third tap")
    assert kiosk.uids() == ["04A1B2C3", "0415AB12CD", "04A1B2C4"]
    assert {t.reader_id for t in kiosk.taps} == {"kiosk"}
    assert kiosk.health[-1] == (ReaderHealth.CONNECTED, f"serial reader ready at {port.path}")


def test_a_badge_resting_on_a_reader_that_repeats_it_is_one_tap(port: Port, kiosk: Kiosk, start) -> None:
    start(port.path, debounce=2.0)
    kiosk.wait(connected(kiosk), "the reader to connect")
    port.send(b"04A1B2C3\r\n" * 5 + b"04FFFF01\r\n")
    kiosk.wait(lambda: "04FFFF01" in kiosk.uids(), "the second badge")
    assert kiosk.uids() == ["04A1B2C3", "04FFFF01"]


def test_noise_is_logged_without_the_text_and_skipped_and_reading_goes_on(
        port: Port, kiosk: Kiosk, start, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kiosk.devices.serial_reader")
    start(port.path, debounce=0.0)
    kiosk.wait(connected(kiosk), "the reader to connect")
    port.send(b"hello 1234567\r\n\xff\xfe\r\n123\r\n")  # not hex; not text; odd number of digits
    port.send(b"9" * (MAX_LINE + 10))  # a wrong baud rate: bytes and never a line end
    port.send(b"\r\n04A1B2C3\r\n")
    kiosk.wait(lambda: kiosk.taps, "the good line after the noise")
    assert kiosk.uids() == ["04A1B2C3"]
    warnings = [r.getMessage() for r in caplog.records]
    # The run of nines is dropped as it comes in, or skipped as one over-long line if its end came with it.
    assert sum("not a badge UID" in w or "without a line end dropped (wrong baud rate?)" in w
               for w in warnings) == 4
    assert not any("hello" in w or "1234567" in w for w in warnings)
    assert kiosk.state() is ReaderHealth.CONNECTED


def test_an_unplugged_reader_is_disconnected_and_reads_again_once_plugged_back(
        port: Port, kiosk: Kiosk, start) -> None:
    start(port.path, debounce=0.0)
    kiosk.wait(connected(kiosk), "the reader to connect")
    port.send(b"04A1B2C3\r\n")
    kiosk.wait(lambda: len(kiosk.taps) == 1, "the first tap")
    port.unplug()
    kiosk.wait(lambda: kiosk.state() is ReaderHealth.DISCONNECTED, "the reader to be seen unplugged")
    assert "unplugged" in kiosk.health[-1][1] or "no serial reader" in kiosk.health[-1][1]
    port.plug()
    kiosk.wait(connected(kiosk), "the reader to reconnect")
    port.send(b"04A1B2C4\r\n")
    kiosk.wait(lambda: len(kiosk.taps) == 2, "a tap after the reconnect")
    assert kiosk.uids() == ["04A1B2C3", "04A1B2C4"]


def test_a_port_that_is_not_there_is_retried_until_it_is(tmp_path: Path, kiosk: Kiosk, start) -> None:
    path = tmp_path / "ttyLATER"
    start(path, debounce=0.0)
    kiosk.wait(lambda: kiosk.state() is ReaderHealth.DISCONNECTED and "no serial reader" in kiosk.health[-1][1],
               "the missing port to be reported")
    port = Port(path)
    try:
        kiosk.wait(connected(kiosk), "the reader to connect once the port is there")
        port.send(b"04A1B2C3\n")
        kiosk.wait(lambda: kiosk.taps, "a tap")
    finally:
        port.close()


def test_stop_ends_the_thread_says_so_and_may_be_called_twice(port: Port, kiosk: Kiosk) -> None:
    reader = SerialLineReader(str(port.path), read_timeout=0.05)
    reader.start(kiosk.on_tap, kiosk.on_health)
    kiosk.wait(connected(kiosk), "the reader to connect")
    reader.stop()
    assert reader._thread is None
    assert (reader.health, reader.health_message) == (ReaderHealth.DISCONNECTED, "reader stopped")
    reader.stop()  # twice is fine


def test_split_lines_keeps_the_unfinished_rest() -> None:
    assert split_lines(b"\x02AB\x03\r\nCD\r\n\nEF") == ([b"AB", b"CD"], b"EF")
    assert split_lines(b"") == ([], b"")


@pytest.mark.parametrize("code, state, words", [(13, ReaderHealth.ERROR, "dialout"),
                                                (16, ReaderHealth.ERROR, "busy"),
                                                (2, ReaderHealth.DISCONNECTED, "no serial reader")])
def test_an_open_error_says_what_to_do(code: int, state: ReaderHealth, words: str) -> None:
    got_state, message = describe_port_error("/dev/ttyUSB0", OSError(code, os.strerror(code)))
    assert got_state is state and words in message and "/dev/ttyUSB0" in message
