"""systemd's service notifications (sd_notify) without libsystemd: readiness, watchdog pings, a status line.

A unit with ``Type=notify`` counts the service as started when it sends ``READY=1``; with
``WatchdogSec=`` systemd kills and restarts a service that has sent no ``WATCHDOG=1`` for that
long; ``STATUS=`` is the line ``systemctl status`` shows. Each message is one datagram to the unix
socket named in ``$NOTIFY_SOCKET`` (a leading ``@`` means Linux's abstract namespace). Without
``$NOTIFY_SOCKET`` (run by hand, or by tests) every call does nothing.

The gateway uses it, and so do the kiosk server and the remote reader (``kiosk`` may import
``floor_sensors``; never the other way round), so there is one copy of the protocol.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

logger = logging.getLogger(__name__)


def socket_address(value: str) -> str | None:
    """The address to send to, from ``$NOTIFY_SOCKET``: a path, or an abstract name (``@`` → NUL)."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # vsock and other forms: not ours to speak


def watchdog_interval(environ: Mapping[str, str], pids: tuple[int, ...]) -> float | None:
    """How often to ping, in seconds (half of ``$WATCHDOG_USEC``), or None when no watchdog is armed for us.

    ``$WATCHDOG_PID``, when set, names the process the watchdog is meant for: a child that merely
    inherited the environment must not ping in its parent's stead unless the caller allows its pid.
    """
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner:
        try:
            if int(owner) not in pids:
                return None
        except ValueError:
            return None
    return usec / 1_000_000 / 2


class Notifier:
    """Sends notifications to the service manager; a no-op when there is none."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, pids: tuple[int, ...] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = socket_address(env.get("NOTIFY_SOCKET", ""))
        # The watchdog is only ours if it was armed for this process (or a pid the caller names).
        self.watchdog = watchdog_interval(env, pids if pids is not None else (os.getpid(),)) \
            if self.address else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failed = False

    @property
    def enabled(self) -> bool:
        """True when a service manager listens."""
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields in one datagram; return True if it was sent."""
        if self.address is None or not fields:
            return False
        # One line per field: a status text must not smuggle in a second field.
        message = "\n".join(f.replace("\n", " ") for f in fields).encode("utf-8")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(message, self.address)
            except OSError as exc:
                if not self._failed:  # once: the manager going away must not flood the log
                    logger.warning("cannot notify the service manager at %s: %s", self.address.lstrip("\0"), exc)
                    self._failed = True
                return False
            self._failed = False
            return True

    def ready(self, status: str | None = None) -> bool:
        """Say the service is up (``READY=1``), with a status line."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def ping(self, status: str | None = None) -> bool:
        """Pet the watchdog (``WATCHDOG=1``), optionally with a fresh status line."""
        return self.notify("WATCHDOG=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """Set the status line without petting the watchdog."""
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        """Say the service is shutting down (``STOPPING=1``)."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the socket (it reopens on the next message)."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
