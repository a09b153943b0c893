"""Taps and door events go first; housekeeping waits for them (bounded), and never while they run."""

from __future__ import annotations

import threading
import time

from kiosk.services.context import Priority


def test_step_aside_returns_at_once_when_nothing_runs_and_waits_for_foreground_work_to_end():
    p = Priority()
    assert p.step_aside(max_wait=0) is True
    inside, release = threading.Event(), threading.Event()

    def tap() -> None:
        with p.foreground():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=tap)
    t.start()
    assert inside.wait(5)
    assert p.step_aside(max_wait=0.01) is False  # still running: the caller goes on after its bounded wait
    done = []
    waiter = threading.Thread(target=lambda: done.append(p.step_aside(max_wait=5)))
    waiter.start()
    release.set()
    waiter.join(5)
    t.join(5)
    assert done == [True]


def test_overlapping_foreground_work_keeps_background_waiting_until_the_last_ends():
    p = Priority()
    with p.foreground():
        with p.foreground():
            pass
        assert p.step_aside(max_wait=0) is False  # one still runs
    assert p.step_aside(max_wait=0) is True


def test_wait_for_lull_waits_for_a_quiet_moment_after_the_last_tap_but_not_past_its_deadline():
    p = Priority()
    assert p.wait_for_lull(until=time.monotonic() + 5) is True  # never any tap: a lull at once
    with p.foreground():
        pass
    start = time.monotonic()
    assert p.wait_for_lull(until=start + 5, quiet=0.05) is True
    assert time.monotonic() - start >= 0.04  # it waited for the quiet period after the tap ended
    with p.foreground():
        assert p.wait_for_lull(until=time.monotonic() + 0.02) is False  # a tap running: the deadline wins
    assert p.wait_for_lull(until=time.monotonic() - 1) is False  # a deadline already past: no wait at all
    assert p.wait_for_lull(until=time.monotonic() - 1, quiet=0.0) is True  # ... but a quiet moment is taken


def test_a_steady_stream_of_taps_delays_background_work_only_until_its_deadline():
    p = Priority()
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            with p.foreground():
                time.sleep(0.001)

    t = threading.Thread(target=stream)
    t.start()
    try:
        start = time.monotonic()
        assert p.wait_for_lull(until=start + 0.2, quiet=0.05) is False
        assert 0.19 <= time.monotonic() - start < 2.0
    finally:
        stop.set()
        t.join(5)
