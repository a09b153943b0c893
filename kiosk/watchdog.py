"""``kiosk serve`` under systemd: ready when it serves, watchdog pings only while it is healthy, a status line.

What "healthy" means decides what a restart is for. A restart helps a process that is wedged, and
harms (a restart storm, screens dropped again and again) when the trouble is elsewhere. So:

* the worker must answer ``GET /healthz`` through its own listening socket: that proves the accept
  loop, a free worker thread and the Flask app, not merely that some thread of the process runs;
* the floor's timer thread must be alive and no tick may run longer than ``TICK_STUCK`` seconds
  (held-open alarms and escalation run there, §5, §6.5);
* the database: when ``SELECT 1`` through the process's pool fails but a brand-new connection works,
  the database is fine and this process is not: after ``STUCK_ROUNDS`` checks in a row, stop pinging.
  When the new connection fails too, the database itself is away (restarting, a network blip): a
  restart cannot help, so the pings go on, and the status line says so; requests answer 503 meanwhile
  and recover by themselves.

Redis is never a reason to restart (the fan-out reconnects by itself); it only shows in the status line.

The checks run in the worker process (the unit says ``NotifyAccess=all``), every half of
``WatchdogSec=``; each check runs in its own thread with a deadline, so a check that hangs is seen
as failing instead of hanging the watchdog.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from floor_sensors.sdnotify import Notifier

logger = logging.getLogger(__name__)

TICK_STUCK = 300.0  # seconds: one timer tick running longer than this is stuck (a daily purge may take a while)
STUCK_ROUNDS = 3  # checks in a row with the pool failing and the database fine before the pings stop
STATUS_EVERY = 10.0  # seconds between status updates when no watchdog is armed (Type=notify alone)
STARTING_EVERY = 0.2  # seconds between checks until the server first answers


@dataclass(frozen=True)
class Observation:
    """What one round of checks found. An error is a short text; None means the check passed."""

    http_error: str | None
    pool_error: str | None
    fresh_error: str | None  # a new connection outside the pool; only tried when the pool failed
    timers: str  # "ok", "off" (no timers in this process), "stopped", or "stuck"
    tick_seconds: float = 0.0  # how long the current tick has run, when "stuck"


@dataclass(frozen=True)
class Verdict:
    """Whether to ping the watchdog, and the words for the status line."""

    healthy: bool
    problem: str  # why not healthy, or what is wrong that a restart would not fix; "" when all is well
    database: str  # "ok", "unreachable" or "stuck"


def judge(obs: Observation, stuck_rounds: int) -> Verdict:
    """Decide from one round's observation (and how many rounds in a row the pool was stuck) whether to ping."""
    if obs.pool_error is None:
        database = "ok"
    elif obs.fresh_error is None:
        database = "stuck"
    else:
        database = "unreachable"
    if obs.http_error is not None:
        return Verdict(False, f"not answering HTTP ({obs.http_error})", database)
    if obs.timers == "stopped":
        return Verdict(False, "the floor's timer thread has stopped", database)
    if obs.timers == "stuck":
        return Verdict(False, f"a timer tick has been running for {obs.tick_seconds:.0f} s", database)
    if database == "stuck":
        problem = f"the database answers a new connection but not this process's pool ({obs.pool_error})"
        return Verdict(stuck_rounds < STUCK_ROUNDS, problem, database)
    if database == "unreachable":
        return Verdict(True, f"{obs.fresh_error}: requests answer 503 until it is back; a restart would not help",
                       database)
    return Verdict(True, "", database)


class Probe:
    """Runs one check in its own thread, at most one at a time, and waits for it up to a deadline."""

    def __init__(self, name: str, check: Callable[[], None]) -> None:
        self.name = name
        self.check = check
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._done = threading.Event()
        self._error: str | None = None

    def run(self, deadline: float) -> str | None:
        """Run the check (or keep waiting for the one still running); None if it passed, else why not."""
        if self._thread is None or not self._thread.is_alive():
            done = self._done = threading.Event()
            self._started = time.monotonic()

            def target() -> None:
                try:
                    self.check()
                    self._error = None
                except Exception as exc:  # noqa: BLE001 - any failure is the check's answer
                    self._error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                finally:
                    done.set()

            self._thread = threading.Thread(target=target, name=f"watchdog-{self.name}", daemon=True)
            self._thread.start()
        if not self._done.wait(deadline):
            return f"no answer for {time.monotonic() - self._started:.1f} s"
        return self._error


def http_check(host: str, port: int, timeout: float) -> Callable[[], None]:
    """A check that ``GET /healthz`` on the server's own address answers 200."""
    # A server bound to every address is reached on loopback.
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)

    def check() -> None:
        conn = http.client.HTTPConnection(target, port, timeout=timeout)
        try:
            conn.request("GET", "/healthz", headers={"User-Agent": "floor-kiosk-watchdog"})
            status = conn.getresponse().status
        finally:
            conn.close()
        if status != 200:
            raise RuntimeError(f"/healthz answered {status}")

    return check


