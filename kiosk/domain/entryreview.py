"""Reading the entry log back (§6.6, §6.7): which grant explained each door opening. Pure: rows in, pairs out.

The door rules (``kiosk.domain.doors``) decide at the time: a grant (an accepted badge or visitor card at
the door's reader, or the exit button) explains the next opening within the door's entry window, the
oldest pending grant first; an opening with no grant is forced open, unless the grant just used is still
inside its window (a re-opening: possible tailgating). This module replays the same reasoning over the
logged grants and openings, so a reviewer sees each opening next to the grant that explained it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

GRANTED, REOPENED, FORCED = "granted", "reopened", "forced"


@dataclass(frozen=True)
class GrantSeen:
    """A logged grant: an accepted tap at one of the door's readers, or its exit button pressed."""

    at: datetime
    event_id: int
    kind: str  # badge | visitor | exit_button
    who: str  # employee number, visitor name, or "exit button"


@dataclass(frozen=True)
class OpeningSeen:
    """A logged opening (``door_opened``) and, if seen, its closing (``door_closed``)."""

    at: datetime
    event_id: int
    note: str = ""  # what the door rules wrote at the time
    closed_at: datetime | None = None
    closed_event_id: int | None = None


@dataclass(frozen=True)
class AlarmSeen:
    """A door alarm or warning row (forced open, held open, possible tailgating, sensor trouble)."""

    at: datetime
    event_id: int
    kind: str
    note: str = ""


@dataclass(frozen=True)
class MatchedOpening:
    """An opening with the grant that explained it (None: forced), how, and the alarms during it."""

    opening: OpeningSeen
    grant: GrantSeen | None
    how: str  # granted | reopened | forced
    alarms: tuple[AlarmSeen, ...] = field(default_factory=tuple)

    @property
    def delay_seconds(self) -> float | None:
        """Seconds from the grant to the opening."""
        return (self.opening.at - self.grant.at).total_seconds() if self.grant else None


def pair_closings(opened: list[tuple[datetime, int, str]], closed: list[tuple[datetime, int]]) -> list[OpeningSeen]:
    """Each opening with the first closing after it and before the next opening (both lists in time order)."""
    out: list[OpeningSeen] = []
    j = 0
    for i, (at, eid, note) in enumerate(opened):
        nxt = opened[i + 1][0] if i + 1 < len(opened) else None
        while j < len(closed) and closed[j][0] < at:
            j += 1
        if j < len(closed) and (nxt is None or closed[j][0] <= nxt):
            out.append(OpeningSeen(at, eid, note, closed[j][0], closed[j][1]))
            j += 1
        else:
            out.append(OpeningSeen(at, eid, note))
    return out


def match_openings(openings: list[OpeningSeen], grants: list[GrantSeen], entry_window: timedelta,
                   alarms: list[AlarmSeen] = ()) -> list[MatchedOpening]:  # type: ignore[assignment]
    """Replay the door rules (§6.6): each opening takes the oldest grant still pending within the entry window.

    Grants and openings at the same instant: the grant comes first, as the reader answers before the
    contact opens. An alarm belongs to the opening during which (from its start to its closing) it was raised.
    """
    timeline: list[tuple[datetime, int, object]] = [(g.at, 0, g) for g in grants] + [(o.at, 1, o) for o in openings]
    timeline.sort(key=lambda t: (t[0], t[1], getattr(t[2], "event_id", 0)))
    pending: list[GrantSeen] = []
    last_used: GrantSeen | None = None
    matched: list[MatchedOpening] = []
    for at, _order, item in timeline:
        pending = [g for g in pending if at - g.at <= entry_window]
        if isinstance(item, GrantSeen):
            pending.append(item)
            continue
        assert isinstance(item, OpeningSeen)
        if pending:
            grant, pending = pending[0], pending[1:]
            last_used = grant
            matched.append(MatchedOpening(item, grant, GRANTED))
        elif last_used is not None and at - last_used.at <= entry_window:
            matched.append(MatchedOpening(item, last_used, REOPENED))
        else:
            matched.append(MatchedOpening(item, None, FORCED))
    if alarms:
        # An opening never seen closed lasts, for its alarms, until the next opening.
        ends = [m.opening.closed_at or (matched[i + 1].opening.at if i + 1 < len(matched) else None)
                for i, m in enumerate(matched)]
        matched = [_with_alarms(m, alarms, end) for m, end in zip(matched, ends)]
    return matched


def _with_alarms(m: MatchedOpening, alarms: list[AlarmSeen], end: datetime | None) -> MatchedOpening:
    during = tuple(a for a in alarms if a.at >= m.opening.at and (end is None or a.at <= end))
    return MatchedOpening(m.opening, m.grant, m.how, during) if during else m
