"""FSN/1 codec: the protocol document's examples, validation and the incremental decoder."""

from __future__ import annotations

import binascii
from pathlib import Path

import pytest

from floor_sensors.protocol import (
    Ack,
    Boot,
    Direction,
    Err,
    ErrorKind,
    FrameDecoder,
    FrameError,
    Hb,
    In,
    Snap,
    crc16,
    decode_frame,
    encode_frame,
)

# Copied verbatim from the "Examples (valid CRCs)" section of sensor-node-protocol.md.
DOC_EXAMPLES = [
    b"$door-node-1,0,BOOT,1.0.0,4*5109",
    b"$door-node-1,1,HB,1000,NNNN*C0E1",
    b"$door-node-1,2,IN,1,A,1532*52C1",
    b"$door-node-1,3,IN,1,N,9610*4812",
    b"$door-node-1,4,ERR,BUF_OVERFLOW,12*0012",
    b"$seat-row-a,17,HB,51000,ANAAFNNN*DD16",
    b"$door-node-1,SNAP*95E6",
    b"$door-node-1,ACK,2*D0A7",
]

EXPECTED = [
    Boot("door-node-1", "1.0.0", 4),
    Hb("door-node-1", 1, 1000, "NNNN"),
    In("door-node-1", 2, 1, "A", 1532),
    In("door-node-1", 3, 1, "N", 9610),
    Err("door-node-1", 4, "BUF_OVERFLOW", "12"),
    Hb("seat-row-a", 17, 51000, "ANAAFNNN"),
    Snap("door-node-1"),
    Ack("door-node-1", 2),
]


def test_crc_of_the_check_string_is_29b1() -> None:
    assert crc16(b"123456789") == 0x29B1


def test_crc_is_binascii_crc_hqx_with_initial_ffff() -> None:
    assert crc16(b"door-node-1,SNAP") == binascii.crc_hqx(b"door-node-1,SNAP", 0xFFFF)


@pytest.mark.parametrize("line,expected", list(zip(DOC_EXAMPLES, EXPECTED)))
def test_every_document_example_decodes_to_the_expected_frame(line: bytes, expected: object) -> None:
    assert decode_frame(line + b"\r\n") == expected


@pytest.mark.parametrize("line", DOC_EXAMPLES)
def test_every_document_example_re_encodes_byte_identically(line: bytes) -> None:
    assert encode_frame(decode_frame(line + b"\r\n")) == line + b"\r\n"


def test_a_bare_newline_ending_is_accepted() -> None:
    assert decode_frame(DOC_EXAMPLES[1] + b"\n") == EXPECTED[1]


def test_decoded_frames_keep_the_raw_line_they_came_from() -> None:
    assert decode_frame(DOC_EXAMPLES[2] + b"\n").raw == DOC_EXAMPLES[2] + b"\n"


def test_the_incremental_decoder_yields_all_examples_fed_one_byte_at_a_time() -> None:
    decoder = FrameDecoder()
    stream = b"".join(line + b"\r\n" for line in DOC_EXAMPLES)
    out = []
    for i in range(len(stream)):
        out.extend(decoder.feed(stream[i : i + 1]))
    assert out == EXPECTED


def test_a_dollar_inside_a_frame_drops_the_partial_frame_and_starts_a_new_one() -> None:
    decoder = FrameDecoder()
    out = decoder.feed(b"$door-node-1,2,IN,1,A" + DOC_EXAMPLES[1] + b"\r\n")
    assert [type(x) for x in out] == [FrameError, Hb]
    assert out[0].kind is ErrorKind.INTERRUPTED
    assert decoder.counts[ErrorKind.INTERRUPTED] == 1


def test_bytes_before_the_first_dollar_are_skipped() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\xffgarbage\r\n" + DOC_EXAMPLES[1] + b"\n") == [EXPECTED[1]]
    assert decoder.skipped_bytes == len(b"\x00\xffgarbage\r\n")


def test_a_frame_of_exactly_128_bytes_is_accepted_and_129_is_dropped() -> None:
    def line_of(total: int) -> bytes:
        # ERR detail padded so that `$ ... *CRC\r\n` is `total` bytes long.
        head = "n,5,ERR,X,"
        pad = total - len("$" + head + "*XXXX\r\n")
        body = (head + "d" * pad).encode()
        return b"$" + body + b"*%04X\r\n" % crc16(body)

    decoder = FrameDecoder()
    assert len(line_of(128)) == 128
    ok = decoder.feed(line_of(128))
    assert len(ok) == 1 and isinstance(ok[0], Err)
    too_long = decoder.feed(line_of(129) + DOC_EXAMPLES[1] + b"\n")
    assert [getattr(x, "kind", None) for x in too_long] == [ErrorKind.TOO_LONG, None]
    assert too_long[1] == EXPECTED[1]


def test_a_wrong_crc_is_dropped_and_counted_as_a_crc_error() -> None:
    decoder = FrameDecoder()
    out = decoder.feed(b"$door-node-1,2,IN,1,A,1532*52C2\r\n")
    assert out[0].kind is ErrorKind.BAD_CRC and decoder.counts[ErrorKind.BAD_CRC] == 1


