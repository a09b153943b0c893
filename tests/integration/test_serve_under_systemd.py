"""`kiosk serve` under systemd (Type=notify, WatchdogSec=): ready once it serves, pings while healthy, a status line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_systemd import NotifySocket
from serve_harness import free_port, start_kiosk, stop_servers


@pytest.fixture
def systemd() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


def test_kiosk_serve_says_ready_once_it_answers_then_pets_the_watchdog_with_a_status_line(instance, systemd):
    port = free_port()
    server = start_kiosk(instance, port, KIOSK_NFC_DEVICE="none", **systemd.env(watchdog_seconds=2.0))
    try:
        ready = systemd.wait_for("READY", timeout=20)
        assert f"serving on 127.0.0.1:{port}" in ready["STATUS"] and "database ok" in ready["STATUS"]
        for _ in range(2):
            ping = systemd.wait_for("WATCHDOG", timeout=10)
            assert "floor timers run here" in ping["STATUS"] and "0 screens connected" in ping["STATUS"]
    finally:
        stop_servers([(port, server)])
    # gunicorn's own READY=1 (sent before the app is even built) never reached systemd.
    assert not any("Gunicorn" in m.get("STATUS", "") for m in systemd.received)
    assert sum(1 for m in systemd.received if m.get("READY") == "1") == 1


@pytest.mark.postgres
def test_a_database_restart_keeps_the_watchdog_pinged_and_shows_in_the_status_line(pg_behind_relay, systemd):
    instance, relay = pg_behind_relay
    port = free_port()
    server = start_kiosk(instance, port, KIOSK_NFC_DEVICE="none", **systemd.env(watchdog_seconds=2.0))
    try:
        systemd.wait_for("READY", timeout=20)
        relay.cut()
        # Restarting the server cannot bring the database back: the pings go on, the status says why.
        for _ in range(3):
            ping = systemd.wait_for("WATCHDOG", timeout=10, where=lambda m: "unreachable" in m["STATUS"])
            assert "database unreachable since" in ping["STATUS"] and "a restart would not help" in ping["STATUS"]
        relay.restore()
        systemd.wait_for("WATCHDOG", timeout=15, where=lambda m: "database ok" in m["STATUS"])
    finally:
        output = stop_servers([(port, server)])[0]
    assert "the database is unreachable" in output and "the database is reachable again" in output
