"""Per-node supervision as pure logic: frames and time in, actions out.

Each :class:`NodeSupervisor` watches one FSN/1 node, each
:class:`ModuleSupervisor` one Modbus DI module. They are given the monotonic
time with every call and return a list of actions; they never read a clock,
touch a port or a database. The gateway carries the actions out:

* :class:`PointChanged`: a point took a new state (observed, or reconciled from
  a heartbeat / snapshot);
* :class:`SendFrame`: a frame to write back to the node (``SNAP``, ``ACK``);
* :class:`NodeHealth`: the node went online, offline or restarted.

The rules are those of the protocol's "What the gateway does with it":
offline after ``offline_after`` seconds without a valid frame (every point
``unknown``); a ``seq`` gap means lost frames (ask ``SNAP``, reconcile with the
``HB``); ``BOOT`` after traffic is a restart (reported, ``SNAP``); IN frames are
acknowledged and de-duplicated by (node, boot, seq).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Union

from floor_sensors.protocol import (
    SEQ_MODULO,
    Ack,
    Boot,
    Err,
    ErrorKind,
    Frame,
    FrameError,
    Hb,
    In,
    Snap,
)

logger = logging.getLogger(__name__)

UNKNOWN = "unknown"
# How far behind the newest seq a re-sent IN may be and still count as late
# rather than as a sign that the node restarted without us seeing its BOOT.
LATE_WINDOW = 1024


class PointKind(str, enum.Enum):
    """What a point is; it decides the names of its states."""

    DOOR = "door"
    EXIT_BUTTON = "exit_button"
    SEAT = "seat"
    EQUIPMENT = "equipment"


# FSN/1 "Channel states": N normal, A active, T tamper (line shorted), F fault (line cut).
# T and F are never a closed door.
_STATE_NAMES: dict[PointKind, dict[str, str]] = {
    PointKind.DOOR: {"N": "closed", "A": "open", "T": "tamper", "F": "fault"},
    PointKind.EQUIPMENT: {"N": "closed", "A": "open", "T": "tamper", "F": "fault"},
    PointKind.EXIT_BUTTON: {"N": "released", "A": "pressed", "T": "tamper", "F": "fault"},
    PointKind.SEAT: {"N": "vacant", "A": "occupied", "T": "tamper", "F": "fault"},
}


def point_state(kind: PointKind, letter: str | None) -> str:
    """Return the state name of a point of ``kind`` whose channel shows ``letter`` (None: unknown)."""
    if letter is None:
        return UNKNOWN
    return _STATE_NAMES[kind][letter]


def states_of(kind: PointKind) -> frozenset[str]:
    """Return every state a point of ``kind`` can take."""
    return frozenset(_STATE_NAMES[kind].values()) | {UNKNOWN}


@dataclass(frozen=True)
class PointSpec:
    """A point wired to channel ``channel`` (1-based) of its source."""

    point_id: str
    kind: PointKind
    channel: int
    invert: bool = False  # Modbus only: DI off means contact closed


@dataclass(frozen=True)
class PointChanged:
    """A point took a new state; ``reconciled`` when inferred from a snapshot, not observed."""

    point: str
    kind: PointKind
    state: str
    previous: str
    reconciled: bool
    source: str
    channel: int


@dataclass(frozen=True)
class SendFrame:
    """A frame to write to the node ``source``."""

    source: str
    frame: Snap | Ack


@dataclass(frozen=True)
class NodeHealth:
    """The node ``source`` went ``online``, ``offline`` or ``restarted``."""

    source: str
    state: str
    counters: dict[str, int]


Action = Union[PointChanged, SendFrame, NodeHealth]


@dataclass
class Counters:
    """What went wrong on one node's line, since the gateway started."""

    crc_errors: int = 0
    dropped: int = 0
    gaps: int = 0
    restarts: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counters as the forwarder sends them."""
        return {
            "crc_errors": self.crc_errors,
            "dropped": self.dropped,
            "gaps": self.gaps,
            "restarts": self.restarts,
            "duplicates": self.duplicates,
        }


@dataclass(frozen=True)
class HealthSnapshot:
    """One source's health: online, when last heard (monotonic seconds), counters."""

    source: str
    online: bool
    last_seen: float | None
    counters: dict[str, int] = field(default_factory=dict)


