"""When the kiosk server pets systemd's watchdog: restart a wedged process, never one waiting for its database."""

from __future__ import annotations

from kiosk.watchdog import STUCK_ROUNDS, Observation, judge


def observed(**changes: object) -> Observation:
    base: dict[str, object] = {"http_error": None, "pool_error": None, "fresh_error": None, "timers": "ok"}
    return Observation(**{**base, **changes})  # type: ignore[arg-type]


def test_a_server_that_answers_with_its_database_and_timers_fine_is_healthy() -> None:
    verdict = judge(observed(), stuck_rounds=0)
    assert verdict.healthy and verdict.database == "ok" and verdict.problem == ""


def test_a_worker_that_does_not_answer_http_gets_no_ping() -> None:
    verdict = judge(observed(http_error="no answer for 5 s"), stuck_rounds=0)
    assert not verdict.healthy and "not answering HTTP" in verdict.problem


def test_a_database_away_for_everyone_keeps_the_pings_going_and_says_a_restart_would_not_help() -> None:
    verdict = judge(observed(pool_error="connection refused", fresh_error="connection refused"), stuck_rounds=0)
    assert verdict.healthy and verdict.database == "unreachable"
    assert "a restart would not help" in verdict.problem


def test_a_pool_that_fails_while_a_new_connection_works_stops_the_pings_only_after_some_rounds() -> None:
    obs = observed(pool_error="QueuePool limit of size 10 overflow 20 reached")
    assert all(judge(obs, stuck_rounds=n).healthy for n in range(STUCK_ROUNDS))
    verdict = judge(obs, stuck_rounds=STUCK_ROUNDS)
    assert not verdict.healthy and verdict.database == "stuck" and "this process's pool" in verdict.problem


def test_a_stopped_timer_thread_or_a_stuck_tick_gets_no_ping() -> None:
    assert not judge(observed(timers="stopped"), stuck_rounds=0).healthy
    stuck = judge(observed(timers="stuck", tick_seconds=412.0), stuck_rounds=0)
    assert not stuck.healthy and "412 s" in stuck.problem


def test_a_process_without_timers_is_judged_on_the_rest() -> None:
    assert judge(observed(timers="off"), stuck_rounds=0).healthy


def test_a_wedged_worker_is_not_excused_by_a_database_outage() -> None:
    verdict = judge(observed(http_error="no answer for 5 s", pool_error="refused", fresh_error="refused"), 0)
    assert not verdict.healthy


def test_a_check_that_hangs_is_reported_as_not_answering_and_never_run_twice_at_once() -> None:
    import threading

    from kiosk.watchdog import Probe

    release, runs = threading.Event(), []

    def hangs() -> None:
        runs.append(1)
        release.wait(10)

    probe = Probe("database", hangs)
    assert probe.run(deadline=0.01).startswith("no answer for")
    assert probe.run(deadline=0.01).startswith("no answer for")  # still the first one, not a second
    assert len(runs) == 1
    release.set()
    assert probe.run(deadline=5) is None


def test_a_check_that_fails_says_why_in_one_line() -> None:
    from kiosk.watchdog import Probe

    def fails() -> None:
        raise ConnectionError("connection refused\nIs the server running on that host?")

    assert Probe("database", fails).run(deadline=5) == "connection refused"
