"""Redis dies under two kiosk serve processes and comes back: nothing is lost, nothing hangs, fan-out resumes."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import select

from kiosk.config import load_config
from kiosk.store.db import make_engine
from kiosk.store.models import SensorEvent
from private_redis import PrivateRedis, private_redis  # noqa: F401  (a fixture)
from serve_harness import (SocketIOClient, define_door, door_event_at, http_status, post_door,
                           start_servers, stop_servers, unique_channel, wait_for_change)


def stored_event_ids(instance: Path) -> set[str]:
    """The sensor event ids in the instance's database."""
    engine = make_engine(load_config(instance, environ={})["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(SensorEvent.event_id)).scalars())
    finally:
        engine.dispose()


@dataclass
class TwoServers:
    """Two kiosk serve processes A and B on the private Redis, a screen connected to each."""

    a: int
    b: int
    screen_a: SocketIOClient
    screen_b: SocketIOClient
    channel: str
    servers: list[tuple[int, subprocess.Popen]]

    def stop(self) -> list[str]:
        """Stop both servers (once); return what each logged."""
        for screen in (self.screen_a, self.screen_b):
            screen.close()
        servers, self.servers = self.servers, []
        return stop_servers(servers)


@pytest.fixture
def two_servers(instance: Path, private_redis: PrivateRedis) -> Iterator[TwoServers]:
    define_door(instance)
    channel = unique_channel()
    servers = start_servers(instance, 2, private_redis.url, channel)
    try:
        (a, _), (b, _) = servers
        screen_a, screen_b = (SocketIOClient(f"http://127.0.0.1:{port}") for port in (a, b))
        pair = TwoServers(a, b, screen_a, screen_b, channel, servers)
        for screen in (screen_a, screen_b):
            screen.wait_for("snapshot")
        private_redis.wait_for_subscribers(channel, 2)
        assert post_door(b, "closed", 1) == 200
        wait_for_change(screen_a, 1)  # fan-out works before the outage
        yield pair
    finally:
        stop_servers(servers)  # a no-op when the test stopped them


def accepted_everywhere_while_redis_is_away(a: int, b: int, screen_a: SocketIOClient, events: range) -> None:
    """Post door events alternately to A and B: each accepted, pages answer, A's own events reach A's screen."""
    for n in events:
        # Every event is accepted wherever it arrives, and no page hangs or fails.
        assert post_door(a if n % 2 == 0 else b, "open" if n % 2 == 0 else "closed", n) == 200
        assert http_status(a, "/healthz") == 200 and http_status(b, "/healthz") == 200
        assert http_status(b, "/api/v1/rollcall") == 200
        if n % 2 == 0:
            wait_for_change(screen_a, n)  # A's own events still reach A's screens


def one_warning_and_no_traceback(outputs: list[str]) -> None:
    """Each process logged Redis going away once (not once per push) and no traceback."""
    assert len(outputs) == 2
    for out in outputs:
        assert out.count("Redis at 127.0.0.1") == 2, out  # gone, back
        assert out.count("unreachable") == 1, out
        assert "Traceback" not in out, out


def test_when_redis_dies_no_event_is_lost_and_fan_out_resumes_when_it_is_back(instance, private_redis, two_servers):
    a, b, screen_a = two_servers.a, two_servers.b, two_servers.screen_a
    private_redis.kill()
    accepted_everywhere_while_redis_is_away(a, b, screen_a, range(2, 12))
    assert {f"floor-3:{n}" for n in range(1, 12)} <= stored_event_ids(instance)

    private_redis.start()
    private_redis.wait_for_subscribers(two_servers.channel, 2)  # both listeners reconnected by themselves
    for screen in (screen_a, two_servers.screen_b):
        # Each process tells its screens to fetch a fresh board: they missed the other's pushes.
        resumed, _ = screen.wait_for("fanout_resumed", timeout=15)
        assert resumed["down_since"] < resumed["resumed_at"]
    assert post_door(b, "open", 12) == 200
    assert wait_for_change(screen_a, 12)["state"] == "open"  # B's event reaches A's screen again

    # A screen that reconnects gets the board as it is, B's outage-time events included.
    again = SocketIOClient(f"http://127.0.0.1:{a}")
    snapshot, _ = again.wait_for("snapshot")
    door = next(p for p in snapshot["points"] if p["point"] == "door:main")
    assert door["state"] == "open" and door["at"] == door_event_at(12)
    again.close()
    one_warning_and_no_traceback(two_servers.stop())


def test_a_redis_that_stops_answering_holds_up_no_request_and_fan_out_resumes_when_it_answers(
        instance, private_redis, two_servers):
    a, b, screen_a = two_servers.a, two_servers.b, two_servers.screen_a
    private_redis.pause()  # connections stay open, nothing answers: a hung Redis, or its host frozen
    accepted_everywhere_while_redis_is_away(a, b, screen_a, range(2, 8))
    assert {f"floor-3:{n}" for n in range(1, 8)} <= stored_event_ids(instance)

    private_redis.resume()
    for screen in (screen_a, two_servers.screen_b):
        screen.wait_for("fanout_resumed", timeout=30)
    assert post_door(b, "open", 8) == 200
    assert wait_for_change(screen_a, 8)["state"] == "open"
    one_warning_and_no_traceback(two_servers.stop())
