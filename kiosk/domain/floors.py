"""Floors (楼层): what a floor code and names may be, and which floor a row lands on when a file or a command
names none. Pure: the service layer loads the floors and asks.

A centre with one floor never names it: everything lands on that floor. With several, a new row must say
which floor it is on, unless something it refers to says so already (a seat's zone, a seat point's seat, a
roster line's seat, a door's contact point); a floor it names must agree with that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,16}$")
NAME_MAX = 64
ALL = "all"  # what a command says for "every floor" (a screen that shows them all)


@dataclass(frozen=True)
class FloorInfo:
    """A floor as the rules and the screens know it."""

    id: int
    code: str
    name_zh: str
    name_en: str
    sort_order: int = 0

    def as_dict(self) -> dict[str, object]:
        """For JSON: what the screens show in their floor selector."""
        return {"id": self.id, "code": self.code, "name_zh": self.name_zh, "name_en": self.name_en}


class FloorProblem(ValueError):
    """Why a floor cannot be written or chosen, in words a person can act on."""


def check_floor(code: str, name_zh: str, name_en: str, others: Sequence[str]) -> None:
    """Refuse a malformed or taken code, or a name that is empty or too long."""
    if not CODE_RE.match(code or ""):
        raise FloorProblem(f"{code!r} is not a floor code; use 1 to 16 characters of A-Z a-z 0-9 _ . - (3F, B1)")
    if code.lower() == ALL:
        raise FloorProblem(f"{code!r} means every floor; choose another code")
    if code in others:
        raise FloorProblem(f"floor {code} exists already")
    for what, name in (("Chinese", name_zh), ("English", name_en)):
        if not (name or "").strip():
            raise FloorProblem(f"the floor's {what} name is required")
        if len(name) > NAME_MAX:
            raise FloorProblem(f"the floor's {what} name is longer than {NAME_MAX} characters")


def resolve(given: str | None, implied: int | None, kept: int | None, floors: Mapping[str, int],
            implied_by: str = "") -> int:
    """The floor a row lands on: the one it names (which must agree with ``implied``, the floor of what it refers
    to), else ``implied``, else ``kept`` (the stored row's), else the only floor. FloorProblem otherwise."""
    if given:
        if given not in floors:
            known = ", ".join(floors) or "none"
            raise FloorProblem(f"unknown floor {given}; the floors are {known} (add one with `kiosk floor add`)")
        if implied is not None and floors[given] != implied:
            code = next(c for c, i in floors.items() if i == implied)
            raise FloorProblem(f"{implied_by} is on floor {code}, not {given}")
        return floors[given]
    if implied is not None:
        return implied
    if kept is not None:
        return kept
    if len(floors) == 1:
        return next(iter(floors.values()))
    raise FloorProblem(f"the centre has {len(floors)} floors ({', '.join(floors)}): say which one this is on")
