"""The repeat filter: a badge held on (or bounced off) the reader counts once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kiosk.devices.base import RepeatFilter


def test_the_first_read_of_a_badge_is_a_tap() -> None:
    assert RepeatFilter(window=2.0).accept("04A1B2", now=100.0)


def test_the_same_badge_again_within_the_window_is_dropped() -> None:
    repeats = RepeatFilter(window=2.0)
    repeats.accept("04A1B2", now=100.0)
    assert not repeats.accept("04A1B2", now=101.9)


def test_the_same_badge_after_the_window_counts_again() -> None:
    repeats = RepeatFilter(window=2.0)
    repeats.accept("04A1B2", now=100.0)
    assert repeats.accept("04A1B2", now=102.0)


def test_a_different_badge_within_the_window_counts() -> None:
    repeats = RepeatFilter(window=2.0)
    repeats.accept("04A1B2", now=100.0)
    assert repeats.accept("04C3D4", now=100.1)


def test_a_badge_held_on_the_reader_counts_once_however_long_it_is_held() -> None:
    # A reader re-reading a resting badge every half second: the window keeps sliding.
    repeats = RepeatFilter(window=2.0)
    reads = [repeats.accept("04A1B2", now=100.0 + 0.5 * i) for i in range(40)]
    assert reads.count(True) == 1


def test_a_busy_floor_does_not_forget_a_badge_still_inside_its_window() -> None:
    repeats = RepeatFilter(window=2.0)
    repeats.accept("FFFF", now=100.0)
    for i in range(2000):  # enough distinct badges to make the filter prune
        repeats.accept(f"{i:08X}", now=100.0 + i * 0.0005)
    assert not repeats.accept("FFFF", now=101.5)


@given(st.lists(st.tuples(st.sampled_from(["A1", "B2", "C3"]), st.floats(min_value=0, max_value=5)),
                max_size=50))
def test_a_read_counts_exactly_when_the_same_badge_was_not_seen_within_the_window(
        steps: list[tuple[str, float]]) -> None:
    repeats = RepeatFilter(window=2.0)
    now, last_seen = 0.0, {}
    for uid, gap in steps:
        now += gap
        expected = uid not in last_seen or now - last_seen[uid] >= 2.0
        assert repeats.accept(uid, now) is expected
        last_seen[uid] = now
