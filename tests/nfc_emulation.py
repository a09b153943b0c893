"""A FeliCa (Type 3) badge emulated over nfcpy's own ``udp`` driver, for tests of the real reader path.

nfcpy's ``udp:HOST:PORT`` driver sends each frame as a datagram; a second frontend on
the same port in card mode answers as a tag, exactly as ``tagtool.py emulate tt3`` does.
The reader sees the tag's IDm (8 bytes) as its identifier, so the badge UID is the IDm in
uppercase hex. Gotchas: the udp reader polls 212F only; the card-mode frontend blocks
waiting for the reader's commands, so a badge must be removed while a reader still polls.
Every wait here has a deadline and waits for an event, not for a guessed time.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import nfc
import nfc.clf
import pytest

DEADLINE = 10.0
IDM = bytearray.fromhex("03FE001122334455")
PMM = bytearray.fromhex("03014B024F4993FF")
SYSTEM_CODE = bytearray.fromhex("12FC")  # NFC Forum Type 3 Tag
# What the reader sends when it polls for FeliCa (nfcpy's SENSF_REQ, system code FFFF).
POLL_DATAGRAM = b"212F 0600ffff0100"


def free_udp_port() -> int:
    """A UDP port nobody is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def uid_of(idm: bytes | bytearray) -> str:
    """The badge UID a reader reports for a tag with this IDm."""
    return bytes(idm).hex().upper()


class EmulatedBadge:
    """A FeliCa badge on the udp "field": a card-mode frontend in its own thread."""

    def __init__(self, port: int, idm: bytes | bytearray = IDM) -> None:
        self.port = port
        self.idm = bytearray(idm)
        self.commands = 0  # commands answered since it was read: presence checks while held
        self.read = threading.Event()
        self._gone = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulated-badge", daemon=True)

    @property
    def uid(self) -> str:
        """The UID a reader reports for this badge."""
        return uid_of(self.idm)

    def present(self) -> "EmulatedBadge":
        """Put the badge on the field."""
        self._thread.start()
        return self

    def remove(self) -> None:
        """Take the badge out of the field; safe to call twice."""
        if not self._thread.is_alive():
            return
        self._gone.set()
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "the emulated badge did not leave the field"

    def _on_startup(self, target: nfc.clf.LocalTarget) -> nfc.clf.LocalTarget:
        target.brty = "212F"
        target.sensf_res = bytearray([0x01]) + self.idm + PMM + SYSTEM_CODE
        return target

    def _on_connect(self, tag: Any) -> bool:
        process = tag.process_command

        def counted(cmd: bytearray) -> Any:
            self.commands += 1
            return process(cmd)

        tag.process_command = counted
        self.read.set()
        return True  # keep answering until the reader lets go or we leave

    def _run(self) -> None:
        clf = nfc.ContactlessFrontend(f"udp:localhost:{self.port}")
        try:
            while not self._gone.is_set():
                clf.connect(card={"on-startup": self._on_startup, "on-connect": self._on_connect},
                            terminate=self._gone.is_set)
        finally:
            clf.close()


def wait_until_polled(port: int) -> None:
    """Return once the reader polls the empty field again: it has let go of the last badge."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as field:
        field.bind(("127.0.0.1", port))
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            field.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = field.recvfrom(1024)
            except socket.timeout:
                break
            if data == POLL_DATAGRAM:
                return
    pytest.fail("the reader never polled the empty field")
