"""systemd notifications without libsystemd: where they go, when they are ours, and that nothing breaks without systemd."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_systemd import NotifySocket
from floor_sensors.sdnotify import Notifier, socket_address, watchdog_interval


@pytest.fixture
def manager() -> Iterator[NotifySocket]:
    """A stand-in for systemd's notification socket, bound to a path."""
    sock = NotifySocket()
    sock.sock.settimeout(5)
    yield sock
    sock.close()


def test_without_notify_socket_every_call_does_nothing() -> None:
    notifier = Notifier({})
    assert not notifier.enabled and notifier.watchdog is None
    assert notifier.ready("up") is False and notifier.ping() is False and notifier.status("x") is False


def test_readiness_and_status_reach_a_socket_named_by_its_path(manager: NotifySocket) -> None:
    notifier = Notifier(manager.env())
    assert notifier.ready("3 of 3 nodes online")
    assert manager.sock.recv(4096) == b"READY=1\nSTATUS=3 of 3 nodes online"


def test_an_at_sign_names_a_socket_in_the_abstract_namespace() -> None:
    name = f"floor-kiosk-test-{secrets.token_hex(6)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ping()
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_a_status_text_cannot_smuggle_in_a_second_field(manager: NotifySocket) -> None:
    Notifier(manager.env()).status("all well\nREADY=1")
    assert manager.sock.recv(4096) == b"STATUS=all well READY=1"


def test_the_watchdog_is_pinged_at_half_its_timeout() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}, (1,)) == 15.0
    assert Notifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "10000000"}).watchdog == 5.0


def test_a_watchdog_armed_for_another_process_is_not_ours_unless_its_pid_is_allowed() -> None:
    env = {"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4242"}
    assert watchdog_interval(env, (os.getpid(),)) is None  # a child that only inherited the environment
    assert watchdog_interval(env, (os.getpid(), 4242)) == 5.0  # gunicorn's worker: its parent's watchdog


def test_no_watchdog_without_a_socket_or_with_a_malformed_timeout() -> None:
    assert Notifier({"WATCHDOG_USEC": "10000000"}).watchdog is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}, (1,)) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, (1,)) is None


def test_only_paths_and_abstract_names_are_spoken_to() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@abc") == "\0abc"
    assert socket_address("vsock:2:1234") is None and socket_address("") is None


def test_a_manager_that_went_away_is_logged_once_not_per_message(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING, logger="floor_sensors.sdnotify"):
        for _ in range(5):
            assert notifier.ping() is False
    assert len(caplog.records) == 1
