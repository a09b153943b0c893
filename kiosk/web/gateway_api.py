"""The gateway endpoint: ``POST /api/v1/gateways/<id>/events`` (HMAC-signed batches from floor_sensors)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request

from kiosk.services import sensors
from kiosk.services.errors import ServiceError
from kiosk.web import services

logger = logging.getLogger(__name__)

bp = Blueprint("gateway_api", __name__, url_prefix="/api/v1/gateways")

MAX_BODY = 4 * 1024 * 1024


@bp.errorhandler(ServiceError)
def _refused(exc: ServiceError) -> Any:
    return jsonify(exc.to_dict()), exc.status


@bp.post("/<gateway_id>/events")
def post_events(gateway_id: str) -> Any:
    """Store a batch once and answer only after the commit; refused events are named with the reason."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ServiceError("body_too_large", f"a batch may be at most {MAX_BODY} bytes")
    body = request.get_data(cache=False)
    result = sensors.ingest(services(), gateway_id, body, request.headers.get("X-Signature"))
    # 422 when any event was refused; the body still names every accepted and refused id.
    status = 422 if result["rejected"] else 200
    return jsonify(result), status


@bp.get("/status")
def status() -> Any:
    """Doors, points and gateway health as the screens see them."""
    return jsonify(sensors.panel(services()))