class _PointTable:
    """Channel letters of one source and the point states last reported from them."""

    def __init__(self, source: str, points: Iterable[PointSpec]) -> None:
        self.source = source
        self.points = list(points)
        self.letters: dict[int, str | None] = {p.channel: None for p in self.points}
        self.reported: dict[str, str] = {p.point_id: UNKNOWN for p in self.points}

    def set_letter(self, channel: int, letter: str | None, reconciled: bool) -> list[Action]:
        """Record ``letter`` on ``channel`` and return the point changes it makes."""
        self.letters[channel] = letter
        out: list[Action] = []
        for point in self.points:
            if point.channel == channel:
                out.extend(self._report(point, point_state(point.kind, letter), reconciled))
        return out

    def all_unknown(self, *, announce_unchanged: bool = False) -> list[Action]:
        """Forget every letter; every point becomes ``unknown``."""
        out: list[Action] = []
        for point in self.points:
            self.letters[point.channel] = None
            out.extend(self._report(point, UNKNOWN, False, force=announce_unchanged))
        return out

    def _report(self, point: PointSpec, state: str, reconciled: bool, force: bool = False) -> list[Action]:
        previous = self.reported[point.point_id]
        if state == previous and not force:
            return []
        self.reported[point.point_id] = state
        return [PointChanged(point.point_id, point.kind, state, previous, reconciled, self.source, point.channel)]


