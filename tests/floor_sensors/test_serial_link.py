"""The serial link without a device: back-off on a missing port, loss reported, frames decoded."""

from __future__ import annotations

import serial

from floor_sensors.config import NodeConfig
from floor_sensors.links import FrameDropped, FrameReceived, LinkLost, LinkOpened, SerialNodeLink
from floor_sensors.protocol import Ack, Hb


class FlakyPort:
    """A port that gives some bytes, then fails as an unplugged USB device does."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.written = b""
        self.closed = False

    @property
    def in_waiting(self) -> int:
        return len(self.chunks[0]) if self.chunks else 0

    def read(self, n: int) -> bytes:
        if not self.chunks:
            raise serial.SerialException("device reports readiness to read but returned no data")
        return self.chunks.pop(0)

    def write(self, data: bytes) -> int:
        self.written += data
        return len(data)

    def close(self) -> None:
        self.closed = True


def test_a_missing_port_is_retried_with_doubling_back_off_up_to_the_cap() -> None:
    node = NodeConfig("door-node-1", "/dev/serial/by-id/nothing", reconnect_initial=0.1, reconnect_max=0.5)
    link = SerialNodeLink(node, lambda e: None, opener=lambda *a, **k: (_ for _ in ()).throw(serial.SerialException("gone")))
    waits: list[float] = []

    def record(delay: float) -> None:
        waits.append(delay)
        if len(waits) == 6:
            link._stop.set()

    link._wait = record
    link._run()
    assert waits == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


def test_a_port_that_fails_mid_frame_reports_the_loss_and_forgets_the_partial_frame() -> None:
    events: list[object] = []
    ports = [
        FlakyPort([b"$door-node-1,1,HB,1000,NNNN*C0E1\r\n", b"$door-node-1,2,IN,1,A"]),
        FlakyPort([b",1532*52C1\r\n$door-node-1,3,HB,1,NNNN*"]),
    ]
    node = NodeConfig("door-node-1", "/dev/pts/x", reconnect_initial=0.01, reconnect_max=0.01)
    link = SerialNodeLink(node, events.append, opener=lambda *a, **k: ports.pop(0))

    def wait(delay: float) -> None:
        if not ports:
            link._stop.set()

    link._wait = wait
    link._run()
    kinds = [type(e) for e in events]
    assert kinds[:3] == [LinkOpened, FrameReceived, LinkLost]
    assert events[1].frame == Hb("door-node-1", 1, 1000, "NNNN")
    # The tail of the IN frame after reopening is skipped, never glued to its head.
    assert not any(isinstance(e, FrameReceived) and e.frame.seq == 2 for e in events)
    assert LinkOpened in kinds[3:]
    assert all(not isinstance(e, FrameDropped) or e.error.kind.value != "bad_crc" for e in events)


def test_frames_are_written_back_encoded() -> None:
    port = FlakyPort([])
    node = NodeConfig("door-node-1", "/dev/pts/x")
    link = SerialNodeLink(node, lambda e: None, opener=lambda *a, **k: port)
    assert not link.send(Ack("door-node-1", 2))  # not open yet
    link._open(0)
    assert link.send(Ack("door-node-1", 2))
    assert port.written == b"$door-node-1,ACK,2*D0A7\r\n"
