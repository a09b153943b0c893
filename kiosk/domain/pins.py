"""Leaders' kiosk PINs: the format, trivially weak PINs, and the wrong-PIN count of one badge session. Pure.

At the kiosk a leader (and anyone above) identifies with a badge tap plus a PIN of 4 to 6 digits for
anything beyond acknowledging an alert. A badge can be lost or lent; the PIN is what the badge alone
does not give. So a new PIN may not be one a finder would try first:

* the same digit throughout (``0000``, ``999999``);
* a straight run up or down, wrapping 9 → 0 (``1234``, ``3456``, ``7890``, ``9876``, ``543210``);
* a block of two or three digits repeated (``1212``, ``6969``, ``121212``, ``123123``);
* part of the person's own employee number, which the kiosk shows on screen (``10001`` → ``0001``).

``2580`` (straight down the middle of a keypad) passes, and is the demo's PIN: a demo is not a secret.
Wrong PINs are counted per badge session: the ``max_failures``-th ends the session (the service then
raises an alert); a new badge tap starts a new session. So that a finder cannot simply tap again and
again, session lock-outs are also counted per person: the ``max_lockouts``-th within a day blocks the
PIN until an administrator sets a new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_LENGTH, MAX_LENGTH = 4, 6
# ASCII digits only: str.isdigit() would take other scripts' digits (٣, ３) the pad cannot type.
_FORMAT = re.compile(rf"[0-9]{{{MIN_LENGTH},{MAX_LENGTH}}}")


def format_problem(pin: str) -> str | None:
    """Why ``pin`` is not 4 to 6 digits, or None."""
    if not _FORMAT.fullmatch(pin or ""):
        return f"a PIN is {MIN_LENGTH} to {MAX_LENGTH} digits"
    return None


def _straight_run(pin: str) -> bool:
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    return steps in ({1}, {9})  # every digit one up, or every digit one down, from the one before


def _repeated_block(pin: str) -> bool:
    return any(len(pin) % k == 0 and pin == pin[:k] * (len(pin) // k) for k in (1, 2, 3) if k < len(pin))


def weakness(pin: str, employee_no: str = "") -> str | None:
    """Why a well-formed PIN is too easy to guess (see the module docstring), or None."""
    if _repeated_block(pin):
        return "the PIN repeats the same digit or the same few digits"
    if _straight_run(pin):
        return "the PIN is a straight run of digits (like 1234 or 9876)"
    if employee_no and pin in employee_no:
        return "the PIN is part of the employee number, which the kiosk shows on screen"
    return None


def new_pin_problem(pin: str, employee_no: str = "") -> str | None:
    """Why ``pin`` cannot be set as someone's PIN (format, then weakness), or None."""
    return format_problem(pin) or weakness(pin, employee_no)


@dataclass(frozen=True)
class PinPolicy:
    """How many wrong PINs one badge session allows, and how many such lock-outs a day before the PIN is blocked."""

    max_failures: int = 5
    max_lockouts: int = 3

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if self.max_lockouts < 1:
            raise ValueError("max_lockouts must be at least 1")


def pin_blocked(lockouts: int, policy: PinPolicy) -> bool:
    """Whether ``lockouts`` sessions ended on wrong PINs (in the last day, since the PIN was set) block it."""
    return lockouts >= policy.max_lockouts


@dataclass(frozen=True)
class WrongPin:
    """A wrong PIN counted: the session's failures so far, how many tries are left, and whether it ends now."""

    failures: int
    remaining: int
    ends_session: bool


def after_wrong_pin(failures: int, policy: PinPolicy) -> WrongPin:
    """Count one wrong PIN in a session that had ``failures``; the ``max_failures``-th ends the session."""
    count = failures + 1
    remaining = max(policy.max_failures - count, 0)
    return WrongPin(count, remaining, remaining == 0)
