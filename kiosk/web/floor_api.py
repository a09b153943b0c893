"""The floor map's HTTP API: agent states from the call platform (HMAC-signed) and the map as JSON.

``POST /api/v1/agent-states`` takes one agent-state object or a list of them, signed with
HMAC-SHA256 over the raw body (``X-Signature: sha256=<hex>``) with the secret of the integration
named in ``X-Integration`` (optional when only one integration is configured). The answer comes
after the commit: 200 when every state was accepted, 422 when any was refused (the others were
stored; each refused one is named by its index with the reason), 400 for a body that is not JSON,
401 for a missing or wrong signature.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request

from kiosk.services import floor, floors
from kiosk.services.errors import NotFound, ServiceError
from kiosk.web import services

logger = logging.getLogger(__name__)

bp = Blueprint("floor_api", __name__, url_prefix="/api/v1")

MAX_BODY = 4 * 1024 * 1024


@bp.errorhandler(ServiceError)
def _refused(exc: ServiceError) -> Any:
    return jsonify(exc.to_dict()), exc.status


@bp.post("/agent-states")
def post_agent_states() -> Any:
    """Store and apply agent states; answer only after the commit, naming each refused state."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ServiceError("body_too_large", f"a request may be at most {MAX_BODY} bytes")
    body = request.get_data(cache=False)
    result = floor.ingest(services(), request.headers.get("X-Integration"), body, request.headers.get("X-Signature"))
    return jsonify(result), (422 if result["refused"] else 200)


@bp.get("/floor")
def get_floor() -> Any:
    """The floor map as a screen gets it on connect: seats, counts, open flags; of one floor with ``?floor=CODE``
    (every floor without)."""
    code = request.args.get("floor", "").strip()
    scope = None
    if code:
        with services().engine.connect() as conn:
            chosen = floors.by_code(conn, code)
        if chosen is None:
            raise NotFound("unknown_floor", f"No floor {code[:16]!r}.")
        scope = (chosen.id,)
    return jsonify(floor.floor_snapshot(services(), scope))
