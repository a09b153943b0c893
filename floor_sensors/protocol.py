"""FSN/1, the floor sensor node serial protocol: a pure codec.

The contract is ``docs/sensor-node-protocol.md``. Every frame is one ASCII line::

    $<body>*<CRC>\\r\\n

with CRC-16/CCITT-FALSE over ``body`` as four uppercase hex digits. This module
turns frames into typed, frozen dataclasses and back, and offers
:class:`FrameDecoder`, an incremental decoder fed arbitrary byte chunks from a
serial port. Nothing here does I/O or reads a clock.

Whatever bytes arrive, the decoder never raises: a bad frame comes back as a
:class:`FrameError` value (and is counted). :func:`decode_frame` and
:func:`encode_frame` raise only :class:`FrameError`.
"""

from __future__ import annotations

import binascii
import enum
import logging
import re
from dataclasses import dataclass, field
from typing import Union

logger = logging.getLogger(__name__)

MAX_FRAME = 128  # bytes from `$` to `\n`, both included
SEQ_MODULO = 65536
MAX_INPUTS = 32
UINT32_MAX = 0xFFFFFFFF
STATE_LETTERS = frozenset("NATF")

_NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,16}\Z")
_DECIMAL = re.compile(r"[0-9]{1,10}\Z")
_CRC = re.compile(rb"[0-9A-F]{4}\Z")
_STATES = re.compile(r"[NATF]{1,32}\Z")


class ErrorKind(enum.Enum):
    """Why a frame was dropped; each kind is counted by the decoder."""

    TOO_LONG = "too_long"  # more than 128 bytes from `$` to `\n`
    INTERRUPTED = "interrupted"  # a `$` arrived inside a frame: the partial one is dropped
    NO_CRC = "no_crc"  # no `*CRC` (or not four uppercase hex digits)
    BAD_CRC = "bad_crc"  # CRC does not match the body
    MALFORMED = "malformed"  # CRC fine, but the body does not parse
    INVALID = "invalid"  # not a frame for this direction, or rejected before encoding


class FrameError(Exception):
    """A frame that could not be decoded (or encoded); ``kind`` says why."""

    def __init__(self, kind: ErrorKind, detail: str = "") -> None:
        super().__init__(f"{kind.value}: {detail}" if detail else kind.value)
        self.kind = kind
        self.detail = detail


# --- frames -----------------------------------------------------------------


@dataclass(frozen=True)
class Boot:
    """Node → gateway: the node (re)started; ``seq`` is always 0."""

    node_id: str
    firmware: str
    inputs: int
    seq: int = 0
    raw: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class In:
    """Node → gateway: channel ``channel`` changed to ``state`` at node uptime ``uptime_ms``."""

    node_id: str
    seq: int
    channel: int
    state: str
    uptime_ms: int
    raw: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class Hb:
    """Node → gateway: heartbeat with one state letter per channel, channel 1 first."""

    node_id: str
    seq: int
    uptime_ms: int
    states: str
    raw: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class Err:
    """Node → gateway: a problem on the node (``BUF_OVERFLOW``, ``ADC``, ``WATCHDOG``, ...)."""

    node_id: str
    seq: int
    code: str
    detail: str | None = None
    raw: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class Snap:
    """Gateway → node: answer at once with an HB frame."""

    node_id: str
    raw: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class Ack:
    """Gateway → node: stop re-sending the IN frame ``seq``."""

    node_id: str
    seq: int
    raw: bytes = field(default=b"", compare=False, repr=False)


NodeFrame = Union[Boot, In, Hb, Err]
GatewayFrame = Union[Snap, Ack]
Frame = Union[Boot, In, Hb, Err, Snap, Ack]


class Direction(enum.Enum):
    """Which way frames travel on the line a decoder listens to."""

    FROM_NODE = "from_node"  # the gateway's decoder
    FROM_GATEWAY = "from_gateway"  # a node's (or the simulator's) decoder
    ANY = "any"


# --- CRC and encoding -------------------------------------------------------