class ServeWatchdog:
    """The worker's thread that tells systemd it is ready, pets the watchdog while healthy, and keeps a status line."""

    def __init__(self, notifier: Notifier, app: Any, runtime: Any, host: str, port: int) -> None:
        from kiosk.store.db import ping, ping_without_pool
        from kiosk.web import services

        self.notifier = notifier
        self.runtime = runtime
        self.where = f"{host}:{port}"
        engine = services(app).engine
        self.interval = notifier.watchdog or STATUS_EVERY
        # Each check gets a slice of the interval, so a round never outlasts it.
        self.deadline = max(0.2, min(5.0, self.interval / 4))
        self.http = Probe("http", http_check(host, port, self.deadline))
        self.pool = Probe("database", lambda: ping(engine))
        self.fresh = Probe("database-fresh", lambda: ping_without_pool(engine))
        self.stuck_rounds = 0
        self.ready_sent = False
        self._was_healthy = True
        self._database = "ok"
        self._database_since: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the watchdog thread."""
        self._thread = threading.Thread(target=self._loop, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (the worker is exiting)."""
        self._stop.set()

    def observe(self) -> Observation:
        """One round of checks."""
        http_error = self.http.run(self.deadline)
        pool_error = self.pool.run(self.deadline)
        fresh_error = self.fresh.run(self.deadline) if pool_error is not None else None
        timers, tick_seconds = "off", 0.0
        if self.runtime is not None:
            started = self.runtime.tick_started
            if not self.runtime.timers_alive():
                timers = "stopped"
            elif started is not None and time.monotonic() - started > TICK_STUCK:
                timers, tick_seconds = "stuck", time.monotonic() - started
            else:
                timers = "ok"
        return Observation(http_error, pool_error, fresh_error, timers, tick_seconds)

    def round(self) -> Verdict:
        """Check, judge, and tell systemd: READY=1 the first time all is well, then WATCHDOG=1 while healthy."""
        obs = self.observe()
        self.stuck_rounds = self.stuck_rounds + 1 if obs.pool_error is not None and obs.fresh_error is None else 0
        verdict = judge(obs, self.stuck_rounds)
        self._track_database(verdict)
        status = self.status_line(verdict)
        if not self.ready_sent and not verdict.healthy:
            # Still starting: the worker begins accepting only after this thread has started.
            self.notifier.status(f"starting: {verdict.problem}")
            return verdict
        if verdict.healthy:
            if not self._was_healthy:
                logger.warning("watchdog: healthy again: %s", status)
            if not self.ready_sent:
                self.ready_sent = self.notifier.ready(status) or not self.notifier.enabled
            elif self.notifier.watchdog is not None:
                self.notifier.ping(status)
            else:
                self.notifier.status(status)
        else:
            if self._was_healthy:
                logger.error("watchdog: %s; no more watchdog pings: systemd restarts this server if it stays so",
                             verdict.problem)
            self.notifier.status(f"UNHEALTHY: {verdict.problem}; watchdog pings stopped")
        self._was_healthy = verdict.healthy
        return verdict

    def _track_database(self, verdict: Verdict) -> None:
        if verdict.database == self._database:
            return
        if verdict.database == "unreachable":
            logger.warning("watchdog: the database is unreachable; the server keeps running and recovers when it is "
                           "back (a restart would not help)")
        elif self._database == "unreachable":
            logger.warning("watchdog: the database is reachable again")
        self._database = verdict.database
        self._database_since = None if verdict.database == "ok" else datetime.now(timezone.utc)

    def status_line(self, verdict: Verdict) -> str:
        """What ``systemctl status`` shows: where it serves, the database, Redis, screens, timers."""
        from kiosk.web import KIOSK_NS, fanout_status, socketio

        parts = [f"serving on {self.where}"]
        if verdict.database == "ok":
            parts.append("database ok")
        else:
            since = f" since {self._database_since:%H:%M:%S} UTC" if self._database_since else ""
            parts.append(f"database {verdict.database}{since}")
        fanout = fanout_status()
        if fanout:
            parts.append(fanout)
        try:
            screens = sum(1 for _ in socketio.server.manager.get_participants(KIOSK_NS, None))
            parts.append(f"{screens} screen{'s' if screens != 1 else ''} connected")
        except Exception:  # noqa: BLE001 - no screen has connected yet: the namespace does not exist
            parts.append("0 screens connected")
        if self.runtime is not None:
            parts.append("floor timers run here" if self.runtime.lease.held else "floor timers not held here")
        line = "; ".join(parts)
        if verdict.problem and verdict.healthy:
            line += f"; {verdict.problem}"
        return line

    def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self.round()
            except Exception:  # noqa: BLE001 - the thread goes on; a round that failed vouches for nothing: no ping
                logger.exception("watchdog round failed")
            # Rounds start an interval apart, however long the checks took; until READY=1 is out, look
            # again soon: systemd counts the start as pending meanwhile.
            period = self.interval if self.ready_sent else STARTING_EVERY
            if self._stop.wait(max(0.0, period - (time.monotonic() - started))):
                return