class NodeSupervisor:
    """Supervises one FSN/1 node: liveness, sequence, restarts, de-duplication, state."""

    def __init__(
        self,
        node_id: str,
        points: Iterable[PointSpec],
        *,
        now: float,
        offline_after: float = 3.0,
    ) -> None:
        self.node_id = node_id
        self.offline_after = offline_after
        self.counters = Counters()
        self.late = 0  # late re-sends of IN frames whose first copy was lost
        self.boot = 0
        self.online = False
        self.last_valid: float | None = None
        self.last_seq: int | None = None
        self._table = _PointTable(node_id, points)
        self._created = now
        self._offline_announced = False
        self._seen_in: set[int] = set()
        self._missing_warned: set[int] = set()

    # -- inputs ---------------------------------------------------------------

    def on_frame(self, frame: Frame, now: float) -> list[Action]:
        """Handle a valid frame from the node's line."""
        if frame.node_id != self.node_id or isinstance(frame, (Snap, Ack)):
            self.counters.dropped += 1
            logger.warning("node %s: dropped a frame for %r on its line", self.node_id, frame.node_id)
            return []
        out: list[Action] = []
        snap = False
        self.last_valid = now
        if not self.online:
            self.online = True
            self._offline_announced = False
            out.append(self._health("online"))
            # The first frame after silence tells us about one channel at most.
            snap = not isinstance(frame, Hb)
        if isinstance(frame, Boot):
            if self.last_seq is not None:
                out.extend(self._restarted("BOOT"))
            self.boot += 1
            self._seen_in.clear()
            self.last_seq = 0
            snap = True
        elif isinstance(frame, In):
            acts, more_snap = self._on_in(frame)
            out.extend(acts)
            snap = snap or more_snap
        else:
            position = self._advance(frame.seq)
            if position == "behind":
                out.extend(self._restarted(f"seq went back to {frame.seq}"))
                self.last_seq = frame.seq
                snap = True
            elif position == "gap":
                snap = True
            if isinstance(frame, Hb):
                out.extend(self._reconcile(frame.states))
            elif isinstance(frame, Err):
                logger.warning("node %s reports %s %s", self.node_id, frame.code, frame.detail or "")
                snap = snap or frame.code == "BUF_OVERFLOW"  # changes were lost on the node
        if snap:
            out.append(SendFrame(self.node_id, Snap(self.node_id)))
        return out

    def on_error(self, error: FrameError, now: float) -> list[Action]:
        """Count a frame the decoder dropped; it changes no state."""
        if error.kind is ErrorKind.BAD_CRC:
            self.counters.crc_errors += 1
        else:
            self.counters.dropped += 1
        return []

    def on_link_opened(self, now: float) -> list[Action]:
        """The port was (re)opened: ask for a snapshot rather than wait for the heartbeat."""
        return [SendFrame(self.node_id, Snap(self.node_id))]

    def on_link_lost(self, now: float) -> list[Action]:
        """The port went away (unplugged): the node is offline at once."""
        if self.online:
            return self._go_offline()
        return self._announce_never_heard()

    def tick(self, now: float) -> list[Action]:
        """Check liveness: offline once ``offline_after`` has passed without a valid frame."""
        if self.online and self.last_valid is not None and now - self.last_valid >= self.offline_after:
            logger.warning("node %s silent for %.1f s: offline", self.node_id, now - self.last_valid)
            return self._go_offline()
        if not self.online and now - self._created >= self.offline_after:
            return self._announce_never_heard()
        return []

    def health(self) -> HealthSnapshot:
        """Return the node's health for the forwarder."""
        return HealthSnapshot(self.node_id, self.online, self.last_valid, self.counters.as_dict())

    def letters(self) -> dict[int, str | None]:
        """Return the channel letters the gateway holds (None: unknown)."""
        return dict(self._table.letters)

    # -- rules ----------------------------------------------------------------

    def _on_in(self, frame: In) -> tuple[list[Action], bool]:
        out: list[Action] = []
        ack = SendFrame(self.node_id, Ack(self.node_id, frame.seq))
        position = self._classify(frame.seq)
        if position in ("same", "behind"):
            distance = (self.last_seq - frame.seq) % SEQ_MODULO if self.last_seq is not None else 0
            if frame.seq in self._seen_in:
                # A buffered node re-sends until acknowledged: de-duplicate by (node, boot, seq).
                self.counters.duplicates += 1
                return [ack], False
            if 0 < distance <= LATE_WINDOW:
                # The first copy was lost; frames after it (and the SNAP asked on the gap)
                # carry newer state, so this one only needs acknowledging.
                self.late += 1
                self._seen_in.add(frame.seq)
                return [ack], False
            out.extend(self._restarted(f"seq went back to {frame.seq}"))
            self.last_seq = None  # so that _advance sees a first frame and asks SNAP
        snap = self._advance(frame.seq) in ("gap", "first")
        self._seen_in.add(frame.seq)
        out.extend(self._table.set_letter(frame.channel, frame.state, reconciled=False))
        out.append(ack)
        return out, snap

    def _classify(self, seq: int) -> str:
        if self.last_seq is None:
            return "first"
        diff = (seq - self.last_seq) % SEQ_MODULO
        if diff == 1:
            return "next"
        if diff == 0:
            return "same"
        if diff < SEQ_MODULO // 2:
            return "gap"
        return "behind"

    def _advance(self, seq: int) -> str:
        """Move ``last_seq`` forward to ``seq``; count a gap; return where ``seq`` stood."""
        position = self._classify(seq)
        if position in ("same", "behind"):
            return "behind"
        if position == "gap":
            self.counters.gaps += 1
            lost = (seq - self.last_seq - 1) % SEQ_MODULO  # type: ignore[operator]
            logger.warning("node %s: %d frame(s) lost before seq %d: asking SNAP", self.node_id, lost, seq)
        self.last_seq = seq
        # Forget IN seqs too far behind to be re-sent: after a wrap they are new frames.
        self._seen_in = {s for s in self._seen_in if (seq - s) % SEQ_MODULO <= LATE_WINDOW}
        return position

    def _restarted(self, why: str) -> list[Action]:
        logger.warning("node %s restarted (%s)", self.node_id, why)
        self.counters.restarts += 1
        self.boot += 1
        self._seen_in.clear()
        return [self._health("restarted")]

    def _reconcile(self, states: str) -> list[Action]:
        out: list[Action] = []
        for channel, known in self._table.letters.items():
            if channel > len(states):
                if channel not in self._missing_warned:
                    self._missing_warned.add(channel)
                    logger.warning("node %s reports %d channel(s); channel %d of the configuration stays unknown",
                                   self.node_id, len(states), channel)
                continue
            if states[channel - 1] != known:
                out.extend(self._table.set_letter(channel, states[channel - 1], reconciled=True))
        return out

    def _go_offline(self) -> list[Action]:
        self.online = False
        self._offline_announced = True
        return [*self._table.all_unknown(), self._health("offline")]

    def _announce_never_heard(self) -> list[Action]:
        if self._offline_announced:
            return []
        # The server may still hold states from before the gateway started: say unknown.
        self._offline_announced = True
        logger.warning("node %s not heard since the gateway started: offline", self.node_id)
        return [*self._table.all_unknown(announce_unchanged=True), self._health("offline")]

    def _health(self, state: str) -> NodeHealth:
        return NodeHealth(self.node_id, state, self.counters.as_dict())