def crc16(body: bytes) -> int:
    """Return the CRC-16/CCITT-FALSE of ``body`` (poly 0x1021, init 0xFFFF)."""
    return binascii.crc_hqx(body, 0xFFFF)


def _check_field(value: str, what: str) -> None:
    if not value:
        raise FrameError(ErrorKind.INVALID, f"empty {what}")
    for ch in value:
        if not (0x20 <= ord(ch) <= 0x7E) or ch in "$*,":
            raise FrameError(ErrorKind.INVALID, f"{what} has a character not allowed in a field")


def _check_node_id(node_id: str) -> None:
    if not isinstance(node_id, str) or not _NODE_ID.match(node_id):
        raise FrameError(ErrorKind.INVALID, f"bad node_id {node_id!r}")


def _check_range(value: int, low: int, high: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FrameError(ErrorKind.INVALID, f"{what} {value!r} not in {low}..{high}")


def body_fields(frame: Frame) -> list[str]:
    """Return the comma-separated fields of ``frame``'s body, validating every value."""
    _check_node_id(frame.node_id)
    if isinstance(frame, Boot):
        _check_range(frame.seq, 0, 0, "BOOT seq")
        _check_field(frame.firmware, "firmware")
        _check_range(frame.inputs, 1, MAX_INPUTS, "inputs")
        return [frame.node_id, "0", "BOOT", frame.firmware, str(frame.inputs)]
    if isinstance(frame, In):
        _check_range(frame.seq, 0, SEQ_MODULO - 1, "seq")
        _check_range(frame.channel, 1, MAX_INPUTS, "channel")
        if frame.state not in STATE_LETTERS or len(frame.state) != 1:
            raise FrameError(ErrorKind.INVALID, f"bad state {frame.state!r}")
        _check_range(frame.uptime_ms, 0, UINT32_MAX, "uptime_ms")
        return [frame.node_id, str(frame.seq), "IN", str(frame.channel), frame.state, str(frame.uptime_ms)]
    if isinstance(frame, Hb):
        _check_range(frame.seq, 0, SEQ_MODULO - 1, "seq")
        _check_range(frame.uptime_ms, 0, UINT32_MAX, "uptime_ms")
        if not isinstance(frame.states, str) or not _STATES.match(frame.states):
            raise FrameError(ErrorKind.INVALID, f"bad states {frame.states!r}")
        return [frame.node_id, str(frame.seq), "HB", str(frame.uptime_ms), frame.states]
    if isinstance(frame, Err):
        _check_range(frame.seq, 0, SEQ_MODULO - 1, "seq")
        _check_field(frame.code, "code")
        fields = [frame.node_id, str(frame.seq), "ERR", frame.code]
        if frame.detail is not None:
            _check_field(frame.detail, "detail")
            fields.append(frame.detail)
        return fields
    if isinstance(frame, Snap):
        return [frame.node_id, "SNAP"]
    if isinstance(frame, Ack):
        _check_range(frame.seq, 0, SEQ_MODULO - 1, "seq")
        return [frame.node_id, "ACK", str(frame.seq)]
    raise FrameError(ErrorKind.INVALID, f"not a frame: {type(frame).__name__}")


def encode_frame(frame: Frame) -> bytes:
    """Return ``frame`` as wire bytes ``$body*CRC\\r\\n``; raise FrameError if it is not valid."""
    body = ",".join(body_fields(frame)).encode("ascii")
    wire = b"$" + body + b"*" + b"%04X" % crc16(body) + b"\r\n"
    if len(wire) > MAX_FRAME:
        raise FrameError(ErrorKind.TOO_LONG, f"{len(wire)} bytes")
    return wire


# --- decoding ---------------------------------------------------------------


def _decimal(text: str, low: int, high: int, what: str) -> int:
    # int() would accept "+1", " 1", "1_0" and non-ASCII digits: the protocol says decimal.
    if not _DECIMAL.match(text):
        raise FrameError(ErrorKind.MALFORMED, f"{what} {text!r} is not decimal")
    value = int(text)
    if not low <= value <= high:
        raise FrameError(ErrorKind.MALFORMED, f"{what} {value} not in {low}..{high}")
    return value


def _parse_body(body: str, raw: bytes, direction: Direction, inputs: int | None) -> Frame:
    fields = body.split(",")
    if any(f == "" for f in fields):
        raise FrameError(ErrorKind.MALFORMED, "empty field")
    if len(fields) < 2:
        raise FrameError(ErrorKind.MALFORMED, "too few fields")
    node_id = fields[0]
    if not _NODE_ID.match(node_id):
        raise FrameError(ErrorKind.MALFORMED, f"bad node_id {node_id!r}")
    # Node frames carry a decimal seq second; gateway frames carry their TYPE there.
    if fields[1][:1].isdigit():
        if direction is Direction.FROM_GATEWAY:
            raise FrameError(ErrorKind.INVALID, "node frame on a gateway→node line")
        return _parse_node_frame(node_id, fields[1:], raw, inputs)
    if direction is Direction.FROM_NODE:
        raise FrameError(ErrorKind.INVALID, f"{fields[1]!r} frame on a node→gateway line")
    return _parse_gateway_frame(node_id, fields[1:], raw)


def _parse_node_frame(node_id: str, fields: list[str], raw: bytes, inputs: int | None) -> NodeFrame:
    seq = _decimal(fields[0], 0, SEQ_MODULO - 1, "seq")
    if len(fields) < 2:
        raise FrameError(ErrorKind.MALFORMED, "no TYPE")
    kind, args = fields[1], fields[2:]
    if kind == "BOOT":
        if len(args) != 2:
            raise FrameError(ErrorKind.MALFORMED, "BOOT takes firmware,inputs")
        if seq != 0:
            raise FrameError(ErrorKind.MALFORMED, "BOOT is always seq 0")
        return Boot(node_id, args[0], _decimal(args[1], 1, MAX_INPUTS, "inputs"), 0, raw)
    if kind == "IN":
        if len(args) != 3:
            raise FrameError(ErrorKind.MALFORMED, "IN takes channel,state,uptime_ms")
        channel = _decimal(args[0], 1, inputs or MAX_INPUTS, "channel")
        if args[1] not in STATE_LETTERS:
            raise FrameError(ErrorKind.MALFORMED, f"bad state {args[1]!r}")
        return In(node_id, seq, channel, args[1], _decimal(args[2], 0, UINT32_MAX, "uptime_ms"), raw)
    if kind == "HB":
        if len(args) != 2:
            raise FrameError(ErrorKind.MALFORMED, "HB takes uptime_ms,states")
        uptime = _decimal(args[0], 0, UINT32_MAX, "uptime_ms")
        if not _STATES.match(args[1]):
            raise FrameError(ErrorKind.MALFORMED, f"bad states {args[1]!r}")
        if inputs is not None and len(args[1]) != inputs:
            raise FrameError(ErrorKind.MALFORMED, f"{len(args[1])} states for {inputs} inputs")
        return Hb(node_id, seq, uptime, args[1], raw)
    if kind == "ERR":
        if len(args) not in (1, 2):
            raise FrameError(ErrorKind.MALFORMED, "ERR takes code[,detail]")
        return Err(node_id, seq, args[0], args[1] if len(args) == 2 else None, raw)
    raise FrameError(ErrorKind.MALFORMED, f"unknown node frame type {kind!r}")


def _parse_gateway_frame(node_id: str, fields: list[str], raw: bytes) -> GatewayFrame:
    kind, args = fields[0], fields[1:]
    if kind == "SNAP":
        if args:
            raise FrameError(ErrorKind.MALFORMED, "SNAP takes no arguments")
        return Snap(node_id, raw)
    if kind == "ACK":
        if len(args) != 1:
            raise FrameError(ErrorKind.MALFORMED, "ACK takes seq")
        return Ack(node_id, _decimal(args[0], 0, SEQ_MODULO - 1, "seq"), raw)
    raise FrameError(ErrorKind.MALFORMED, f"unknown gateway frame type {kind!r}")


def decode_frame(
    line: bytes, *, direction: Direction = Direction.ANY, inputs: int | None = None
) -> Frame:
    """Decode one complete frame (``$`` through ``\\n``); raise FrameError if it is not valid.

    ``inputs``, when known (from BOOT or the configuration), bounds IN channels and
    fixes the length of HB states.
    """
    if len(line) > MAX_FRAME:
        raise FrameError(ErrorKind.TOO_LONG, f"{len(line)} bytes")
    if not line.startswith(b"$"):
        raise FrameError(ErrorKind.MALFORMED, "no leading $")
    if line.endswith(b"\r\n"):
        content = line[1:-2]
    elif line.endswith(b"\n"):
        content = line[1:-1]
    else:
        raise FrameError(ErrorKind.MALFORMED, "no line ending")
    star = content.rfind(b"*")
    if star < 0 or not _CRC.match(content[star + 1 :]):
        raise FrameError(ErrorKind.NO_CRC)
    body = content[:star]
    if crc16(body) != int(content[star + 1 :], 16):
        raise FrameError(ErrorKind.BAD_CRC)
    if any(not 0x20 <= b <= 0x7E or b in b"$*" for b in body):
        raise FrameError(ErrorKind.MALFORMED, "body has a byte outside printable ASCII")
    return _parse_body(body.decode("ascii"), bytes(line), direction, inputs)


class FrameDecoder:
    """Incremental FSN/1 decoder: feed it byte chunks, get frames and errors back.

    Skips bytes until ``$``; a ``$`` inside a frame drops the partial frame and
    starts a new one; more than 128 bytes without ``\\n`` drops the frame and skips
    to the next ``$``. Every dropped frame is returned as a :class:`FrameError`
    value and counted in :attr:`counts`. The number of inputs of each node is
    learned from its BOOT frame; ``inputs`` is the number assumed before that.
    """

    def __init__(self, direction: Direction = Direction.ANY, inputs: int | None = None) -> None:
        self.direction = direction
        self.default_inputs = inputs
        self.inputs: dict[str, int] = {}
        self.counts: dict[ErrorKind, int] = {kind: 0 for kind in ErrorKind}
        self.frames = 0
        self.skipped_bytes = 0
        self._buf = bytearray()
        self._in_frame = False

    def reset(self) -> None:
        """Forget any partial frame (say, after the port was reopened)."""
        self._buf.clear()
        self._in_frame = False

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        """Consume ``data`` and return the frames and errors it completed, in order."""
        out: list[Frame | FrameError] = []
        for byte in bytes(data):
            if byte == 0x24:  # `$`
                if self._in_frame:
                    out.append(self._count(FrameError(ErrorKind.INTERRUPTED, "$ inside a frame")))
                self._buf[:] = b"$"
                self._in_frame = True
            elif not self._in_frame:
                self.skipped_bytes += 1
            else:
                self._buf.append(byte)
                if byte == 0x0A:  # `\n`
                    out.append(self._complete(bytes(self._buf)))
                    self.reset()
                elif len(self._buf) >= MAX_FRAME:
                    # The `\n` would be byte 129 or later.
                    out.append(self._count(FrameError(ErrorKind.TOO_LONG, f"> {MAX_FRAME} bytes")))
                    self.reset()
        return out

    def _complete(self, line: bytes) -> Frame | FrameError:
        try:
            frame = decode_frame(line, direction=self.direction, inputs=self._inputs_for(line))
        except FrameError as exc:
            return self._count(exc)
        except Exception as exc:  # noqa: BLE001 - the decoder must never raise, whatever arrives
            logger.exception("unexpected error decoding %r", line)
            return self._count(FrameError(ErrorKind.MALFORMED, f"unexpected {type(exc).__name__}"))
        if isinstance(frame, Boot):
            self.inputs[frame.node_id] = frame.inputs
        self.frames += 1
        return frame

    def _inputs_for(self, line: bytes) -> int | None:
        # BOOT itself announces the count, so it is never checked against an old one.
        node_id = line[1:].split(b",", 1)[0].decode("ascii", "replace")
        if b",0,BOOT," in line:
            return None
        return self.inputs.get(node_id, self.default_inputs)

    def _count(self, error: FrameError) -> FrameError:
        self.counts[error.kind] += 1
        return error
