"""The kiosk web application: app factory, Socket.IO, blueprints.

Device threads are never started here: the command that runs the server starts them,
so tests and CLI commands never open a device.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask_socketio import SocketIO

from kiosk.config import ensure_secret_key, load_config
from kiosk.services.context import ServiceContext
from kiosk.store.db import check_schema, make_engine, make_sessionmaker
from kiosk.web.push import publish as publish_to_screens

logger = logging.getLogger(__name__)

socketio = SocketIO()

KIOSK_NS = "/kiosk"
ALL_FLOORS_ROOM = "floors:all"  # the screens that show every floor


def floor_room(floor_id: int) -> str:
    """The Socket.IO room of one floor's screens."""
    return f"floor:{floor_id}"


def create_app(test_config: dict[str, Any] | None = None, instance: str | None = None,
               ctx: ServiceContext | None = None) -> Flask:
    """Build the app for one instance folder; refuse to start on an out-of-date schema."""
    cfg = load_config(instance, overrides=test_config)
    app = Flask(__name__, instance_path=cfg["INSTANCE_PATH"])
    app.config.update(cfg)
    app.config["SECRET_KEY"] = ensure_secret_key(cfg)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    if ctx is None:
        engine = make_engine(cfg["DATABASE_URL"])
        check_schema(engine)
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
    from kiosk.services import floor

    # floor_changed pushes are coalesced (a burst of seat changes is a few pushes); the rest pass through.
    push = floor.FloorPush(_publisher, float(cfg["FLOOR_PUSH_INTERVAL_SECONDS"]),
                           counts=lambda floor_id: floor.floor_counts(ctx, floor_id))
    ctx.publish = push.publish
    app.extensions["kiosk"] = ctx
    app.extensions["kiosk.floor_push"] = push

    from kiosk.web import api, events, floor_api, gateway_api, views  # noqa: F401  (registers handlers)

    from kiosk.web import errors

    errors.register(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(gateway_api.bp)
    app.register_blueprint(floor_api.bp)
    from kiosk.web import auth, review  # desk login and the entry log's review screens (§2.4)

    auth.init_app(app)  # session cookie flags, the Content-Security-Policy on every response, form tokens
    app.register_blueprint(auth.bp)
    app.register_blueprint(review.bp)
    from kiosk.web import floorplan  # the floor plan editor (admins) and the plan's background image

    app.register_blueprint(floorplan.bp)
    # With REDIS_URL, every process's pushes reach the screens connected to every other process;
    # each process still delivers to its own screens first, so a Redis outage never silences them.
    from kiosk.web import push

    push.install()  # pushes written by the publishing thread when nothing is queued before them
    options: dict[str, Any] = {}
    if cfg.get("REDIS_URL"):
        from kiosk.web.fanout import RedisFanOut

        options["client_manager"] = RedisFanOut(str(cfg["REDIS_URL"]), channel=str(cfg["REDIS_CHANNEL"]))
    socketio.init_app(app, async_mode="threading", cors_allowed_origins=[], ping_interval=10, ping_timeout=10,
                      serializer=push.TextPacket, **options)
    return app


def start_fanout() -> None:
    """Start hearing the other processes' pushes now rather than at the first screen's connection.

    Called in the server's worker process (a thread started before gunicorn forks would not survive
    the fork), so a Redis outage is noticed and logged even while no screen is connected.
    """
    server = socketio.server
    if server is not None and not server.manager_initialized:
        server.manager_initialized = True
        server.manager.initialize()


def fanout_status() -> str | None:
    """The Redis fan-out's state in a few words, or None without REDIS_URL."""
    manager = getattr(socketio.server, "manager", None)
    status = getattr(manager, "status", None)
    return status() if callable(status) else None


def _publisher(name: str, payload: dict[str, Any]) -> None:
    """Publish to the kiosk screens; called by services after their commit.

    A payload with a ``floor_id`` (one id or a list) goes to those floors' screens and to the screens of every
    floor; one without reaches every screen.
    """
    floor_id = payload.get("floor_id")
    if floor_id is None:
        publish_to_screens(socketio.server, name, payload, KIOSK_NS, None)
        return
    ids = floor_id if isinstance(floor_id, list) else [floor_id]
    publish_to_screens(socketio.server, name, payload, KIOSK_NS, [floor_room(i) for i in ids] + [ALL_FLOORS_ROOM])


def services(app: Flask | None = None) -> ServiceContext:
    """The ServiceContext of the current (or given) app."""
    from flask import current_app

    return (app or current_app).extensions["kiosk"]
