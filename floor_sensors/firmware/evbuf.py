"""The node's event buffer: keep each IN frame until the gateway ACKs it, re-send every 500 ms.

FSN/1: "A node with an event buffer re-sends an unacknowledged IN frame
unchanged (same seq) every 500 ms until it is acknowledged." When the buffer is
full the oldest frame is dropped and counted, so that the node can report
``ERR,BUF_OVERFLOW,<n>``. Pure, no logging (see ``fsn``).
"""

RESEND_MS = 500


def _plain_diff(a: int, b: int) -> int:
    return a - b


class EventBuffer:
    """Unacknowledged IN frames by seq, oldest first."""

    def __init__(self, capacity: int = 32, resend_ms: int = RESEND_MS, ticks_diff=None) -> None:
        self.capacity = capacity
        self.resend_ms = resend_ms
        self.diff = ticks_diff or _plain_diff
        self.frames = []  # [seq, wire, last_sent_ms], oldest first
        self.lost = 0

    def add(self, seq: int, wire: bytes, now_ms: int) -> None:
        """Keep ``wire`` (already sent once at ``now_ms``) until ``seq`` is acknowledged."""
        if len(self.frames) >= self.capacity:
            self.frames.pop(0)
            self.lost += 1
        self.frames.append([seq, wire, now_ms])

    def ack(self, seq: int) -> bool:
        """Forget the frame ``seq``; return True if it was waiting."""
        for i, entry in enumerate(self.frames):
            if entry[0] == seq:
                self.frames.pop(i)
                return True
        return False

    def due(self, now_ms: int) -> list:
        """Return the frames to re-send now, unchanged, and note that they were sent."""
        out = []
        for entry in self.frames:
            if self.diff(now_ms, entry[2]) >= self.resend_ms:
                entry[2] = now_ms
                out.append(entry[1])
        return out

    def take_lost(self) -> int:
        """Return how many frames were dropped since the last call, and reset the count."""
        lost, self.lost = self.lost, 0
        return lost

    def clear(self) -> None:
        """Forget everything (the node restarted)."""
        self.frames = []
        self.lost = 0
