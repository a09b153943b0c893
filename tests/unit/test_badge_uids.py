"""Badge UIDs have one normal form whichever way they arrive."""

import pytest

from kiosk.domain.badges import InvalidBadgeUid, masked_uid, normalize_uid


def test_a_uid_typed_with_colons_and_one_read_as_bytes_match():
    assert normalize_uid("04:a1:b2") == normalize_uid(b"\x04\xa1\xb2") == "04A1B2"


@pytest.mark.parametrize("raw", ["04 a1 b2", "04-A1-B2", "0x04a1b2", " 04a1b2 "])
def test_separators_case_and_prefix_are_ignored(raw):
    assert normalize_uid(raw) == "04A1B2"


@pytest.mark.parametrize("raw,why", [("", "empty"), ("04G1", "not hexadecimal"), ("04A", "odd"),
                                     ("00" * 17, "longer than 16 bytes")])
def test_garbage_is_refused_with_a_reason(raw, why):
    with pytest.raises(InvalidBadgeUid, match=why):
        normalize_uid(raw)


def test_logs_see_only_the_last_four_digits():
    assert masked_uid("04A1B2C3D4") == "…C3D4"
