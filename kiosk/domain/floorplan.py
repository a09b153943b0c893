"""The floor plan editor's rules: plan bounds, which moves of seats, doors and kiosk screens are acceptable,
and what an uploaded background image is, judged by its content and never by its name or declared type.

Pure: no Flask, no database, no files. The service layer loads the seats, doors and screens and the stored
background's size, calls these, and saves all or nothing.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Any, Iterable

MAX_BACKGROUND_BYTES = 5 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_MARGIN = 100.0  # plan units around the seats when there is no background image to give the plan a size


class PlanError(ValueError):
    """A request the editor refuses, with a code and a message a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Bounds:
    """The plan's rectangle in plan units (the units of Seat.x / Seat.y)."""

    x: float
    y: float
    w: float
    h: float

    def contains(self, x: float, y: float) -> bool:
        """True when the point lies on the plan (edges included)."""
        return self.x <= x <= self.x + self.w and self.y <= y <= self.y + self.h

    def as_dict(self) -> dict[str, float]:
        """For JSON and data- attributes."""
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


def plan_bounds(seats: Iterable[tuple[float, float]], image_size: tuple[float, float] | None) -> Bounds:
    """The plan: the background image at (0, 0) in its own units, grown to hold every seat (and every placed
    door and kiosk: the caller passes their points too); without an image, the outline of those points with a
    margin of half its size (at least MIN_MARGIN) on every side."""
    pts = list(seats)
    if image_size:
        x0, y0, x1, y1 = 0.0, 0.0, float(image_size[0]), float(image_size[1])
        for x, y in pts:
            x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
        return Bounds(x0, y0, x1 - x0, y1 - y0)
    if not pts:
        return Bounds(0.0, 0.0, 1000.0, 1000.0)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    mx = max((max(xs) - min(xs)) / 2, MIN_MARGIN)
    my = max((max(ys) - min(ys)) / 2, MIN_MARGIN)
    return Bounds(min(xs) - mx, min(ys) - my, max(xs) - min(xs) + 2 * mx, max(ys) - min(ys) + 2 * my)


# What the editor places: seats (always on the plan), doors and kiosk screens (placed once an admin puts them there).
PLACEABLE = ("seat", "door", "kiosk")


