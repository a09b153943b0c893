"""Run the kiosk under gunicorn's threaded worker (not Werkzeug's development server).

Werkzeug leaves Nagle's algorithm on for websockets, which adds a ~20 ms tail to every push;
gunicorn's gthread worker with simple-websocket does not. One worker process: Socket.IO state and
the reader live in it; several processes need ``KIOSK_REDIS_URL``.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any, Callable

from gunicorn.app.base import BaseApplication

logger = logging.getLogger(__name__)


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
        super().__init__()

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
        if not self.start_devices:
            return
        from kiosk.runtime import Runtime

        self.runtime = Runtime(worker.wsgi)
        self.runtime.start()

    def _worker_exit(self, _server: Any, _worker: Any) -> None:
        if self.runtime is not None:
            self.runtime.stop()
