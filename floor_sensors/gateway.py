"""The gateway: configuration → links and pollers → supervision → outbox → forwarder.

Link and poller threads put :mod:`floor_sensors.links` events on one queue; a
single loop thread takes them, runs the pure supervisors, and carries out the
actions they return, in this order:

1. point changes and health events are committed to the outbox (one
   transaction per input), stamped with the UTC time;
2. only then are frames written back to the node, so an ``ACK`` is never sent
   for a change that is not yet durable: if the gateway dies in between, the
   node (when buffered) re-sends the ``IN`` frame.

The loop also ticks every supervisor (liveness) every ``tick`` seconds, and pets
systemd's watchdog (when the unit arms one): a loop that hangs stops the pings and
systemd restarts the gateway. The forwarder runs in its own thread and reads the
outbox.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from floor_sensors.config import Config, ConfigError
from floor_sensors.forwarder import Forwarder, utc_iso
from floor_sensors.links import (
    FrameDropped,
    FrameReceived,
    LinkEvent,
    LinkLost,
    LinkOpened,
    PollFailed,
    PollResult,
    SerialNodeLink,
)
from floor_sensors.modbus import ModbusPoller
from floor_sensors.outbox import Outbox
from floor_sensors.sdnotify import Notifier
from floor_sensors.supervision import (
    Action,
    ModuleSupervisor,
    NodeHealth,
    NodeSupervisor,
    PointChanged,
    PointSpec,
    SendFrame,
)

logger = logging.getLogger(__name__)


def read_secret(path: str, config_path: str = "the configuration") -> bytes:
    """Return the shared secret stored in ``path`` (surrounding whitespace removed)."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the gateway secret (secret_file in {config_path}): {exc}"]) from None
    if not secret:
        raise ConfigError([f"{path}: the gateway secret file is empty (secret_file in {config_path})"])
    return secret


def event_of(action: PointChanged | NodeHealth, at: str) -> dict[str, Any]:
    """Return the outbox/HTTP form of a point change or health action."""
    if isinstance(action, PointChanged):
        return {
            "type": "point_changed",
            "point": action.point,
            "kind": action.kind.value,
            "state": action.state,
            "previous": action.previous,
            "reconciled": action.reconciled,
            "source": action.source,
            "channel": action.channel,
            "at": at,
        }
    return {"type": "node_health", "source": action.source, "state": action.state, "at": at, "counters": action.counters}