def test_a_frame_without_crc_is_dropped() -> None:
    assert FrameDecoder().feed(b"$door-node-1,2,IN,1,A,1532\r\n")[0].kind is ErrorKind.NO_CRC


def test_lowercase_crc_digits_are_not_the_protocol() -> None:
    assert FrameDecoder().feed(b"$door-node-1,ACK,2*d0a7\r\n")[0].kind is ErrorKind.NO_CRC


def frame_with_body(body: str) -> bytes:
    raw = body.encode("latin-1")
    return b"$" + raw + b"*%04X\r\n" % crc16(raw)


@pytest.mark.parametrize(
    "body",
    [
        "door-node-1,1,BOOT,1.0.0,4",  # BOOT is always seq 0
        "door-node-1,0,BOOT,1.0.0,33",  # 1 to 32 inputs
        "door-node-1,0,BOOT,1.0.0,0",
        "door-node-1,65536,HB,1,N",  # seq 0..65535
        "door-node-1,+1,HB,1,N",
        "door-node-1,1,HB,4294967296,N",  # uint32 uptime
        "door-node-1,1,HB,1,NXNN",  # state letters N/A/T/F
        "door-node-1,1,HB,1," + "N" * 33,
        "door-node-1,1,IN,0,A,5",  # channels are 1-based
        "door-node-1,1,IN,33,A,5",
        "door-node-1,1,IN,1,n,5",
        "door-node-1,1,IN,1,A",
        "door-node-1,1,IN,1,A,5,6",
        "door-node-1,1,HELLO",
        "door-node-1,1,ERR",
        "door node,1,HB,1,N",  # node_id charset
        "abcdefghijklmnopq,1,HB,1,N",  # 17 characters
        "door-node-1,,HB,1,N",
        "door-node-1,SNAP,1",
        "door-node-1,ACK",
        "door-node-1,PING",
        "door-node-1,1,HB,1,N\x01",
        "door-node-1,1,HB,1,N\xe9",
    ],
)
def test_frames_with_valid_crc_but_bad_fields_are_malformed(body: str) -> None:
    decoder = FrameDecoder()
    out = decoder.feed(frame_with_body(body))
    assert len(out) == 1 and isinstance(out[0], FrameError)
    assert out[0].kind is ErrorKind.MALFORMED


def test_channels_beyond_the_inputs_announced_at_boot_are_malformed() -> None:
    decoder = FrameDecoder(Direction.FROM_NODE)
    decoder.feed(b"$door-node-1,0,BOOT,1.0.0,4*5109\r\n")
    assert decoder.inputs == {"door-node-1": 4}
    assert decoder.feed(frame_with_body("door-node-1,1,IN,5,A,10"))[0].kind is ErrorKind.MALFORMED
    assert decoder.feed(frame_with_body("door-node-1,2,HB,10,NNNNN"))[0].kind is ErrorKind.MALFORMED
    assert decoder.feed(frame_with_body("door-node-1,3,IN,4,A,10")) == [In("door-node-1", 3, 4, "A", 10)]


def test_a_gateway_decoder_refuses_frames_meant_for_a_node() -> None:
    out = FrameDecoder(Direction.FROM_NODE).feed(b"$door-node-1,SNAP*95E6\r\n")
    assert out[0].kind is ErrorKind.INVALID


def test_a_node_decoder_refuses_frames_sent_by_a_node() -> None:
    out = FrameDecoder(Direction.FROM_GATEWAY).feed(b"$door-node-1,1,HB,1000,NNNN*C0E1\r\n")
    assert out[0].kind is ErrorKind.INVALID


@pytest.mark.parametrize(
    "frame",
    [
        Boot("door-node-1", "1.0.0", 0),
        Boot("door-node-1", "1.0.0", 4, seq=3),
        In("door-node-1", 1, 1, "X", 0),
        In("door-node-1", 65536, 1, "A", 0),
        Hb("door-node-1", 1, -1, "N"),
        Hb("door-node-1", 1, 1, ""),
        Err("door-node-1", 1, "A,B"),
        Snap("bad id"),
        Ack("door-node-1", -1),
    ],
)
def test_encoding_an_invalid_frame_raises_frame_error(frame: object) -> None:
    with pytest.raises(FrameError):
        encode_frame(frame)  # type: ignore[arg-type]


def test_encoding_a_frame_longer_than_128_bytes_raises_frame_error() -> None:
    with pytest.raises(FrameError) as info:
        encode_frame(Err("door-node-1", 1, "X", "d" * 120))
    assert info.value.kind is ErrorKind.TOO_LONG


def protocol_document() -> Path:
    """The FSN/1 document the project ships (docs/), the contract for gateway, simulator and firmware."""
    return Path(__file__).resolve().parents[2] / "docs" / "sensor-node-protocol.md"


def test_the_examples_in_the_protocol_document_itself_decode_and_re_encode_byte_identically() -> None:
    doc = protocol_document()
    text = doc.read_text(encoding="utf-8")
    block = text.split("## Examples", 1)[1].split("```", 2)[1]
    lines = [line.strip().encode() for line in block.splitlines() if line.strip().startswith("$")]
    assert lines == DOC_EXAMPLES  # the copy in this file is the document's
    for line in lines:
        assert encode_frame(decode_frame(line + b"\r\n")) == line + b"\r\n"
