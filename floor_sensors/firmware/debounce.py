"""Contact debouncing: a change counts once the raw reading has been stable long enough.

FSN/1 asks for a debounce time of 50 ms by default and never above 400 ms, so
that any change held 400 ms or longer is always reported. Time is passed in as
milliseconds; on MicroPython pass ``time.ticks_diff`` so that the wrap of
``ticks_ms`` is handled. Pure, no logging (see ``fsn``).
"""

MAX_DEBOUNCE_MS = 400


def _plain_diff(a: int, b: int) -> int:
    return a - b


class Debouncer:
    """The debounced state of one input."""

    def __init__(self, initial: str, stable_ms: int = 50, ticks_diff=None) -> None:
        if not 0 <= stable_ms <= MAX_DEBOUNCE_MS:
            raise ValueError("FSN/1: debounce time 0 to 400 ms")
        self.state = initial
        self.stable_ms = stable_ms
        self.diff = ticks_diff or _plain_diff
        self._candidate = initial
        self._since = 0

    def update(self, raw: str, now_ms: int):
        """Feed a raw reading taken at ``now_ms``; return the new state when it changes, else None."""
        if raw != self._candidate:
            self._candidate = raw
            self._since = now_ms
        if raw != self.state and self.diff(now_ms, self._since) >= self.stable_ms:
            self.state = raw
            return raw
        return None
