"""KIOSK_NFC_DEVICE picks the reader adapter; a bad value is a clear start-up error."""

from __future__ import annotations

import threading

import pytest

from kiosk.devices.base import ReaderHealth
from kiosk.devices.nfc import NfcpyReader
from kiosk.devices.registry import NoReader, ReaderSpec, open_reader, parse_reader_spec
from kiosk.devices.serial_reader import SerialLineReader
from kiosk.devices.sim import SimulatedReader
from kiosk.devices.wedge import WedgeReader

NFCPY_PATHS = ["usb", "usb:054c", "usb:054c:06c3", "usb:072f:2200", "usb:001", "usb:001:004",
               "tty:USB0:pn532", "tty:AMA0:pn532", "tty:ACM0", "tty:S0:arygon",
               "udp", "udp:localhost", "udp:localhost:54321", "udp:127.0.0.1:9000", "udp::9000"]


@pytest.mark.parametrize("path", NFCPY_PATHS)
def test_nfcpy_paths_are_passed_to_nfcpy_as_written(path: str) -> None:
    spec = parse_reader_spec(path)
    assert (spec.kind, spec.path) == ("nfcpy", path)


@pytest.mark.parametrize("spec, kind", [("sim", SimulatedReader), ("wedge", WedgeReader),
                                        ("none", NoReader), ("usb:054c:06c3", NfcpyReader),
                                        ("udp:localhost:54321", NfcpyReader),
                                        ("serial:/dev/ttyUSB0", SerialLineReader)])
def test_each_spec_opens_its_adapter(spec: str, kind: type) -> None:
    assert isinstance(open_reader(spec), kind)


@pytest.mark.parametrize("text, spec", [
    ("serial:/dev/ttyUSB0", ReaderSpec("serial", "/dev/ttyUSB0", 9600)),
    ("serial:/dev/ttyACM0@115200", ReaderSpec("serial", "/dev/ttyACM0", 115200)),
    # udev's stable names have colons in them: the baud rate follows an @
    ("Serial:/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0",
     ReaderSpec("serial", "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0", 9600)),
])
def test_a_serial_reader_is_a_device_path_and_a_baud_rate(text: str, spec: ReaderSpec) -> None:
    assert parse_reader_spec(text) == spec
    reader = open_reader(text, reader_id="door-2")
    assert (reader.path, reader.baud, reader.reader_id) == (spec.path, spec.baud, "door-2")
    assert reader.health is ReaderHealth.DISCONNECTED  # nothing opened before start()


@pytest.mark.parametrize("spec", ["serial:", "serial:ttyUSB0", "serial:/dev/ttyUSB0@9", "serial:/dev/ttyUSB0@fast"])
def test_a_serial_reader_without_an_absolute_path_or_with_a_bad_baud_rate_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="serial:/dev/PORT@BAUD"):
        parse_reader_spec(spec)


def test_keywords_and_the_nfcpy_scheme_ignore_case_and_surrounding_space() -> None:
    assert parse_reader_spec("  Sim ").kind == "sim"
    assert parse_reader_spec("USB:054C:06C3").path == "usb:054C:06C3"


def test_the_reader_gets_its_id_and_debounce_window() -> None:
    reader = open_reader("sim", reader_id="door-3", debounce=0.5)
    taps = []
    reader.start(taps.append, lambda *_: None)
    reader.tap("04A1B2", now=10.0)
    reader.tap("04A1B2", now=10.6)
    assert [t.reader_id for t in taps] == ["door-3", "door-3"]


def test_opening_a_reader_starts_no_thread_and_touches_no_device() -> None:
    before = threading.active_count()
    reader = open_reader("usb:054c:06c3")
    assert threading.active_count() == before
    assert reader.health is ReaderHealth.DISCONNECTED
    assert reader.open_attempts == 0


def test_a_udp_reader_polls_only_felica_so_each_poll_is_one_second_not_two() -> None:
    reader = open_reader("udp:localhost:54321")
    assert reader.targets == ("212F",) and reader.iterations == 1


def test_a_hardware_reader_polls_mifare_and_felica() -> None:
    assert open_reader("usb").targets == ("106A", "212F")


@pytest.mark.parametrize("spec", ["", "nfc", "serial", "usb:54c", "usb:054c:06c3:1", "tty", "tty:USB",
                                  "tty:USB0:pn533x", "com:COM1:pn532", "udp:localhost:70000", "pcsc"])
def test_anything_else_is_refused_with_the_valid_forms_listed(spec: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_reader_spec(spec)
    for form in ("sim", "wedge", "none", "usb:054c:06c3", "tty:USB0:pn532", "udp:localhost:54321",
                 "serial:/dev/ttyUSB0@9600"):
        assert form in str(caught.value)


def test_a_udp_port_without_a_host_is_refused_because_nfcpy_would_take_it_for_a_host() -> None:
    with pytest.raises(ValueError, match="udp::54321"):
        parse_reader_spec("udp:54321")


def test_no_reader_never_taps_and_says_why() -> None:
    reader = open_reader("none")
    health = []
    reader.start(lambda read: pytest.fail("no reader cannot tap"), lambda *h: health.append(h))
    assert health == [(ReaderHealth.DISCONNECTED, "no reader configured")]
    reader.stop()
    reader.stop()
