"""PostgreSQL restarted under a running server: requests fail fast with a clear error, then recover by themselves."""

from __future__ import annotations

import time

import pytest

from kiosk.web import create_app


@pytest.mark.postgres
def test_a_request_during_a_database_restart_fails_fast_with_a_message_and_later_ones_succeed(pg_behind_relay):
    instance, relay = pg_behind_relay
    client = create_app(instance=str(instance)).test_client()
    assert client.get("/api/v1/rollcall").status_code == 200
    relay.cut()
    started = time.monotonic()
    resp = client.get("/api/v1/rollcall")
    assert resp.status_code == 503 and resp.get_json()["error"] == "database_unavailable"
    assert "try again" in resp.get_json()["message"]
    assert time.monotonic() - started < 10  # fails fast, does not hang
    relay.restore()
    assert client.get("/api/v1/rollcall").status_code == 200  # no server restart needed
