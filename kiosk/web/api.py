"""HTTP API: JSON snapshots and, for the demo's simulated reader, a local tap endpoint."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from kiosk.domain.badges import InvalidBadgeUid
from kiosk.services import rollcall, taps
from kiosk.services.errors import ServiceError
from kiosk.web import services

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Any:
    logger.warning("refused %s %s: %s", request.method, request.path, exc.message)
    return jsonify(exc.to_dict()), exc.status


@bp.get("/rollcall")
def rollcall_board() -> Any:
    """The roll call board as JSON (what a screen gets on connect)."""
    return jsonify(rollcall.board(services(), request.args.get("kiosk", "kiosk")))


@bp.post("/sim/tap")
def sim_tap() -> Any:
    """Tap a badge on the simulated reader (demo only; from this machine only)."""
    if current_app.config["NFC_DEVICE"] != "sim":
        raise ServiceError("not_simulated", "This kiosk has a real reader; simulated taps are off.")
    if request.remote_addr not in ("127.0.0.1", "::1"):
        raise ServiceError("local_only", "Simulated taps are accepted from this machine only.")
    body = request.get_json(silent=True) or {}
    uid = str(body.get("uid", "")).strip()
    if not uid:
        raise ServiceError("uid_required", "Send {\"uid\": \"04A1B2C3\"}.")
    reader_id = str(body.get("reader") or "kiosk")
    readers = current_app.extensions.get("kiosk.readers") or {}
    if readers and reader_id not in readers:
        raise ServiceError("unknown_reader", f"No reader {reader_id!r} here; readers: {', '.join(readers)}.")
    reader = readers.get(reader_id)
    if reader is not None and hasattr(reader, "tap"):
        # Through the reader, exactly as a badge on the glass would go.
        try:
            read = reader.tap(uid)
        except InvalidBadgeUid as exc:
            raise ServiceError("invalid_uid", str(exc)) from None
        if read is None:
            return jsonify({"ok": False, "error": "dropped",
                            "message": "The reader dropped the tap: the same badge within the repeat window, "
                                       "or the reader is unplugged."}), 409
        return jsonify({"ok": True, "via": "reader"})
    return jsonify(taps.handle(services(), uid, reader_id))


@bp.post("/sim/sensor")
def sim_sensor() -> Any:
    """Open or close a simulated contact (demo only; from this machine only): {"point": "door:main", "state": "open"}."""
    sensors = current_app.extensions.get("kiosk.demo_sensors")
    if sensors is None:
        raise ServiceError("not_simulated", "This kiosk has real sensors; simulated contacts are off.")
    if request.remote_addr not in ("127.0.0.1", "::1"):
        raise ServiceError("local_only", "Simulated contacts are driven from this machine only.")
    body = request.get_json(silent=True) or {}
    try:
        sensors.set(str(body.get("point", "")), str(body.get("state", "")))
    except ValueError as exc:
        raise ServiceError("bad_contact", str(exc)) from None
    return jsonify({"ok": True})
