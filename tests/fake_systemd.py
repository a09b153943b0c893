"""A stand-in for systemd's notification socket: what a service under Type=notify and WatchdogSec= tells systemd."""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time
from typing import Any


class NotifySocket:
    """A unix datagram socket bound where ``$NOTIFY_SOCKET`` points, collecting each message as a dict."""

    def __init__(self, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.folder: str | None = None
        if abstract:
            name = f"floor-kiosk-test-{secrets.token_hex(8)}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            # A short folder: a unix socket's path is limited to about 100 bytes.
            self.folder = tempfile.mkdtemp(prefix="sdn-")
            self.env_value = os.path.join(self.folder, "notify")
            self.sock.bind(self.env_value)
        self.received: list[dict[str, str]] = []

    def env(self, watchdog_seconds: float | None = None) -> dict[str, str]:
        """The environment systemd gives a service: the socket, and the watchdog timeout if armed."""
        env = {"NOTIFY_SOCKET": self.env_value}
        if watchdog_seconds is not None:
            env["WATCHDOG_USEC"] = str(int(watchdog_seconds * 1_000_000))
        return env

    def next(self, timeout: float) -> dict[str, str] | None:
        """The next message (its KEY=value fields), or None if none came within ``timeout`` seconds."""
        self.sock.settimeout(max(0.01, timeout))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        message = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.received.append(message)
        return message

    def wait_for(self, key: str, value: str = "1", timeout: float = 20.0,
                 where: Any = None) -> dict[str, str]:
        """Skip messages until one has ``key=value`` (and satisfies ``where``, if given); fail after ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            message = self.next(left) if left > 0 else None
            if message is None:
                raise AssertionError(f"no {key}={value} within {timeout} s; received: {self.received[-5:]}")
            if message.get(key) == value and (where is None or where(message)):
                return message

    def close(self) -> None:
        """Close and remove the socket."""
        self.sock.close()
        if self.folder:
            os.unlink(self.env_value)
            os.rmdir(self.folder)