def validate_placements(raw: Any, known: dict[str, dict[str, tuple[float, float] | None]], bounds: Bounds
                        ) -> dict[tuple[str, str], tuple[float, float]]:
    """The placements of a save, checked as a whole: a list of {seat|door|kiosk: id, x, y} for known items,
    each at most once, at finite numbers inside the plan. Any fault refuses the whole save.

    ``known`` maps each kind to its items and their current position (None: not placed yet). The answer maps
    (kind, id) to the new position, rounded to hundredths of a plan unit.
    """
    if isinstance(raw, dict):  # the older {seat: [x, y]} (or {seat: {x, y}}) map: seats only
        raw = [{"seat": k, "x": (v or [None, None])[0] if isinstance(v, list) else (v or {}).get("x"),
                "y": (v or [None, None])[1] if isinstance(v, list) else (v or {}).get("y")} for k, v in raw.items()]
    if not isinstance(raw, list):
        raise PlanError("bad_positions", "The positions must be a list of {seat, x, y} (or {door, x, y}, {kiosk, x, y}).")
    if not raw:
        raise PlanError("no_positions", "Nothing was moved: nothing to save.")
    total = sum(len(items) for items in known.values())
    if len(raw) > total:
        raise PlanError("too_many_positions", f"{len(raw)} positions for a plan of {total} seats, doors and kiosks.")
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise PlanError("bad_positions", "Each position must be an object {seat, x, y} (or door, kiosk).")
        kinds = [k for k in PLACEABLE if k in item]
        if len(kinds) != 1:
            raise PlanError("bad_positions", "Each position names exactly one seat, door or kiosk.")
        kind = kinds[0]
        name = item.get(kind)
        if not isinstance(name, str) or name not in known.get(kind, {}):
            raise PlanError(f"unknown_{kind}", f"Unknown {kind} {str(name)[:40]!r}: nothing was saved.")
        what = f"{kind.capitalize()} {name}"
        if (kind, name) in out:
            raise PlanError(f"duplicate_{kind}", f"{what} is listed twice: nothing was saved.")
        try:
            x, y = float(item.get("x")), float(item.get("y"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise PlanError("bad_number", f"{what}: x and y must be numbers. Nothing was saved.") from None
        if isinstance(item.get("x"), bool) or isinstance(item.get("y"), bool) or not (
                math.isfinite(x) and math.isfinite(y)):
            raise PlanError("bad_number", f"{what}: x and y must be numbers. Nothing was saved.")
        if not bounds.contains(x, y):
            raise PlanError("out_of_plan", f"{what} at ({x:g}, {y:g}) lies outside the plan "
                            f"({bounds.x:g}..{bounds.x + bounds.w:g} × {bounds.y:g}..{bounds.y + bounds.h:g}). "
                            "Nothing was saved.")
        out[(kind, name)] = (round(x, 2), round(y, 2))
    return out


def validate_moves(raw: Any, known: dict[str, tuple[float, float]], bounds: Bounds) -> dict[str, tuple[float, float]]:
    """Seat moves only (a list of {seat, x, y} or a {seat: [x, y]} map), checked as :func:`validate_placements`."""
    moves = validate_placements(raw, {"seat": dict(known)}, bounds)
    return {name: xy for (_kind, name), xy in moves.items()}


# --- background images -----------------------------------------------------------------------------------

_SVG_ROOT = re.compile(rb"^<(?:[A-Za-z_][\w.-]*:)?svg[\s>/]")
_NUM = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px)?\s*$")
# Anything that could run or fetch: scripts, event handlers, javascript: links, foreign HTML, entities.
_SVG_FORBIDDEN = re.compile(rb"<(?:[\w.-]+:)?(?:script|foreignObject|iframe|embed|object)\b|\son[a-z]+\s*=|"
                            rb"javascript:|<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def _skip_prolog(data: bytes) -> bytes:
    """The document after a BOM, the XML declaration, comments and whitespace."""
    rest = data.lstrip(b"\xef\xbb\xbf").lstrip()
    while True:
        if rest.startswith(b"<?"):
            end = rest.find(b"?>")
        elif rest.startswith(b"<!--"):
            end = rest.find(b"-->")
        else:
            return rest
        if end < 0:
            return b""
        rest = rest[end + 3 if rest.startswith(b"<!--") else end + 2:].lstrip()


def _svg_size(head: str) -> tuple[float, float] | None:
    view = re.search(r"""\sviewBox\s*=\s*["']([^"']*)["']""", head)
    if view:
        parts = re.split(r"[\s,]+", view.group(1).strip())
        try:
            w, h = float(parts[2]), float(parts[3])
            if w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h):
                return w, h
        except (IndexError, ValueError):
            pass
    size = []
    for attr in ("width", "height"):
        m = re.search(rf"""\s{attr}\s*=\s*["']([^"']*)["']""", head)
        n = _NUM.match(m.group(1)) if m else None
        if not n:
            return None
        size.append(float(n.group(1)))
    return (size[0], size[1]) if size[0] > 0 and size[1] > 0 else None


def sniff_background(data: bytes) -> tuple[str, tuple[float, float]]:
    """("png" | "svg", (width, height)) of an upload judged by its content; PlanError for anything else."""
    if len(data) > MAX_BACKGROUND_BYTES:
        raise PlanError("too_large", f"The image is larger than {MAX_BACKGROUND_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise PlanError("empty_file", "The file is empty.")
    if data.startswith(PNG_SIGNATURE):
        # The first chunk of a PNG is IHDR: width and height as big-endian 32-bit numbers.
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise PlanError("bad_png", "The file starts like a PNG but is not a valid PNG image.")
        w, h = struct.unpack(">II", data[16:24])
        if not w or not h:
            raise PlanError("bad_png", "The PNG image has no size.")
        return "png", (float(w), float(h))
    body = _skip_prolog(data)
    if _SVG_ROOT.match(body):
        if _SVG_FORBIDDEN.search(data):
            raise PlanError("unsafe_svg", "The SVG contains scripts, event handlers, embedded HTML or a DOCTYPE; "
                            "export the floor plan as a plain drawing (or as PNG).")
        end = body.find(b">")
        size = _svg_size(body[:end + 1].decode("utf-8", "replace")) if end > 0 else None
        if size is None:
            raise PlanError("svg_without_size", "The SVG needs a viewBox (or a numeric width and height) so the "
                            "plan knows its size.")
        return "svg", size
    raise PlanError("not_png_or_svg", "Only a PNG image or an SVG drawing can be the floor plan's background "
                    "(judged by the file's content, not its name).")
