"""Desk logins (§2.4): lockout after repeated wrong passwords, idle sessions ending. Pure: facts and ``now`` in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LoginPolicy:
    """How many wrong passwords lock an account, for how long, and when an idle desk session ends."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)
    idle_timeout: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if self.lock_for <= timedelta(0) or self.idle_timeout <= timedelta(0):
            raise ValueError("lock_for and idle_timeout must be positive")


@dataclass(frozen=True)
class Failures:
    """An account's wrong-password count since its last success or lock, and the lock, if any."""

    count: int = 0
    locked_until: datetime | None = None


def is_locked(failures: Failures, now: datetime) -> bool:
    """True while a lock holds: even the right password is refused then."""
    return failures.locked_until is not None and now < failures.locked_until


def after_failure(failures: Failures, now: datetime, policy: LoginPolicy) -> Failures:
    """Count one wrong password; the ``max_failures``-th locks the account for ``lock_for`` and restarts the count."""
    count = failures.count + 1
    if count >= policy.max_failures:
        return Failures(0, now + policy.lock_for)
    # A lock that has run out is forgotten with the first new failure.
    return Failures(count, failures.locked_until if is_locked(failures, now) else None)


def after_success() -> Failures:
    """The right password, while not locked: the count starts again."""
    return Failures()


def session_idle(last_seen: datetime, now: datetime, policy: LoginPolicy) -> bool:
    """True when a desk session has gone unused for the idle timeout or longer."""
    return now - last_seen >= policy.idle_timeout
