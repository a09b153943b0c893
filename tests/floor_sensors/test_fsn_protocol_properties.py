"""Property tests of the FSN/1 codec: round trips, and no bytes whatsoever crash the decoder."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from floor_sensors.protocol import (
    Ack,
    Boot,
    Err,
    Frame,
    FrameDecoder,
    FrameError,
    Hb,
    In,
    Snap,
    crc16,
    decode_frame,
    encode_frame,
)

node_ids = st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True)
seqs = st.integers(0, 65535)
uptimes = st.integers(0, 2**32 - 1)
letters = st.sampled_from("NATF")
field_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="$*,"), min_size=1, max_size=20
)

frames = st.one_of(
    st.builds(Boot, node_ids, field_text, st.integers(1, 32)),
    st.builds(In, node_ids, seqs, st.integers(1, 32), letters, uptimes),
    st.builds(Hb, node_ids, seqs, uptimes, st.text(letters, min_size=1, max_size=32)),
    st.builds(Err, node_ids, seqs, field_text, st.none() | field_text),
    st.builds(Snap, node_ids),
    st.builds(Ack, node_ids, seqs),
)


@given(frames)
def test_every_valid_frame_survives_an_encode_decode_round_trip(frame: Frame) -> None:
    wire = encode_frame(frame)
    assert len(wire) <= 128
    assert decode_frame(wire) == frame
    assert encode_frame(decode_frame(wire)) == wire


@given(st.lists(frames, max_size=8), st.lists(st.integers(1, 40), max_size=10))
def test_a_stream_of_frames_split_anywhere_decodes_to_the_same_frames(frames_: list[Frame], cuts: list[int]) -> None:
    # The decoder is per line, so it is told nothing about inputs (no cross-node checks).
    stream = b"".join(encode_frame(f) for f in frames_ if not isinstance(f, Boot))
    expected = [f for f in frames_ if not isinstance(f, Boot)]
    decoder = FrameDecoder()
    out: list[object] = []
    pos = 0
    for cut in cuts + [len(stream)]:
        out.extend(decoder.feed(stream[pos : pos + cut]))
        pos += cut
    out.extend(decoder.feed(stream[pos:]))
    assert out == expected


def assert_only_frames_with_good_crc(results: list[Frame | FrameError]) -> None:
    for item in results:
        assert isinstance(item, (Boot, In, Hb, Err, Snap, Ack, FrameError))
        if not isinstance(item, FrameError):
            content = item.raw[1:].rstrip(b"\r\n")
            body, crc = content.rsplit(b"*", 1)
            assert crc16(body) == int(crc, 16)
            assert len(item.raw) <= 128


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_arbitrary_bytes_never_crash_the_decoder_nor_yield_a_frame_with_a_bad_crc(chunks: list[bytes]) -> None:
    decoder = FrameDecoder()
    for chunk in chunks:
        assert_only_frames_with_good_crc(decoder.feed(chunk))


bytes_like_frames = st.lists(
    st.one_of(
        st.sampled_from([b"$", b"*", b",", b"\r", b"\n", b"\r\n", b"IN", b"HB", b"BOOT", b"N", b"A", b"0", b"9"]),
        st.binary(max_size=4),
    ),
    max_size=80,
).map(b"".join)


@settings(max_examples=300)
@given(bytes_like_frames)
def test_frame_shaped_junk_never_crashes_the_decoder(data: bytes) -> None:
    assert_only_frames_with_good_crc(FrameDecoder().feed(data))


@given(st.lists(frames, min_size=1, max_size=5), st.data())
def test_one_corrupted_byte_never_turns_into_a_different_frame(frames_: list[Frame], data: st.DataObject) -> None:
    wire = bytearray(b"".join(encode_frame(f) for f in frames_))
    index = data.draw(st.integers(0, len(wire) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != wire[index]))
    wire[index] = replacement
    results = FrameDecoder().feed(bytes(wire))
    assert_only_frames_with_good_crc(results)
    decoded = [r for r in results if not isinstance(r, FrameError)]
    # A byte that turned into `$` can only cut a frame short; CRC-16 catches any
    # single-byte change in a body, so every surviving frame is one that was sent.
    for frame in decoded:
        assert frame in frames_
