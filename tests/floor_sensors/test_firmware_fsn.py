"""Reference firmware, FSN/1 module: its bitwise CRC and frames agree with the gateway codec."""

from __future__ import annotations

import ast
import binascii
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from floor_sensors.firmware import fsn
from floor_sensors.protocol import Ack, Boot, Direction, Err, FrameDecoder, Hb, In, Snap, decode_frame, encode_frame

FIRMWARE = Path(fsn.__file__).parent


def test_the_bitwise_crc_of_the_check_string_is_29b1() -> None:
    assert fsn.crc16(b"123456789") == 0x29B1


@given(st.binary(max_size=200))
def test_the_bitwise_crc_matches_binascii_crc_hqx(data: bytes) -> None:
    assert fsn.crc16(data) == binascii.crc_hqx(data, 0xFFFF)


def test_firmware_frames_are_byte_identical_to_the_protocol_examples() -> None:
    assert fsn.boot_frame("door-node-1", "1.0.0", 4) == b"$door-node-1,0,BOOT,1.0.0,4*5109\r\n"
    assert fsn.hb_frame("door-node-1", 1, 1000, "NNNN") == b"$door-node-1,1,HB,1000,NNNN*C0E1\r\n"
    assert fsn.in_frame("door-node-1", 2, 1, "A", 1532) == b"$door-node-1,2,IN,1,A,1532*52C1\r\n"
    assert fsn.err_frame("door-node-1", 4, "BUF_OVERFLOW", "12") == b"$door-node-1,4,ERR,BUF_OVERFLOW,12*0012\r\n"


@given(
    st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True),
    st.integers(0, 65535),
    st.integers(1, 32),
    st.sampled_from("NATF"),
    st.integers(0, 2**32 - 1),
)
def test_firmware_in_frames_decode_with_the_gateway_codec(node: str, seq: int, ch: int, state: str, up: int) -> None:
    assert decode_frame(fsn.in_frame(node, seq, ch, state, up)) == In(node, seq, ch, state, up)


def test_every_firmware_frame_kind_decodes_with_the_gateway_decoder() -> None:
    stream = (
        fsn.boot_frame("n1", "1.0.0", 2)
        + fsn.hb_frame("n1", 1, 5, "NA")
        + fsn.in_frame("n1", 2, 2, "F", 7)
        + fsn.err_frame("n1", 3, "WATCHDOG")
    )
    assert FrameDecoder(Direction.FROM_NODE).feed(stream) == [
        Boot("n1", "1.0.0", 2), Hb("n1", 1, 5, "NA"), In("n1", 2, 2, "F", 7), Err("n1", 3, "WATCHDOG"),
    ]


def test_the_sequencer_restarts_at_zero_on_boot_and_wraps_after_65535() -> None:
    seq = fsn.Sequencer()
    assert seq.boot() == 0 and seq.next() == 1
    seq.seq = 65535
    assert seq.next() == 0


def test_the_line_reader_understands_snap_and_ack_from_the_gateway_codec() -> None:
    reader = fsn.LineReader("door-node-1")
    data = encode_frame(Snap("door-node-1")) + encode_frame(Ack("door-node-1", 2)) + encode_frame(Ack("other", 3))
    assert reader.feed(data) == [("SNAP", None), ("ACK", 2)]


def test_the_line_reader_drops_bad_crc_resyncs_on_dollar_and_bounds_length() -> None:
    reader = fsn.LineReader("door-node-1")
    good = encode_frame(Ack("door-node-1", 2))
    assert reader.feed(b"$door-node-1,ACK,2*D0A8\r\n") == []
    assert reader.feed(b"$door-node-1,AC" + good) == [("ACK", 2)]
    assert reader.feed(b"$" + b"x" * 200 + b"\n" + good) == [("ACK", 2)]
    assert reader.feed(b"$door-node-1,ACK,2*d0a7\r\n") == []


def test_the_pure_firmware_modules_avoid_what_micropython_lacks() -> None:
    for name in ("fsn.py", "debounce.py", "eol.py", "evbuf.py", "main.py"):
        tree = ast.parse((FIRMWARE / name).read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & {"binascii", "typing", "dataclasses", "enum", "logging", "__future__"}, name
        assert not any(isinstance(n, ast.JoinedStr) for n in ast.walk(tree)), f"{name} uses an f-string"
