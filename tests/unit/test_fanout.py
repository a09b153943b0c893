"""The Redis fan-out between server processes: what it does while Redis fails, with a fake Redis and clock."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from kiosk.web.fanout import RedisFanOut, redis_location


class FakeClock:
    """Monotonic seconds that a test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeRedis:
    """Records what is published; refuses while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.tries = 0
        self.published: list[tuple[str, str]] = []

    def publish(self, channel: str, data: str) -> int:
        self.tries += 1
        if self.down:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        self.published.append((channel, data))
        return 1


@pytest.fixture
def fanout() -> tuple[RedisFanOut, FakeRedis, FakeClock]:
    clock, fake = FakeClock(), FakeRedis()
    manager = RedisFanOut("redis://:s3cret@10.0.0.5:6380/0", channel="floor-kiosk-test", clock=clock)
    manager._client = lambda retries=0: fake  # type: ignore[method-assign]  # the adapter edge
    return manager, fake, clock


def push(manager: RedisFanOut, n: int) -> None:
    manager._publish({"method": "emit", "event": "points_changed", "data": [n]})


def test_pushes_go_to_the_installations_channel(fanout: Any) -> None:
    manager, fake, _clock = fanout
    push(manager, 1)
    assert [channel for channel, _ in fake.published] == ["floor-kiosk-test"]
    assert manager.status() == "redis connecting"  # the listener has not subscribed yet


def test_after_a_failed_push_redis_is_left_alone_for_a_pause_that_doubles_up_to_thirty_seconds(fanout: Any) -> None:
    manager, fake, clock = fanout
    fake.down = True
    push(manager, 1)
    assert fake.tries == 1
    tried_at = []
    for step in range(200):  # 100 seconds of a push every half second
        clock.now += 0.5
        before = fake.tries
        push(manager, step)
        if fake.tries > before:
            tried_at.append(clock.now - 100.0)
    assert tried_at[:5] == [2.0, 6.0, 14.0, 30.0, 60.0]
    assert tried_at[5] == 90.0  # no longer doubling: thirty seconds at most


def test_a_push_that_works_again_brings_the_pause_back_to_two_seconds(fanout: Any) -> None:
    manager, fake, clock = fanout
    fake.down = True
    for _ in range(3):
        push(manager, 0)
        clock.now += 31
    fake.down = False
    push(manager, 1)
    fake.down = True
    push(manager, 2)
    tries = fake.tries
    clock.now += 2.0
    push(manager, 3)
    assert fake.tries == tries + 1


def test_an_outage_is_logged_once_not_once_per_push(fanout: Any, caplog: pytest.LogCaptureFixture) -> None:
    manager, fake, clock = fanout
    fake.down = True
    with caplog.at_level(logging.DEBUG, logger="kiosk.web.fanout"):
        for _ in range(50):
            push(manager, 0)
            clock.now += 3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "10.0.0.5:6380 unreachable" in warnings[0].getMessage()
    assert "s3cret" not in caplog.text
    assert manager.status().startswith("redis unreachable since ")


def test_when_the_listener_hears_redis_again_pushes_cross_at_once_and_the_count_kept_local_is_logged(
        fanout: Any, caplog: pytest.LogCaptureFixture) -> None:
    manager, fake, clock = fanout
    fake.down = True
    for _ in range(4):
        push(manager, 0)
    fake.down = False
    clock.now += 12
    with caplog.at_level(logging.INFO, logger="kiosk.web.fanout"):
        manager._came_back()  # what the listener does once Redis confirms its subscription
    assert "is back after 12 s" in caplog.text and "4 pushes" in caplog.text
    push(manager, 5)  # no pause left over from the outage
    assert len(fake.published) == 1
    assert manager.status() == "redis ok"


def test_a_log_line_names_where_redis_is_but_never_its_password() -> None:
    assert redis_location("redis://:s3cret@10.0.0.5:6380/0") == "10.0.0.5:6380"
    assert redis_location("redis://localhost") == "localhost:6379"
    assert redis_location("unix:///run/redis/redis.sock") == "/run/redis/redis.sock"


def test_a_url_that_is_not_redis_is_refused_naming_the_scheme_not_the_password() -> None:
    with pytest.raises(ValueError, match="amqp scheme") as refused:
        RedisFanOut("amqp://guest:s3cret@rabbit//", channel="floor-kiosk")
    assert "s3cret" not in str(refused.value)
