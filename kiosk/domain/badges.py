"""Badge identifiers: one normal form for every way a UID reaches us."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s:\-_.]")
_HEX = re.compile(r"^[0-9A-F]+$")


class InvalidBadgeUid(ValueError):
    """A string that cannot be a badge UID."""


def normalize_uid(raw: str | bytes | bytearray) -> str:
    """Return the UID as uppercase hex without separators: ``04:a1:b2`` and ``b"\\x04\\xa1\\xb2"`` both give ``04A1B2``."""
    if isinstance(raw, (bytes, bytearray)):
        if not raw:
            raise InvalidBadgeUid("empty badge UID")
        return bytes(raw).hex().upper()
    text = _SEPARATORS.sub("", str(raw)).upper()
    if text.startswith("0X"):
        text = text[2:]
    if not text:
        raise InvalidBadgeUid("empty badge UID")
    if not _HEX.match(text):
        raise InvalidBadgeUid(f"badge UID {raw!r} is not hexadecimal")
    if len(text) % 2:
        raise InvalidBadgeUid(f"badge UID {raw!r} has an odd number of hex digits")
    if len(text) > 32:
        raise InvalidBadgeUid(f"badge UID {raw!r} is longer than 16 bytes")
    return text


def masked_uid(uid: str) -> str:
    """Show only the last four hex digits, for INFO logs and screens that need no more."""
    return "…" + uid[-4:] if len(uid) > 4 else uid
