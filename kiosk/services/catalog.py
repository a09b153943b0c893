"""The floor's slowly changing set-up, read once per change: shifts, kiosk screens' floors, door readers.

Every badge tap needs these; they change when an administrator imports or edits. The database counts every
change in ``catalog_version`` (triggers, migration 0012: whichever process, command or statement made it),
so a tap reads that one number and the set-up itself only when the number moved.

A :class:`Catalog` is one consistent picture: read after the number it carries, so it is never older than
that number says (it may be newer, and is then read again on the next tap).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from sqlalchemy import Connection, select

from kiosk.domain.shifts import ShiftDef, shift_defs
from kiosk.store.lean import Prepared
from kiosk.store.models import CatalogVersion, Door, Floor, Screen, Shift

_version = CatalogVersion.__table__.c
_VERSION = Prepared(select(_version.version).where(_version.id == 1))  # read on every tap
_SHIFTS = select(Shift.__table__.c.code, Shift.__table__.c.name, Shift.__table__.c.start, Shift.__table__.c.end)
_SCREENS = select(Screen.__table__.c.name, Screen.__table__.c.floor_id)
_FLOORS = select(Floor.__table__.c.id).order_by(Floor.__table__.c.sort_order, Floor.__table__.c.id)
_DOOR_READERS = select(Door.__table__.c.id, Door.__table__.c.readers).where(Door.__table__.c.readers != "") \
    .order_by(Door.__table__.c.id)


@dataclass(frozen=True)
class Catalog:
    """The set-up as of ``version``."""

    version: int
    shifts: tuple[ShiftDef, ...]
    screen_floors: Mapping[str, int | None] = field(default_factory=dict)  # screen name -> floor (None: every floor)
    floor_ids: tuple[int, ...] = ()  # in the floors' order
    doors_by_reader: Mapping[str, str] = field(default_factory=dict)  # reader id -> the door it stands at

    def kiosk_floor(self, kiosk_id: str) -> int | None:
        """The floor a kiosk works on; None when it shows every floor or is unknown (as floors.kiosk_floor).

        On a one-floor centre that is always the floor.
        """
        floor_id = self.screen_floors.get(kiosk_id)
        if floor_id is not None:
            return floor_id
        return self.floor_ids[0] if len(self.floor_ids) == 1 else None

    def door_for_reader(self, reader_id: str) -> str | None:
        """The id of the door ``reader_id`` stands at, or None (as doors.door_for_reader)."""
        return self.doors_by_reader.get(reader_id)


def load(conn: Connection, version: int) -> Catalog:
    """Read the whole set-up (after reading ``version``)."""
    doors: dict[str, str] = {}
    for door_id, readers in conn.execute(_DOOR_READERS):
        for reader in readers.split(","):
            if reader.strip():
                doors.setdefault(reader.strip(), door_id)
    return Catalog(
        version=version,
        shifts=shift_defs(tuple(tuple(r) for r in conn.execute(_SHIFTS))),
        screen_floors=MappingProxyType({r.name: r.floor_id for r in conn.execute(_SCREENS)}),
        floor_ids=tuple(conn.execute(_FLOORS).scalars()),
        doors_by_reader=MappingProxyType(doors),
    )


class CatalogCache:
    """One process's copy of the set-up, refreshed when ``catalog_version`` moved."""

    def __init__(self) -> None:
        self._current: Catalog | None = None
        self._loading = threading.Lock()

    def read(self, conn: Connection) -> Catalog:
        """The set-up, checked against the database in ``conn``'s transaction (one small read)."""
        version = int(_VERSION.scalar(conn))
        current = self._current
        if current is not None and current.version == version:
            return current
        with self._loading:  # one thread reads it; a thread arriving meanwhile uses what that one read
            current = self._current
            if current is None or current.version != version:
                current = self._current = load(conn, version)
        return current

    def last(self) -> Catalog | None:
        """The set-up as last checked (by a tap moments ago), without asking the database; None before any."""
        return self._current