class ModuleSupervisor:
    """Supervises one Modbus DI module: polls in, point changes and health out."""

    def __init__(
        self,
        module_id: str,
        points: Iterable[PointSpec],
        *,
        now: float,
        offline_after_failures: int = 3,
    ) -> None:
        self.module_id = module_id
        self.offline_after_failures = offline_after_failures
        self.counters = Counters()
        self.online = False
        self.last_valid: float | None = None
        self.failures = 0
        self._table = _PointTable(module_id, points)
        self._announced_offline = False
        self._created = now

    def on_poll(self, bits: Sequence[bool], now: float) -> list[Action]:
        """Handle one successful read of the discrete inputs (``bits[0]`` is channel 1)."""
        out: list[Action] = []
        self.failures = 0
        self.last_valid = now
        first = not self.online
        if first:
            self.online = True
            self._announced_offline = False
            out.append(NodeHealth(self.module_id, "online", self.counters.as_dict()))
        for point in self._table.points:
            if point.channel <= len(bits):
                # A DI is on when its contact is closed: FSN/1's N ("normal, contact closed").
                closed = bool(bits[point.channel - 1]) != point.invert
                # The first read after start or an outage is a snapshot, so reconciled.
                out.extend(self._table.set_letter(point.channel, "N" if closed else "A", reconciled=first))
        return out

    def on_poll_failure(self, now: float, reason: str = "") -> list[Action]:
        """Count a failed poll; the module is offline after ``offline_after_failures`` in a row."""
        self.failures += 1
        self.counters.dropped += 1
        logger.debug("module %s poll failed (%d in a row): %s", self.module_id, self.failures, reason)
        if self.failures < self.offline_after_failures:
            return []
        if self.online:
            logger.warning("module %s: %d polls failed: offline (%s)", self.module_id, self.failures, reason)
            self.online = False
            self._announced_offline = True
            return [*self._table.all_unknown(), NodeHealth(self.module_id, "offline", self.counters.as_dict())]
        if not self._announced_offline:
            self._announced_offline = True
            logger.warning("module %s not answering since the gateway started: offline", self.module_id)
            return [
                *self._table.all_unknown(announce_unchanged=True),
                NodeHealth(self.module_id, "offline", self.counters.as_dict()),
            ]
        return []

    def health(self) -> HealthSnapshot:
        """Return the module's health for the forwarder."""
        return HealthSnapshot(self.module_id, self.online, self.last_valid, self.counters.as_dict())
