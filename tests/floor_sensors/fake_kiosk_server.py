"""A small real HTTP server standing in for the kiosk's events endpoint in tests.

It checks the HMAC signature, records every event id it is sent (in arrival
order, duplicates included), and can be told to be down (503), to refuse the
signature (401) or to reject given points.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class KioskStub:
    """The server side of the HTTP contract, recording what it receives."""

    def __init__(self, secret: bytes, gateway_id: str = "floor-3") -> None:
        self.secret = secret
        self.gateway_id = gateway_id
        self.events: list[dict[str, Any]] = []  # accepted, first copy of each id, in order
        self.received_ids: list[str] = []  # every id sent, duplicates included
        self.posts: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.attempts = 0  # every POST, answered or not
        self.down = False
        self.delay = 0.0  # seconds to sit on each POST, to let the gateway's outbox fill up
        self.reject_points: set[str] = set()
        self.force_status: int | None = None  # answer every POST with this status
        self.status_when_rejecting = 200  # the kiosk itself answers 422 when it refused some events
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                stub.handle(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "KioskStub":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self.lock:
            self.attempts += 1
        if handler.path != f"/api/v1/gateways/{self.gateway_id}/events":
            return self.reply(handler, 404, {"error": "no such path"})
        if self.down:
            return self.reply(handler, 503, {"error": "down"})
        if self.force_status is not None:
            return self.reply(handler, self.force_status, {"error": "forced"})
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(handler.headers.get("X-Signature", ""), expected):
            with self.lock:
                self.bad_signatures += 1
            return self.reply(handler, 401, {"error": "bad signature"})
        assert handler.headers.get("Content-Type") == "application/json"
        payload = json.loads(body)
        if self.delay:
            time.sleep(self.delay)
        accepted, rejected = [], []
        with self.lock:
            self.posts.append(payload)
            known = {e["id"] for e in self.events}
            for event in payload["events"]:
                self.received_ids.append(event["id"])
                if event.get("point") in self.reject_points:
                    rejected.append({"id": event["id"], "reason": f"unknown point {event['point']}"})
                    continue
                if event["id"] not in known:
                    self.events.append(event)
                    known.add(event["id"])
                accepted.append(event["id"])
        self.reply(handler, self.status_when_rejecting if rejected else 200, {"accepted": accepted, "rejected": rejected})

    @staticmethod
    def reply(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.events)

    def point_events(self, point: str) -> list[dict[str, Any]]:
        return [e for e in self.snapshot() if e.get("type") == "point_changed" and e.get("point") == point]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
