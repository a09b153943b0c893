"""A keyboard-wedge reader: the page captures the typed UID, the server takes it from there."""

from __future__ import annotations

import pytest

from kiosk.devices.base import BadgeRead, ReaderHealth
from kiosk.devices.wedge import WedgeReader
from kiosk.domain.badges import InvalidBadgeUid


@pytest.fixture
def taps() -> list[BadgeRead]:
    return []


@pytest.fixture
def health() -> list[tuple[ReaderHealth, str]]:
    return []


@pytest.fixture
def reader(taps: list[BadgeRead], health: list[tuple[ReaderHealth, str]]) -> WedgeReader:
    reader = WedgeReader(reader_id="gate", debounce=2.0)
    reader.start(taps.append, lambda *h: health.append(h))
    return reader


def test_a_wedge_reader_is_always_connected(reader: WedgeReader,
                                            health: list[tuple[ReaderHealth, str]]) -> None:
    assert reader.health is ReaderHealth.CONNECTED
    assert WedgeReader().health is ReaderHealth.CONNECTED
    assert [state for state, _ in health] == [ReaderHealth.CONNECTED]


def test_typed_text_with_the_trailing_enter_becomes_a_normalised_tap(reader: WedgeReader,
                                                                     taps: list[BadgeRead]) -> None:
    read = reader.submit("04a1b2c3\n", now=5.0)
    assert taps == [read]
    assert (read.uid, read.reader_id) == ("04A1B2C3", "gate")


def test_separators_some_wedges_type_are_ignored(reader: WedgeReader, taps: list[BadgeRead]) -> None:
    reader.submit("04:A1:B2:C3", now=5.0)
    assert taps[0].uid == "04A1B2C3"


def test_a_badge_typed_twice_within_the_window_counts_once(reader: WedgeReader, taps: list[BadgeRead]) -> None:
    reader.submit("04A1B2C3", now=5.0)
    assert reader.submit("04a1b2c3", now=6.0) is None
    assert reader.submit("04A1B2C3", now=8.5) is not None  # window slides from the last read
    assert len(taps) == 2


def test_text_that_is_not_a_uid_is_refused_for_the_page_to_show(reader: WedgeReader,
                                                                taps: list[BadgeRead]) -> None:
    with pytest.raises(InvalidBadgeUid):
        reader.submit("hello\n")
    with pytest.raises(ValueError):
        reader.submit("")
    assert taps == []


def test_a_stopped_wedge_delivers_nothing(reader: WedgeReader, taps: list[BadgeRead]) -> None:
    reader.stop()
    reader.stop()
    assert reader.submit("04A1B2C3", now=5.0) is None
    assert taps == []
