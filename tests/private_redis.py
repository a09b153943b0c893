"""A redis-server of one test alone, on a free port in a temporary folder: killed, paused and restarted at will.

The machine's shared Redis (6379) is never touched: other test runs use it meanwhile.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


REDIS_SERVER = "/usr/bin/redis-server"


class PrivateRedis:
    """A redis-server on a free port in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start redis-server (no persistence) and wait until it answers PING."""
        import redis

        self.proc = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                      str(self.folder), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        end = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > end or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.02)  # nothing to await: the server says nothing when it is ready
            finally:
                client.close()

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill does: connections reset, the port refuses."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections, but Redis answers nothing until resumed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: Redis answers again, with every connection it had."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to ``channel`` (PUBSUB NUMSUB)."""
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            return int(dict(client.pubsub_numsub(channel))[channel.encode()])
        finally:
            client.close()

    def wait_for_subscribers(self, channel: str, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` processes have subscribed to ``channel`` again."""
        end = time.monotonic() + timeout
        while self.subscribers(channel) < count:
            assert time.monotonic() < end, f"only {self.subscribers(channel)} of {count} processes resubscribed"
            time.sleep(0.05)  # Redis announces no subscription: ask it


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if not shutil.which(REDIS_SERVER):
        pytest.fail(f"{REDIS_SERVER} is missing: apt-get install redis-server", pytrace=False)
    folder = tmp_path / "redis"
    folder.mkdir()
    server = PrivateRedis(folder)
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.proc.send_signal(signal.SIGCONT)
        server.proc.kill()
        server.proc.wait(timeout=10)
