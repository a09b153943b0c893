"""Reference firmware, inputs: debouncing, end-of-line classification and the ACK event buffer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floor_sensors.firmware import debounce, eol, evbuf


def test_a_change_is_reported_once_it_has_been_stable_for_the_debounce_time() -> None:
    d = debounce.Debouncer("N", stable_ms=50)
    assert d.update("A", 1000) is None
    assert d.update("A", 1049) is None
    assert d.update("A", 1050) == "A"
    assert d.update("A", 1100) is None  # reported once


def test_contact_bounce_shorter_than_the_debounce_time_is_ignored() -> None:
    d = debounce.Debouncer("N", stable_ms=50)
    for t, raw in [(0, "A"), (10, "N"), (20, "A"), (30, "N"), (45, "A"), (60, "N")]:
        assert d.update(raw, t) is None
    assert d.state == "N"


def test_any_change_held_400_ms_is_reported_whatever_the_debounce_setting() -> None:
    for stable in (0, 50, 400):
        d = debounce.Debouncer("N", stable_ms=stable)
        reported = [d.update("A", t) for t in range(0, 401, 5)]
        assert "A" in reported


def test_a_debounce_time_above_400_ms_is_refused() -> None:
    with pytest.raises(ValueError):
        debounce.Debouncer("N", stable_ms=401)


def test_the_debouncer_uses_the_given_ticks_diff_so_wrapping_ticks_work() -> None:
    period = 1 << 30  # MicroPython's ticks_ms wraps here

    def ticks_diff(a: int, b: int) -> int:
        return ((a - b + period // 2) % period) - period // 2

    d = debounce.Debouncer("N", 50, ticks_diff)
    assert d.update("A", period - 20) is None
    assert d.update("A", 30) == "A"


def ohms_to_raw(loop: float) -> int:
    return int(eol.FULL_SCALE * eol.fraction(loop))


def test_the_four_line_conditions_classify_as_t_n_a_f() -> None:
    assert eol.classify(ohms_to_raw(0)) == "T"
    assert eol.classify(ohms_to_raw(eol.R_SERIES)) == "N"
    assert eol.classify(ohms_to_raw(eol.R_SERIES + eol.R_PARALLEL)) == "A"
    assert eol.classify(ohms_to_raw(float("inf"))) == "F"


@given(st.floats(0.95, 1.05), st.floats(0.95, 1.05), st.floats(0.95, 1.05), st.integers(-600, 600))
def test_five_percent_resistors_and_adc_error_still_classify_correctly(
    pullup: float, series: float, parallel: float, adc_error: int
) -> None:
    rp, rs, rpar = eol.R_PULLUP * pullup, eol.R_SERIES * series, eol.R_PARALLEL * parallel

    def raw(loop: float) -> int:
        return max(0, min(eol.FULL_SCALE, int(eol.FULL_SCALE * eol.fraction(loop, rp)) + adc_error))

    assert eol.classify(raw(0)) == "T"
    assert eol.classify(raw(rs)) == "N"
    assert eol.classify(raw(rs + rpar)) == "A"
    assert eol.classify(raw(float("inf"))) == "F"


def test_a_short_or_a_cut_is_never_read_as_a_closed_contact() -> None:
    assert eol.classify(0) != "N" and eol.classify(eol.FULL_SCALE) != "N"


def test_unacknowledged_frames_are_re_sent_unchanged_every_500_ms_until_acked() -> None:
    buf = evbuf.EventBuffer()
    buf.add(7, b"$frame7", 0)
    assert buf.due(499) == []
    assert buf.due(500) == [b"$frame7"]
    assert buf.due(900) == []
    assert buf.due(1000) == [b"$frame7"]
    assert buf.ack(7) and buf.due(5000) == []
    assert not buf.ack(7)


def test_a_full_buffer_drops_the_oldest_and_counts_it_for_buf_overflow() -> None:
    buf = evbuf.EventBuffer(capacity=2)
    for seq in (1, 2, 3):
        buf.add(seq, b"f%d" % seq, 0)
    assert [f[0] for f in buf.frames] == [2, 3]
    assert buf.take_lost() == 1 and buf.take_lost() == 0
