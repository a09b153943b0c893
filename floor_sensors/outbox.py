"""The durable outbox: every event is committed here before it is forwarded.

An SQLite file in WAL mode with ``synchronous=FULL``: once :meth:`Outbox.append`
returns, the events survive ``kill -9`` of the gateway (and a power cut, as far
as the disk keeps its promises). The forwarder reads events oldest first,
leases them while a POST is under way, and deletes only those the server
acknowledged (without waiting for the disk: see :meth:`Outbox.remove`).

Event ids are ``<gateway>:<instance>-<n>``: ``n`` is SQLite's AUTOINCREMENT key
(never reused, even after deletes) and ``instance`` a random tag made when the
file is created, so a fresh outbox never reuses an id the server already has.

The outbox holds at most ``capacity`` events. Beyond that the oldest are
dropped and one ``overflow`` event, carrying how many were dropped, is queued
(older overflow events still waiting are folded into it, so that a long outage
fills the outbox with events, not with overflow notices).
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_CAPACITY = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxEvent:
    """One stored event: its key ``n``, its id, and the JSON object to send (id included)."""

    n: int
    id: str
    body: dict[str, Any]


class Outbox:
    """A bounded, durable FIFO of JSON events, safe to share between threads."""

    def __init__(self, path: str | Path, gateway_id: str, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2:
            raise ValueError("outbox capacity must be at least 2")
        self.path = str(path)
        self.gateway_id = gateway_id
        self.capacity = capacity
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Set on every append; the forwarder clears it before it looks, so an append that lands
        # between its look and its wait still wakes it (a Condition alone would lose that notify).
        self._signal = threading.Event()
        self._leased: set[int] = set()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'instance'").fetchone()
        if row is None:
            self._instance = secrets.token_hex(4)
            self._db.execute("INSERT INTO meta (key, value) VALUES ('instance', ?)", (self._instance,))
        else:
            self._instance = row[0]
        self._count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        self.dropped_total = 0

    def event_id(self, n: int) -> str:
        """Return the id the server sees for the event stored under key ``n``."""
        return f"{self.gateway_id}:{self._instance}-{n}"

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def append(self, events: Iterable[dict[str, Any]]) -> list[str]:
        """Commit ``events`` (JSON objects with a ``type``) durably, in order; return their ids."""
        events = list(events)
        if not events:
            return []
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                keys = []
                for event in events:
                    cur.execute(
                        "INSERT INTO events (type, body) VALUES (?, ?)",
                        (event["type"], json.dumps(event, separators=(",", ":"))),
                    )
                    keys.append(cur.lastrowid)
                self._count += len(events)
                if self._count > self.capacity:
                    self._trim(cur, events[-1].get("at"))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                self._count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
                raise
            self._signal.set()
        return [self.event_id(k) for k in keys if k is not None]

    def _trim(self, cur: sqlite3.Cursor, at: str | None) -> None:
        """Drop the oldest events (not leased) and queue one overflow event for them."""
        leased = tuple(self._leased) or (-1,)
        marks = ",".join("?" * len(leased))
        folded = 0
        for n, body in cur.execute(
            f"SELECT n, body FROM events WHERE type = 'overflow' AND n NOT IN ({marks})", leased
        ).fetchall():
            folded += int(json.loads(body).get("dropped", 0))
            cur.execute("DELETE FROM events WHERE n = ?", (n,))
            self._count -= 1
        need = self._count + 1 - self.capacity  # one slot for the overflow event
        dropped = 0
        if need > 0:
            victims = [
                row[0]
                for row in cur.execute(
                    f"SELECT n FROM events WHERE n NOT IN ({marks}) ORDER BY n LIMIT ?", (*leased, need)
                )
            ]
            cur.executemany("DELETE FROM events WHERE n = ?", [(n,) for n in victims])
            dropped = len(victims)
            self._count -= dropped
        self.dropped_total += dropped
        overflow = {"type": "overflow", "dropped": folded + dropped, "at": at}
        cur.execute("INSERT INTO events (type, body) VALUES ('overflow', ?)", (json.dumps(overflow),))
        self._count += 1
        if dropped:
            logger.warning("outbox full (%d): dropped the %d oldest event(s)", self.capacity, dropped)

    def peek(self, limit: int) -> list[OutboxEvent]:
        """Lease and return up to ``limit`` of the oldest events not already leased."""
        with self._lock:
            rows = self._db.execute("SELECT n, body FROM events ORDER BY n LIMIT ?", (limit + len(self._leased),)).fetchall()
            out = []
            for n, body in rows:
                if n in self._leased:
                    continue
                event = json.loads(body)
                event_id = self.event_id(n)
                out.append(OutboxEvent(n, event_id, {"id": event_id, **event}))
                self._leased.add(n)
                if len(out) == limit:
                    break
            return out

    def remove(self, keys: Iterable[int]) -> None:
        """Delete the events stored under ``keys`` (the server acknowledged them).

        The deletion is committed without waiting for the disk (``synchronous=NORMAL``, still safe from
        corruption in WAL mode): the next append's synced commit carries it to the disk. A power cut
        before that can bring a delivered event back, and it is sent again with its id, which the
        server stores once. Waiting for the disk here held up the next change's append for a whole
        sync after every delivery.
        """
        keys = list(keys)
        if not keys:
            return
        with self._lock:
            cur = self._db.cursor()
            cur.execute("PRAGMA synchronous=NORMAL")
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    cur.executemany("DELETE FROM events WHERE n = ?", [(k,) for k in keys])
                    deleted = cur.rowcount
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                finally:
                    self._leased.difference_update(keys)
            finally:
                cur.execute("PRAGMA synchronous=FULL")
            self._count -= max(deleted, 0)

    def release(self, keys: Iterable[int]) -> None:
        """End the lease of ``keys`` without deleting them (the POST failed)."""
        with self._lock:
            self._leased.difference_update(keys)

    def arm(self) -> None:
        """Forget earlier appends: the next :meth:`wait` returns at the first append after this call."""
        self._signal.clear()

    def wait(self, timeout: float) -> bool:
        """Block until an event is appended (since the last :meth:`arm`) or ``timeout`` passes."""
        return self._signal.wait(timeout)

    def wake(self) -> None:
        """Wake any thread blocked in :meth:`wait` (used at shutdown)."""
        self._signal.set()

    def all_ids(self) -> list[str]:
        """Return the ids of every stored event, oldest first (for checks and tests)."""
        with self._lock:
            return [self.event_id(n) for (n,) in self._db.execute("SELECT n FROM events ORDER BY n")]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
