"""Run the kiosk under gunicorn's threaded worker (not Werkzeug's development server).

Werkzeug leaves Nagle's algorithm on for websockets, which adds a ~20 ms tail to every push;
gunicorn's gthread worker with simple-websocket does not. One worker process: Socket.IO state and
the reader live in it; several processes need ``KIOSK_REDIS_URL``.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import Any, Callable

from gunicorn.app.base import BaseApplication

logger = logging.getLogger(__name__)

# gunicorn's arbiter says READY=1 to systemd as soon as it has bound its socket, before the worker has
# even built the app. The master therefore keeps $NOTIFY_SOCKET from gunicorn under this name, and the
# worker says READY=1 itself once it answers (kiosk.watchdog).
NOTIFY_SOCKET_FOR_WORKER = "FLOOR_KIOSK_NOTIFY_SOCKET"


class KioskServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn application whose worker builds the Flask app and starts the devices."""

    def __init__(self, app_factory: Callable[[], Any], host: str, port: int,
                 start_devices: bool = True, threads: int = 64) -> None:
        self.app_factory = app_factory
        self.start_devices = start_devices
        self.options = {
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 0,  # websockets are long-lived
            "graceful_timeout": 2,  # open screens' websockets would otherwise hold a stop for the full time
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
        }
        self.runtime: Any = None
        self.watchdog: Any = None
        self.host, self.port = host, port
        super().__init__()

    def run(self) -> None:
        """Run gunicorn's arbiter (in this process) and its worker."""
        notify_socket = os.environ.pop("NOTIFY_SOCKET", None)
        if notify_socket:
            os.environ[NOTIFY_SOCKET_FOR_WORKER] = notify_socket
        super().run()

    def load_config(self) -> None:
        """Hand our options to gunicorn."""
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_worker_init", self._post_worker_init)
        self.cfg.set("worker_exit", self._worker_exit)

    def load(self) -> Any:
        """Build the Flask app inside the worker process."""
        # A push waits for the Socket.IO writer thread to get the GIL; the default 5 ms switch
        # interval would put that wait on every tap under load. 0.5 ms keeps pushes prompt.
        sys.setswitchinterval(0.0005)
        return self.app_factory()

    def _post_worker_init(self, worker: Any) -> None:
        # Everything loaded so far lives as long as the process: keep it out of the collector's
        # scans, so a full collection during a tap costs microseconds, not milliseconds.
        gc.collect()
        gc.freeze()
        from kiosk.web import start_fanout

        start_fanout()
        if self.start_devices:
            from kiosk.runtime import Runtime

            self.runtime = Runtime(worker.wsgi)
            self.runtime.start()
        self._start_watchdog(worker)

    def _start_watchdog(self, worker: Any) -> None:
        """Under systemd (Type=notify): READY=1 once this worker serves, WATCHDOG=1 while it is healthy."""
        from floor_sensors.sdnotify import Notifier

        # The worker is gunicorn's child: the watchdog systemd armed for the main process (its parent) is ours.
        environ = {**os.environ, "NOTIFY_SOCKET": os.environ.get(NOTIFY_SOCKET_FOR_WORKER, "")}
        notifier = Notifier(environ, pids=(os.getpid(), os.getppid()))
        if not notifier.enabled:
            return
        from kiosk.watchdog import ServeWatchdog

        self.watchdog = ServeWatchdog(notifier, worker.wsgi, self.runtime, self.host, self.port)
        self.watchdog.start()

    def _worker_exit(self, _server: Any, _worker: Any) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.runtime is not None:
            self.runtime.stop()
