"""Keyboard-wedge badge readers: the reader types the UID, the kiosk page captures it.

Such a reader is a USB keyboard to the operating system, so the server never sees the
device: the kiosk web page collects the keystrokes and the web layer hands the text to
``WedgeReader.submit()``. From there a wedge tap is treated like any other (normalised,
repeat-filtered, delivered to ``on_tap``). The server cannot tell whether a keyboard
reader is plugged in, so its health is always CONNECTED.
"""

from __future__ import annotations

import time
from typing import Callable

from kiosk.devices.base import BadgeRead, CoreBackedReader, ReaderHealth
from kiosk.domain.badges import normalize_uid

CONNECTED_MESSAGE = "keyboard-wedge reader: badges are typed into the kiosk page"


class WedgeReader(CoreBackedReader):
    """A reader fed with the text a keyboard-wedge reader typed into the kiosk page.

    Its health is always CONNECTED: the server cannot see a keyboard reader.
    """

    def __init__(self, *, reader_id: str = "kiosk", debounce: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(reader_id=reader_id, debounce=debounce, clock=clock,
                         health=ReaderHealth.CONNECTED, message=CONNECTED_MESSAGE)

    def submit(self, uid_text: str, *, now: float | None = None) -> BadgeRead | None:
        """Take the text typed by the reader; return the read handed on, or None if dropped.

        Raises ``InvalidBadgeUid`` (a ``ValueError``) when the text is not a UID, so the
        web layer can tell the page the badge was not understood.
        """
        # Wedges end a UID with Enter; the page may hand the text on with the newline.
        uid = normalize_uid(uid_text.strip())
        return self._core.deliver(uid, now)
