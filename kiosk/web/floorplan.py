"""The floor plan editor under /admin/floorplan and the plan's background image.

* ``GET /admin/floorplan`` — the plan as SVG with every seat, door and kiosk screen; an admin drags them
  (pointer events: mouse, touch, pen), puts a door or kiosk not on the plan yet onto it, and saves. Needs
  ``floorplan.edit``; everyone else gets the same refusal page and log row as the review screens.
* ``POST /admin/floorplan/positions`` (also under its older name ``/admin/floorplan/seats``) — form fields
  ``csrf_token`` and ``positions`` (JSON: a list of {seat, x, y}, {door, x, y} or {kiosk, x, y}); checked as
  a whole and written all or nothing; logged ``floorplan_changed``.
* ``POST /admin/floorplan/background`` — a multipart upload, PNG or SVG judged by content, at most 5 MB;
  logged ``floorplan_background_changed``.
* ``GET /floorplan/background`` (and ``/floorplan/background/info``) — public like the floor map itself:
  the image with its own Content-Type, a CSP of its own and ``sandbox``, and the maps only ever show it
  through an SVG ``<image>``, where an SVG's scripts never run (uploads with scripts are refused anyway).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, redirect, render_template, request, send_file, url_for

from kiosk.domain.floorplan import MAX_BACKGROUND_BYTES, PlanError
from kiosk.domain.floors import FloorInfo
from kiosk.services import floorplan, floors
from kiosk.web import services
from kiosk.web.auth import csrf_protect, current_user, refuse, require_permission, wants_json

logger = logging.getLogger(__name__)

bp = Blueprint("floorplan", __name__)
PERMISSION = "floorplan.edit"
UPLOAD_SLACK = 64 * 1024  # the multipart envelope around the file


def _too_large() -> Response | None:
    """Refuse an oversize upload from its Content-Length, before the form is read at all."""
    if request.method == "POST" and request.endpoint == "floorplan.background_upload":
        if (request.content_length or 0) > MAX_BACKGROUND_BYTES + UPLOAD_SLACK:
            current_user()
            return refuse("too_large", f"The image is larger than {MAX_BACKGROUND_BYTES // (1024 * 1024)} MB.", 413,
                          log_kind="floorplan_refused", data={"bytes": request.content_length})
    return None


bp.before_request(_too_large)  # first: an oversize body is never parsed for its form token
bp.before_request(csrf_protect)


@bp.after_request
def _no_store(response: Response) -> Response:
    if request.endpoint != "floorplan.background":
        response.headers["Cache-Control"] = "no-store"
    return response


class _UnknownFloor(Exception):
    """A ``floor`` parameter that names no floor."""


def _floor() -> FloorInfo:
    """The floor a request is about: ``floor`` (a code) in the query or the form; else the first floor."""
    all_floors = floors.list_floors(services())
    code = (request.values.get("floor") or "").strip()
    if not code:
        return all_floors[0]
    for f in all_floors:
        if f.code == code:
            return f
    raise _UnknownFloor(code)


@bp.errorhandler(_UnknownFloor)
def _unknown_floor(exc: _UnknownFloor) -> Any:
    return refuse("unknown_floor", f"No floor {str(exc)[:16]!r}.", 404)


def _editor(status: int = 200, error: str | None = None, note: str | None = None) -> Response:
    current = _floor()
    plan = floorplan.plan(services(), current.id)
    resp = Response(render_template("floorplan_editor.html", user=g.desk_user, plan=plan, error=error, note=note,
                                    plan_json=json.dumps(plan, ensure_ascii=False), floor=current,
                                    floors=floors.list_floors(services()),
                                    max_mb=MAX_BACKGROUND_BYTES // (1024 * 1024)))
    resp.status_code = status
    return resp


@bp.get("/admin/floorplan")
@require_permission(PERMISSION)
def editor() -> Any:
    """The editor: the plan, every seat draggable, Save, and the background upload form."""
    notes = {"background": "The background image was saved. / 背景图已保存。"}
    return _editor(note=notes.get(request.args.get("saved", "")))


@bp.post("/admin/floorplan/positions", endpoint="save_positions")
@bp.post("/admin/floorplan/seats")
@require_permission(PERMISSION)
def save_seats() -> Any:
    """Save dragged positions of seats, doors and kiosk screens: all or nothing."""
    user = g.desk_user
    try:
        raw = json.loads(request.form.get("positions", ""))
    except ValueError:
        return refuse("bad_positions", "The positions are not valid JSON: nothing was saved.", 400,
                      log_kind="floorplan_refused")
    try:
        result = floorplan.place(services(), raw, actor=user.employee_no, floor_id=_floor().id,
                                 data={"username": user.username, "remote": request.remote_addr or "?"})
    except PlanError as exc:
        return refuse(exc.code, exc.message, 400, log_kind="floorplan_refused")
    if wants_json() or request.headers.get("X-Requested-With") == "fetch":
        return jsonify(result)
    return redirect(url_for("floorplan.editor", floor=_floor().code))


@bp.post("/admin/floorplan/background")
@require_permission(PERMISSION)
def background_upload() -> Any:
    """Replace the plan's background with an uploaded PNG or SVG."""
    user = g.desk_user
    upload = request.files.get("image")
    if upload is None or not upload.filename and not upload.content_length:
        return _refuse_upload("no_file", "Choose a PNG or SVG file to upload.")
    content = upload.stream.read(MAX_BACKGROUND_BYTES + 1)
    try:
        result = floorplan.set_background(services(), content, upload.filename or "", actor=user.employee_no,
                                          data={"username": user.username, "remote": request.remote_addr or "?"},
                                          floor_id=_floor().id)
    except PlanError as exc:
        return _refuse_upload(exc.code, exc.message, 413 if exc.code == "too_large" else 400)
    if wants_json():
        return jsonify(result)
    return redirect(url_for("floorplan.editor", saved="background", floor=_floor().code))


def _refuse_upload(code: str, message: str, status: int = 400) -> Response:
    if wants_json():
        return refuse(code, message, status, log_kind="floorplan_refused")
    from kiosk.web.auth import audit

    audit("floorplan_refused", subject=request.path, outcome=code, reason=message)
    return _editor(status, error=message)


@bp.get("/floorplan/background")
def background() -> Any:
    """A floor's background image (``?floor=CODE``, default the first floor), served as what it is; never run
    as a page."""
    current = _floor()
    info = floorplan.background_info(services(), current.id)
    if info is None:
        return refuse("no_background", "No floor plan background has been uploaded.", 404)
    resp = send_file(floorplan.background_path(services(), info["kind"], current.id),
                     mimetype=floorplan.CONTENT_TYPES[info["kind"]], max_age=0)
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/floorplan/background/info")
def background_info() -> Any:
    """Whether a floor (``?floor=CODE``) has a background and its size in plan units (the map places it at 0, 0)."""
    current = _floor()
    info = floorplan.background_info(services(), current.id)
    body: dict[str, Any] = {"present": info is not None}
    if info is not None:
        body.update(width=info["width"], height=info["height"], kind=info["kind"],
                    url=url_for("floorplan.background", v=info["version"], floor=current.code))
    resp = jsonify(body)
    resp.headers["Cache-Control"] = "no-cache"
    return resp
