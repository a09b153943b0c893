"""FSN/1 frames on the node side: CRC, building node frames, reading gateway frames.

Pure Python that runs on MicroPython and CPython alike: no ``binascii``
(MicroPython builds may lack ``crc_hqx``), so the CRC-16/CCITT-FALSE is computed
bit by bit; no f-strings, dataclasses or typing. Like the other firmware
modules it does not log: MicroPython has no ``logging`` module by default, and
the serial line is the protocol's, not a console.
"""

MAX_FRAME = 128


def crc16(data: bytes) -> int:
    """Return the CRC-16/CCITT-FALSE of ``data``: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def frame(body: str) -> bytes:
    """Return ``$body*CRC\\r\\n`` for a body of printable ASCII."""
    raw = body.encode()
    return b"$" + raw + b"*" + ("%04X" % crc16(raw)).encode() + b"\r\n"


class Sequencer:
    """Numbers the frames a node sends: BOOT is 0, then +1 each frame, wrapping 65535 → 0."""

    def __init__(self) -> None:
        self.seq = 0

    def boot(self) -> int:
        """Return the seq of a BOOT frame (always 0) and restart the count."""
        self.seq = 0
        return 0

    def next(self) -> int:
        """Return the seq of the next frame."""
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq


def boot_frame(node_id: str, firmware: str, inputs: int) -> bytes:
    """Return a BOOT frame (seq 0)."""
    return frame("%s,0,BOOT,%s,%d" % (node_id, firmware, inputs))


def in_frame(node_id: str, seq: int, channel: int, state: str, uptime_ms: int) -> bytes:
    """Return an IN frame: ``channel`` (1-based) changed to ``state`` at ``uptime_ms``."""
    return frame("%s,%d,IN,%d,%s,%d" % (node_id, seq, channel, state, uptime_ms & 0xFFFFFFFF))


def hb_frame(node_id: str, seq: int, uptime_ms: int, states: str) -> bytes:
    """Return a heartbeat with one state letter per channel."""
    return frame("%s,%d,HB,%d,%s" % (node_id, seq, uptime_ms & 0xFFFFFFFF, states))


def err_frame(node_id: str, seq: int, code: str, detail: str = "") -> bytes:
    """Return an ERR frame, with ``detail`` if given."""
    if detail:
        return frame("%s,%d,ERR,%s,%s" % (node_id, seq, code, detail))
    return frame("%s,%d,ERR,%s" % (node_id, seq, code))


def parse_gateway_frame(line: bytes, node_id: str):
    """Return ``("SNAP", None)`` or ``("ACK", seq)`` for a valid frame to ``node_id``, else None."""
    if len(line) > MAX_FRAME or not line.startswith(b"$"):
        return None
    content = line[1:]
    while content and content[-1:] in (b"\n", b"\r"):
        content = content[:-1]
    star = content.rfind(b"*")
    if star < 0 or len(content) - star - 1 != 4:
        return None
    body, crc_text = content[:star], content[star + 1 :]
    for c in crc_text:
        if not (48 <= c <= 57 or 65 <= c <= 70):  # uppercase hex only
            return None
    if crc16(body) != int(crc_text.decode(), 16):
        return None
    try:
        fields = body.decode().split(",")
    except UnicodeError:
        return None
    if fields[0] != node_id:
        return None
    if fields[1:] == ["SNAP"]:
        return ("SNAP", None)
    if len(fields) == 3 and fields[1] == "ACK" and fields[2].isdigit() and len(fields[2]) <= 5:
        seq = int(fields[2])
        if seq <= 0xFFFF:
            return ("ACK", seq)
    return None


class LineReader:
    """Collects bytes from the gateway into frames: resyncs on ``$``, drops lines over 128 bytes."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.buf = bytearray()
        self.active = False

    def feed(self, data: bytes) -> list:
        """Return the ``(type, arg)`` commands completed by ``data``."""
        out = []
        for byte in data:
            if byte == 0x24:
                self.buf = bytearray(b"$")
                self.active = True
            elif self.active:
                self.buf.append(byte)
                if byte == 0x0A:
                    cmd = parse_gateway_frame(bytes(self.buf), self.node_id)
                    if cmd is not None:
                        out.append(cmd)
                    self.active = False
                elif len(self.buf) >= MAX_FRAME:
                    self.active = False
        return out
