"""Several kiosk serve processes behind Redis: a change accepted by one reaches screens connected to another."""

from __future__ import annotations

import pytest

from kiosk.config import load_config
from kiosk.store.db import upgrade

from serve_harness import (SocketIOClient, define_door, door_event_at, post_door, shared_redis_url, start_servers,
                           stop_servers, unique_channel)


@pytest.fixture
def two_servers(instance):
    define_door(instance)
    # A channel of this run alone: other test runs share the machine's Redis.
    servers = start_servers(instance, 2, shared_redis_url(), unique_channel())
    yield [port for port, _ in servers]
    stop_servers(servers)


def test_a_door_event_accepted_by_one_process_raises_the_alarm_on_a_screen_of_the_other(two_servers):
    a, b = two_servers
    screen = SocketIOClient(f"http://127.0.0.1:{a}")
    screen.wait_for("snapshot")
    assert post_door(b, "closed", 1) == 200
    assert post_door(b, "open", 2) == 200
    alert, _ = screen.wait_for("alert_raised", timeout=10)
    assert alert["kind"] == "door_forced_open" and alert["door_id"] == "main"
    screen.close()


def test_two_installations_sharing_one_redis_never_see_each_others_pushes(tmp_path, instance):
    # Two installations: each its own instance and channel, one Redis between them.
    other = tmp_path / "other-instance"
    upgrade(load_config(other, environ={})["DATABASE_URL"])
    for inst in (instance, other):
        define_door(inst)
    redis_url = shared_redis_url()
    ours = start_servers(instance, 1, redis_url, unique_channel())
    theirs = start_servers(other, 1, redis_url, unique_channel())
    try:
        (our_port, _), (their_port, _) = ours[0], theirs[0]
        screen = SocketIOClient(f"http://127.0.0.1:{our_port}")
        screen.wait_for("snapshot")
        assert post_door(their_port, "closed", 1) == 200
        assert post_door(their_port, "open", 2) == 200
        assert post_door(our_port, "closed", 3) == 200
        # Pushes arrive in order: the first door change this screen hears is its own installation's.
        payload, _ = screen.wait_for("points_changed", timeout=10)
        assert [ch["at"] for ch in payload["changes"]] == [door_event_at(3)]
        screen.close()
    finally:
        stop_servers(ours + theirs)