class Gateway:
    """One floor's sensor gateway, started and stopped as a whole."""

    def __init__(
        self,
        config: Config,
        *,
        secret: bytes | None = None,
        tick: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        link_factory: Callable[..., SerialNodeLink] = SerialNodeLink,
        poller_factory: Callable[..., ModbusPoller] = ModbusPoller,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        # Only the command line hands in the real one: a gateway built in a test never talks to systemd.
        self.notifier = notifier if notifier is not None else Notifier({})
        self._next_ping = float("-inf")
        self._forwarder_dead_logged = False
        self.secret = secret if secret is not None else read_secret(config.gateway.secret_file, config.path)
        self.tick = tick
        self.clock = clock
        self.wall = wall
        self.queue: queue.Queue[LinkEvent] = queue.Queue()
        self.outbox = Outbox(config.gateway.outbox, config.gateway.id, config.gateway.outbox_capacity)
        now = clock()
        g = config.gateway
        self.supervisors: dict[str, NodeSupervisor | ModuleSupervisor] = {}
        self.links: dict[str, SerialNodeLink] = {}
        self.pollers: dict[str, ModbusPoller] = {}
        for node in config.nodes:
            self.supervisors[node.id] = NodeSupervisor(node.id, self._specs(node.id), now=now, offline_after=g.offline_after)
            self.links[node.id] = link_factory(node, self.queue.put, clock=clock)
        for module in config.modbus:
            self.supervisors[module.id] = ModuleSupervisor(
                module.id, self._specs(module.id), now=now, offline_after_failures=module.offline_after_failures
            )
            self.pollers[module.id] = poller_factory(module, self.queue.put, clock=clock)
        self.forwarder = Forwarder(
            self.outbox,
            gateway_id=g.id,
            server=g.server,
            secret=self.secret,
            health=self.health_report,
            batch_size=g.batch_size,
            health_interval=g.health_interval,
            retry_initial=g.retry_initial,
            retry_max=g.retry_max,
            http_timeout=g.http_timeout,
        )
        self.batch_limit = 256  # link events per outbox commit, at most
        self.events_written = 0
        self._unwritten: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _specs(self, source: str) -> list[PointSpec]:
        return [PointSpec(p.id, p.kind, p.channel, p.invert) for p in self.config.points_of(source)]

    def start(self) -> None:
        """Start the supervision loop, every link and poller, and the forwarder."""
        logger.info(
            "gateway %s: %d node(s), %d Modbus module(s), %d point(s); %d event(s) waiting in the outbox",
            self.config.gateway.id, len(self.links), len(self.pollers), len(self.config.points), len(self.outbox),
        )
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="supervision", daemon=True)
        self._thread.start()
        for link in self.links.values():
            link.start()
        for poller in self.pollers.values():
            poller.start()
        self.forwarder.start()

    def stop(self) -> None:
        """Stop everything; events already in the outbox stay there for the next start."""
        for link in self.links.values():
            link.stop()
        for poller in self.pollers.values():
            poller.stop()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.forwarder.stop()
        self.outbox.close()

    def run_forever(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set (the command line's ``run``)."""
        self.start()
        self.notifier.ready(self.status_line())
        try:
            stop.wait()
        finally:
            self.notifier.stopping()
            self.stop()

    def status_line(self) -> str:
        """One line for ``systemctl status``: nodes online, the outbox, the server."""
        with self._lock:
            online = sum(1 for sup in self.supervisors.values() if sup.health().online)
        server = "kiosk server unreachable" if self.forwarder.failing else "kiosk server reachable"
        return f"{online} of {len(self.supervisors)} nodes online; {len(self.outbox)} events in the outbox; {server}"

    def _pet_watchdog(self) -> None:
        """Ping systemd's watchdog from the supervision loop, at half its timeout, while the forwarder lives.

        A hung loop sends no ping. A kiosk server that is away is no reason to restart (the outbox
        keeps everything), so it only shows in the status line.
        """
        if self.notifier.watchdog is None:
            return
        now = self.clock()
        if now < self._next_ping:
            return
        self._next_ping = now + self.notifier.watchdog
        if not self.forwarder.alive():
            if not self._forwarder_dead_logged:
                logger.error("the forwarder thread has stopped: no more watchdog pings, systemd will restart the gateway")
                self._forwarder_dead_logged = True
            self.notifier.status("forwarder stopped: waiting for the watchdog to restart the gateway")
            return
        self.notifier.ping(self.status_line())

    def health_report(self) -> dict[str, Any]:
        """Return the ``health`` object the forwarder sends with every POST."""
        now_mono, now_wall = self.clock(), self.wall()
        nodes: dict[str, Any] = {}
        with self._lock:
            for source, sup in self.supervisors.items():
                h = sup.health()
                last_seen = None
                if h.last_seen is not None:
                    last_seen = utc_iso(now_wall - timedelta(seconds=now_mono - h.last_seen))
                nodes[source] = {"online": h.online, "last_seen": last_seen, "counters": h.counters}
        return {"nodes": nodes}

    # -- the supervision loop ----------------------------------------------------

    def _loop(self) -> None:
        next_tick = self.clock()
        while not self._stop.is_set():
            try:
                items = [self.queue.get(timeout=max(0.0, next_tick - self.clock()))]
            except queue.Empty:
                items = []
            # Group commit: what the links queued meanwhile goes through supervision now and into the
            # outbox in one commit, so a burst costs one fsync per batch instead of one per frame (and
            # each ACK still follows the commit of its event).
            while items and len(items) < self.batch_limit:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                if items:
                    actions: list[Action] = []
                    for item in items:
                        actions.extend(self._supervise(item))
                    self.apply(actions)
                if self.clock() >= next_tick:
                    next_tick = self.clock() + self.tick
                    self._tick()
            except Exception:  # noqa: BLE001 - supervision must go on
                logger.exception("gateway: error handling %d link event(s)", len(items))
            self._pet_watchdog()

    def handle(self, item: LinkEvent) -> None:
        """Run one link event through its supervisor and carry out the actions."""
        self.apply(self._supervise(item))

    def _supervise(self, item: LinkEvent) -> list[Action]:
        """The actions one link event asks for (not yet carried out)."""
        with self._lock:
            sup = self.supervisors.get(item.source)
            if sup is None:
                return []
            actions: list[Action] = []
            if isinstance(sup, NodeSupervisor):
                if isinstance(item, FrameReceived):
                    actions = sup.on_frame(item.frame, item.at)
                elif isinstance(item, FrameDropped):
                    actions = sup.on_error(item.error, item.at)
                elif isinstance(item, LinkLost):
                    actions = sup.on_link_lost(item.at)
                elif isinstance(item, LinkOpened):
                    actions = sup.on_link_opened(item.at)
            elif isinstance(item, PollResult):
                actions = sup.on_poll(item.bits, item.at)
            elif isinstance(item, PollFailed):
                actions = sup.on_poll_failure(item.at, item.reason)
        return actions

    def _tick(self) -> None:
        now = self.clock()
        actions: list[Action] = []
        with self._lock:
            for sup in self.supervisors.values():
                if isinstance(sup, NodeSupervisor):
                    actions.extend(sup.tick(now))
        self.apply(actions)

    def apply(self, actions: list[Action]) -> None:
        """Commit events to the outbox first, then write frames to the nodes."""
        if not actions and not self._unwritten:
            return
        at = utc_iso(self.wall())
        events = [event_of(a, at) for a in actions if isinstance(a, (PointChanged, NodeHealth))]
        if events or self._unwritten:
            pending = self._unwritten + events
            try:
                self.outbox.append(pending)
            except sqlite3.Error as exc:
                # Keep them for the next try, and send no frame: an ACK must follow the commit.
                self._unwritten = pending
                logger.error("outbox write failed, %d event(s) held in memory: %s", len(pending), exc)
                return
            self._unwritten = []
            self.events_written += len(pending)
            for e in events:
                if e["type"] == "point_changed":
                    logger.info("%s %s → %s%s", e["point"], e["previous"], e["state"], " (reconciled)" if e["reconciled"] else "")
                else:
                    logger.info("%s %s", e["source"], e["state"])
        for action in actions:
            if isinstance(action, SendFrame):
                link = self.links.get(action.source)
                if link is not None:
                    link.send(action.frame)
