"""What a request gets when the database is not answering: a clear 503, never a hang or a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy.exc import DBAPIError, TimeoutError as PoolTimeout

logger = logging.getLogger(__name__)

MESSAGE = ("The database is not answering; nothing was recorded. The kiosk reconnects on its own: try again in a "
           "moment. If this lasts, tell the administrator (kiosk doctor).")


def register(app: Flask) -> None:
    """Answer database outages with 503 and a message a person can act on."""

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception) -> Any:
        if isinstance(exc, DBAPIError) and not exc.connection_invalidated and not _is_connection_error(exc):
            raise exc  # a bug, not an outage: let it surface as one
        logger.error("database unavailable during %s %s: %s", request.method, request.path, exc)
        return jsonify({"ok": False, "error": "database_unavailable", "message": MESSAGE}), 503


def _is_connection_error(exc: DBAPIError) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError))
