"""Virtual FSN/1 nodes on pseudo-terminals, for development, tests and the kiosk demo.

A :class:`SimulatedNode` behaves as the protocol says a node does: ``BOOT`` at
seq 0 when it starts, a heartbeat (``HB``) every ``heartbeat`` seconds (at most
1 s), an ``IN`` frame for each change, an ``HB`` at once in answer to ``SNAP``,
and, when ``buffered``, it re-sends each unacknowledged ``IN`` unchanged every
``resend`` seconds (500 ms) until it gets the ``ACK``. It can also misbehave on
purpose: reboot, drop frames (their seq numbers are skipped), send garbage, go
silent, or be unplugged (in the middle of a frame if asked).

:class:`SimulatorHost` runs nodes on pty pairs (``os.openpty``): the gateway
opens the slave side (:attr:`SimulatedNode.port`, a ``/dev/pts/N`` path, or a
stable symlink given as ``link``) as it would a USB serial device. Python use::

    host = SimulatorHost()
    node = host.add(SimulatedNode("door-node-1", inputs=4, buffered=True), link="/tmp/fsn/door-node-1")
    host.start()
    node.set_channel(1, "A")      # door 1 opens
    node.drop_next(2); node.set_channel(1, "N")
    node.unplug(mid_frame=True); node.replug()
    host.stop()

Script format (``floor-sensors simulate --script FILE``), one command a line,
``#`` starts a comment, times in seconds from the start::

    node door-node-1 inputs=4 buffered=yes states=NNNN link=/tmp/fsn/door-node-1 heartbeat=0.5
    node seat-row-a inputs=8
    at 5 door-node-1 set 1 A         # open door 1 at t=5 s
    at 7 door-node-1 set 2 F         # cut the wire on channel 2 (fault)
    at 8 door-node-1 set 3 T         # tamper (line shorted)
    at 9 door-node-1 reboot          # BOOT, seq 0
    at 10 door-node-1 drop 3         # lose the next 3 frames on the line
    at 11 door-node-1 garbage 2a24ff0d0a   # hex bytes written as they are
    at 12 door-node-1 silent         # stop sending anything
    at 15 door-node-1 resume
    at 16 door-node-1 unplug midframe   # the pty vanishes, half a frame sent
    at 18 door-node-1 replug
    every 2 seat-row-a toggle 1      # A/N on channel 1 every 2 s
    at 60 end                        # stop (else run until interrupted)
"""

from __future__ import annotations

import errno
import logging
import os
import select
import shlex
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from floor_sensors.protocol import (
    SEQ_MODULO,
    UINT32_MAX,
    Ack,
    Boot,
    Direction,
    Err,
    FrameDecoder,
    FrameError,
    Hb,
    In,
    NodeFrame,
    Snap,
    encode_frame,
)

logger = logging.getLogger(__name__)


class PtyPort:
    """One end of a pty pair the simulator writes to; the gateway opens :attr:`path`."""

    def __init__(self, link: str | None = None) -> None:
        self.master, self._slave = os.openpty()
        # Raw, so that the line discipline neither echoes nor mangles frames
        # before the gateway opens the slave (pyserial sets it raw again).
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.tty = os.ttyname(self._slave)
        self.link = link
        if link:
            Path(link).parent.mkdir(parents=True, exist_ok=True)
            tmp = f"{link}.tmp{os.getpid()}"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(self.tty, tmp)
            os.replace(tmp, link)
        self.closed = False

    @property
    def path(self) -> str:
        """The path the gateway should open: the stable link if any, else the pty."""
        return self.link or self.tty

    def write(self, data: bytes) -> int:
        """Write what the line takes; bytes nobody reads are lost, as on a real UART."""
        if self.closed:
            return 0
        try:
            return os.write(self.master, data)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return 0
            raise

    def read(self, timeout: float) -> bytes:
        """Return bytes the gateway wrote, waiting at most ``timeout`` seconds."""
        if self.closed:
            time.sleep(timeout)
            return b""
        try:
            ready, _, _ = select.select([self.master], [], [], timeout)
            if ready:
                return os.read(self.master, 4096)
        except (OSError, ValueError):
            pass
        return b""

    def close(self) -> None:
        """Close both ends: for the gateway the device is gone (EIO), and so is the link."""
        if self.closed:
            return
        self.closed = True
        if self.link and os.path.islink(self.link) and os.readlink(self.link) == self.tty:
            os.unlink(self.link)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


@dataclass
class SentFrame:
    """A frame the node produced: ``transmitted`` is False when it was dropped or silenced."""

    at: float
    frame: NodeFrame
    transmitted: bool
    boot: int


