"""The simulated reader taps and fails exactly as a real one would, on command."""

from __future__ import annotations

import pytest

from kiosk.devices.base import BadgeRead, ReaderHealth
from kiosk.devices.sim import SimulatedReader
from kiosk.domain.badges import InvalidBadgeUid


class Recorder:
    """The kiosk's side of a reader: what it was told."""

    def __init__(self) -> None:
        self.taps: list[BadgeRead] = []
        self.health: list[tuple[ReaderHealth, str]] = []

    def on_tap(self, read: BadgeRead) -> None:
        self.taps.append(read)

    def on_health(self, state: ReaderHealth, message: str) -> None:
        self.health.append((state, message))


@pytest.fixture
def kiosk() -> Recorder:
    return Recorder()


@pytest.fixture
def reader(kiosk: Recorder) -> SimulatedReader:
    reader = SimulatedReader(reader_id="lobby", debounce=2.0)
    reader.start(kiosk.on_tap, kiosk.on_health)
    return reader


def test_starting_reports_a_connected_reader(reader: SimulatedReader, kiosk: Recorder) -> None:
    assert kiosk.health == [(ReaderHealth.CONNECTED, "simulated reader")]


def test_a_tap_is_delivered_with_the_uid_normalised(reader: SimulatedReader, kiosk: Recorder) -> None:
    read = reader.tap("04:a1:b2:c3", now=50.0)
    assert kiosk.taps == [read]
    assert (read.uid, read.reader_id, read.monotonic) == ("04A1B2C3", "lobby", 50.0)


def test_a_tap_given_as_bytes_reads_like_one_from_nfcpy(reader: SimulatedReader, kiosk: Recorder) -> None:
    reader.tap(b"\x04\xa1\xb2\xc3", now=50.0)
    assert kiosk.taps[0].uid == "04A1B2C3"


def test_a_badge_held_on_the_reader_counts_once(reader: SimulatedReader, kiosk: Recorder) -> None:
    for i in range(10):
        reader.tap("04A1B2", now=50.0 + i * 0.5)
    assert len(kiosk.taps) == 1


def test_the_same_badge_after_the_window_counts_again(reader: SimulatedReader, kiosk: Recorder) -> None:
    reader.tap("04A1B2", now=50.0)
    assert reader.tap("04A1B2", now=51.0) is None
    assert reader.tap("04A1B2", now=53.5) is not None
    assert len(kiosk.taps) == 2


def test_an_unplugged_reader_reports_it_and_reads_nothing(reader: SimulatedReader, kiosk: Recorder) -> None:
    reader.unplug()
    assert reader.tap("04A1B2", now=50.0) is None
    assert kiosk.taps == []
    assert kiosk.health[-1] == (ReaderHealth.DISCONNECTED, "simulated reader unplugged")
    assert reader.health is ReaderHealth.DISCONNECTED


def test_a_replugged_reader_reports_it_and_reads_again(reader: SimulatedReader, kiosk: Recorder) -> None:
    reader.unplug()
    reader.replug()
    assert reader.tap("04A1B2", now=50.0) is not None
    assert [state for state, _ in kiosk.health] == [ReaderHealth.CONNECTED, ReaderHealth.DISCONNECTED,
                                                    ReaderHealth.CONNECTED]


def test_a_failing_reader_reports_an_error(reader: SimulatedReader, kiosk: Recorder) -> None:
    reader.fail("antenna fault")
    assert kiosk.health[-1] == (ReaderHealth.ERROR, "antenna fault")
    assert reader.tap("04A1B2", now=50.0) is None


def test_health_that_did_not_change_is_not_reported_again(reader: SimulatedReader, kiosk: Recorder) -> None:
    reader.unplug()
    reader.unplug()
    assert len(kiosk.health) == 2


def test_a_uid_no_reader_could_produce_is_refused(reader: SimulatedReader) -> None:
    with pytest.raises(InvalidBadgeUid):
        reader.tap("not a badge")


def test_a_reader_not_started_reads_nothing() -> None:
    assert SimulatedReader().tap("04A1B2", now=1.0) is None


def test_a_stopped_reader_tells_nobody(reader: SimulatedReader, kiosk: Recorder) -> None:
    reader.stop()
    reader.stop()
    reader.tap("04A1B2", now=50.0)
    reader.unplug()
    assert kiosk.taps == [] and len(kiosk.health) == 1


def test_a_failing_tap_handler_does_not_break_the_reader(kiosk: Recorder) -> None:
    def broken(read: BadgeRead) -> None:
        raise RuntimeError("database down")

    reader = SimulatedReader()
    reader.start(broken, kiosk.on_health)
    assert reader.tap("04A1B2", now=1.0) is not None
    assert reader.tap("04C3D4", now=1.1) is not None


def test_the_clock_is_read_when_no_time_is_given(kiosk: Recorder) -> None:
    times = iter([10.0, 10.5, 13.0])
    reader = SimulatedReader(clock=lambda: next(times))
    reader.start(kiosk.on_tap, kiosk.on_health)
    reader.tap("04A1B2")
    reader.tap("04A1B2")
    reader.tap("04A1B2")
    assert [t.monotonic for t in kiosk.taps] == [10.0, 13.0]