@dataclass
class _Pending:
    frame: In
    wire: bytes
    last_sent: float


class SimulatedNode:
    """A scriptable FSN/1 node; attach it to a :class:`SimulatorHost` to put it on a pty."""

    def __init__(
        self,
        node_id: str,
        inputs: int = 4,
        *,
        buffered: bool = False,
        states: str | None = None,
        firmware: str = "sim-1.0",
        heartbeat: float = 0.5,
        resend: float = 0.5,
        buffer_size: int = 32,
    ) -> None:
        if not 0 < heartbeat <= 1.0:
            raise ValueError("FSN/1 nodes send a heartbeat at least once a second")
        self.node_id = node_id
        self.inputs = inputs
        self.buffered = buffered
        self.firmware = firmware
        self.heartbeat = heartbeat
        self.resend = resend
        self.buffer_size = buffer_size
        self.states = list(states or "N" * inputs)
        if len(self.states) != inputs or any(s not in "NATF" for s in self.states):
            raise ValueError(f"states must be {inputs} of N/A/T/F")
        self.port: str | None = None
        self.sent: list[SentFrame] = []
        self.acked: list[tuple[int, int]] = []  # (boot, seq) of IN frames acknowledged
        self.snaps = 0
        self.boots = 0
        self._lock = threading.RLock()
        self._seq = 0
        self._booted_at = time.monotonic()
        self._last_hb = float("-inf")
        self._silent = False
        self._drop = 0
        self._pending: dict[int, _Pending] = {}
        self._lost_in_buffer = 0
        self._decoder = FrameDecoder(Direction.FROM_GATEWAY)
        self._port: PtyPort | None = None
        self._replug: Callable[[], PtyPort] | None = None

    # -- scripting API ---------------------------------------------------------

    def boot(self) -> None:
        """Start (or restart): BOOT with seq 0, then a heartbeat; the event buffer is lost."""
        with self._lock:
            self.boots += 1
            self._booted_at = time.monotonic()
            self._pending.clear()
            self._seq = 0
            self._emit(Boot(self.node_id, self.firmware, self.inputs))
            self._send_hb()

    reboot = boot

    def set_channel(self, channel: int, state: str) -> None:
        """Change channel ``channel`` (1-based) to ``state`` (N/A/T/F); sends IN if it changed."""
        if state not in ("N", "A", "T", "F"):
            raise ValueError(f"state must be N, A, T or F, not {state!r}")
        with self._lock:
            if self.states[channel - 1] == state:
                return
            self.states[channel - 1] = state
            frame = In(self.node_id, self._next_seq(), channel, state, self._uptime())
            wire = self._emit(frame)
            if self.buffered:
                if len(self._pending) >= self.buffer_size:
                    oldest = min(self._pending, key=lambda s: self._pending[s].last_sent)
                    del self._pending[oldest]
                    self._lost_in_buffer += 1
                self._pending[frame.seq] = _Pending(frame, wire, time.monotonic())

    def toggle(self, channel: int) -> None:
        """Flip channel ``channel`` between N and A."""
        with self._lock:
            self.set_channel(channel, "N" if self.states[channel - 1] == "A" else "A")

    def go_silent(self) -> None:
        """Stop sending anything (frames still take seq numbers, so the gateway sees a gap)."""
        with self._lock:
            self._silent = True

    def resume(self) -> None:
        """Talk again after :meth:`go_silent`."""
        with self._lock:
            self._silent = False

    def drop_next(self, n: int) -> None:
        """Lose the next ``n`` frames on the line (their seq numbers are skipped)."""
        with self._lock:
            self._drop += n

    def inject_garbage(self, data: bytes) -> None:
        """Write ``data`` to the line as it is."""
        with self._lock:
            if self._port is not None:
                self._port.write(data)

    def send_raw(self, data: bytes) -> None:
        """Write arbitrary bytes (say, a frame built by hand) to the line."""
        self.inject_garbage(data)

    def unplug(self, mid_frame: bool = False) -> None:
        """Make the port vanish; with ``mid_frame``, after sending half of a frame."""
        with self._lock:
            if self._port is None:
                return
            if mid_frame:
                wire = encode_frame(Hb(self.node_id, self._seq, self._uptime(), "".join(self.states)))
                self._port.write(wire[: len(wire) // 2])
            self._port.close()
            self._port = None
            self.port = None

    def replug(self) -> None:
        """Plug the node back in: a new pty, at the same link path; the node boots again."""
        with self._lock:
            if self._port is not None or self._replug is None:
                return
            self.attach(self._replug(), self._replug)
        self.boot()

    # -- records ---------------------------------------------------------------

    def transmitted(self, kind: type | None = None) -> list[NodeFrame]:
        """Return the frames that went out on the line (first copies only), optionally of one type."""
        with self._lock:
            return [s.frame for s in self.sent if s.transmitted and (kind is None or isinstance(s.frame, kind))]

    def pending(self) -> list[int]:
        """Return the seq of IN frames waiting for an ACK."""
        with self._lock:
            return sorted(self._pending)

    # -- running ---------------------------------------------------------------

    def attach(self, port: PtyPort, replug: Callable[[], PtyPort] | None = None) -> None:
        """Put the node on ``port``."""
        with self._lock:
            self._port = port
            self._replug = replug
            self.port = port.path
            self._decoder.reset()

    def poll(self, timeout: float = 0.02) -> None:
        """Read what the gateway sent, answer it, and send what is due; call it in a loop."""
        port = self._port
        data = port.read(timeout) if port is not None else b""
        if port is None:
            time.sleep(timeout)
        with self._lock:
            for item in self._decoder.feed(data):
                if isinstance(item, FrameError) or item.node_id != self.node_id:
                    continue
                if isinstance(item, Snap):
                    self.snaps += 1
                    self._send_hb()
                elif isinstance(item, Ack):
                    self.acked.append((self.boots, item.seq))
                    if self.buffered:
                        self._pending.pop(item.seq, None)
            self.tick(time.monotonic())

    def tick(self, now: float) -> None:
        """Send the heartbeat and re-send unacknowledged IN frames when they are due."""
        with self._lock:
            if self._lost_in_buffer:
                lost, self._lost_in_buffer = self._lost_in_buffer, 0
                self._emit(Err(self.node_id, self._next_seq(), "BUF_OVERFLOW", str(lost)))
            if now - self._last_hb >= self.heartbeat:
                self._send_hb()
            for pending in self._pending.values():
                if now - pending.last_sent >= self.resend:
                    pending.last_sent = now
                    self._write(pending.wire)

    def _send_hb(self) -> None:
        self._last_hb = time.monotonic()
        self._emit(Hb(self.node_id, self._next_seq(), self._uptime(), "".join(self.states)))

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % SEQ_MODULO
        return self._seq

    def _uptime(self) -> int:
        return int((time.monotonic() - self._booted_at) * 1000) & UINT32_MAX

    def _emit(self, frame: NodeFrame) -> bytes:
        wire = encode_frame(frame)
        transmitted = False
        if self._drop > 0:
            self._drop -= 1
        elif not self._silent and self._port is not None:
            transmitted = self._write(wire)
        self.sent.append(SentFrame(time.monotonic(), frame, transmitted, self.boots))
        return wire

    def _write(self, wire: bytes) -> bool:
        if self._silent or self._port is None:
            return False
        return self._port.write(wire) == len(wire)


class SimulatorHost:
    """Runs simulated nodes on pty pairs, one thread each."""

    def __init__(self, poll_interval: float = 0.01) -> None:
        self.nodes: dict[str, SimulatedNode] = {}
        self.poll_interval = poll_interval
        self._links: dict[str, str | None] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def add(self, node: SimulatedNode, link: str | None = None) -> SimulatedNode:
        """Put ``node`` on a new pty (with a stable symlink at ``link`` if given); return it."""
        self.nodes[node.node_id] = node
        self._links[node.node_id] = link
        node.attach(PtyPort(link), lambda: PtyPort(link))
        return node

    def start(self, boot: bool = True) -> None:
        """Boot every node and start their threads."""
        self._stop.clear()
        for node in self.nodes.values():
            if boot:
                node.boot()
            thread = threading.Thread(target=self._run, args=(node,), name=f"sim-{node.node_id}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, node: SimulatedNode) -> None:
        while not self._stop.is_set():
            try:
                node.poll(self.poll_interval)
            except Exception:  # noqa: BLE001 - one bad node must not stop the others
                logger.exception("simulated node %s failed", node.node_id)
                time.sleep(self.poll_interval)

    def stop(self) -> None:
        """Stop the threads and close every pty."""
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)
        self._threads.clear()
        for node in self.nodes.values():
            node.unplug()

    def __enter__(self) -> "SimulatorHost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- scripts -----------------------------------------------------------------


@dataclass
class ScriptNode:
    """A ``node`` line of a script."""

    node_id: str
    inputs: int = 4
    buffered: bool = False
    states: str | None = None
    link: str | None = None
    heartbeat: float = 0.5


@dataclass
class ScriptStep:
    """An ``at`` or ``every`` line: ``action`` with ``args`` on ``node_id`` at ``at`` s (repeating every ``every``)."""

    at: float
    node_id: str
    action: str
    args: list[str] = field(default_factory=list)
    every: float | None = None
    line: int = 0


@dataclass
class Script:
    """A parsed simulator script."""

    nodes: list[ScriptNode] = field(default_factory=list)
    steps: list[ScriptStep] = field(default_factory=list)
    end: float | None = None


class ScriptError(ValueError):
    """A script line that does not parse; the message names the line."""


_ACTIONS = {"set": 2, "toggle": 1, "reboot": 0, "drop": 1, "garbage": 1, "silent": 0, "resume": 0, "unplug": None, "replug": 0}


def parse_script(text: str, name: str = "<script>") -> Script:
    """Parse the line-based script format described in this module's docstring."""
    script = Script()
    known: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        words = shlex.split(raw, comments=True)
        if not words:
            continue
        where = f"{name}:{number}"
        try:
            if words[0] == "node":
                node = ScriptNode(words[1])
                for option in words[2:]:
                    key, _, value = option.partition("=")
                    if key == "inputs":
                        node.inputs = int(value)
                    elif key == "buffered":
                        node.buffered = value.lower() in ("yes", "true", "1", "on")
                    elif key == "states":
                        node.states = value
                    elif key == "link":
                        node.link = value
                    elif key == "heartbeat":
                        node.heartbeat = float(value)
                    else:
                        raise ScriptError(f"{where}: unknown node option {key!r}")
                script.nodes.append(node)
                known.add(node.node_id)
            elif words[0] == "at" and len(words) == 3 and words[2] == "end":
                script.end = float(words[1])
            elif words[0] in ("at", "every"):
                when, node_id, action, args = float(words[1]), words[2], words[3], words[4:]
                if node_id not in known:
                    raise ScriptError(f"{where}: unknown node {node_id!r} (declare it with a node line first)")
                expected = _ACTIONS.get(action, -1)
                if expected == -1:
                    raise ScriptError(f"{where}: unknown action {action!r}")
                if expected is not None and len(args) != expected:
                    raise ScriptError(f"{where}: {action} takes {expected} argument(s)")
                step = ScriptStep(when, node_id, action, args, line=number)
                if words[0] == "every":
                    step.at, step.every = when, when
                script.steps.append(step)
            else:
                raise ScriptError(f"{where}: cannot read {raw.strip()!r}")
        except (IndexError, ValueError) as exc:
            if isinstance(exc, ScriptError):
                raise
            raise ScriptError(f"{where}: cannot read {raw.strip()!r}: {exc}") from None
    return script


def apply_step(node: SimulatedNode, step: ScriptStep) -> None:
    """Carry out one script step on ``node``."""
    action, args = step.action, step.args
    if action == "set":
        node.set_channel(int(args[0]), args[1])
    elif action == "toggle":
        node.toggle(int(args[0]))
    elif action == "reboot":
        node.reboot()
    elif action == "drop":
        node.drop_next(int(args[0]))
    elif action == "garbage":
        node.inject_garbage(bytes.fromhex(args[0]))
    elif action == "silent":
        node.go_silent()
    elif action == "resume":
        node.resume()
    elif action == "unplug":
        node.unplug(mid_frame=bool(args) and args[0] == "midframe")
    elif action == "replug":
        node.replug()


def run_script(
    script: Script,
    *,
    on_ready: Callable[[SimulatorHost], None] = lambda host: None,
    stop: threading.Event | None = None,
    duration: float | None = None,
) -> SimulatorHost:
    """Start the script's nodes, call ``on_ready``, then play the steps until the end or ``stop``."""
    stop = stop or threading.Event()
    host = SimulatorHost()
    for spec in script.nodes:
        host.add(
            SimulatedNode(spec.node_id, spec.inputs, buffered=spec.buffered, states=spec.states, heartbeat=spec.heartbeat),
            link=spec.link,
        )
    host.start()
    on_ready(host)
    start = time.monotonic()
    end = min(x for x in (script.end, duration) if x is not None) if (script.end or duration) else None
    timeline = sorted(((s.at, i, s) for i, s in enumerate(script.steps)), key=lambda t: (t[0], t[1]))
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - start
            if end is not None and elapsed >= end:
                break
            while timeline and timeline[0][0] <= elapsed:
                due, i, step = timeline.pop(0)
                logger.info("t=%.1f %s %s %s", elapsed, step.node_id, step.action, " ".join(step.args))
                apply_step(host.nodes[step.node_id], step)
                if step.every:
                    timeline.append((due + step.every, i, step))
                    timeline.sort(key=lambda t: (t[0], t[1]))
            next_at = timeline[0][0] - elapsed if timeline else 0.1
            stop.wait(max(0.005, min(next_at, 0.1)))
    finally:
        host.stop()
    return host
