"""The forwarder: outbox → kiosk server, in order, signed, acknowledged, retried.

``POST {server}/api/v1/gateways/{gateway_id}/events`` with a JSON body::

    {"gateway": "floor-3", "sent_at": "...Z", "events": [...], "health": {"nodes": {...}}}

signed with ``X-Signature: sha256=<hex of HMAC-SHA256(secret, body)>``. A 200
answer ``{"accepted": [ids], "rejected": [{"id", "reason"}]}`` lets the
forwarder delete both lists from the outbox (a rejection is permanent and is
logged at WARNING); so does a 422 carrying that same body, which is how the
kiosk says that some events of the batch were refused. Anything else (refused connection, time-out, 5xx, 401, a
body that is not the contract) keeps the events, and they are sent again after
a back-off that doubles up to ``retry_max``. Events are sent oldest first; the
next batch goes only after the previous one was answered. The server
de-duplicates by id, so sending an event twice (after a crash) is harmless.

When there is nothing to send, a POST with no events still goes every
``health_interval`` seconds, carrying the health of every node, and at once after
:meth:`Forwarder.health_changed` (a reader unplugged shows on its screen now, not at the next interval).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from floor_sensors.outbox import Outbox, OutboxEvent

logger = logging.getLogger(__name__)


def utc_iso(moment: datetime | None = None) -> str:
    """Return ``moment`` (default: now) as ISO-8601 UTC with microseconds and a ``Z``."""
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sign(secret: bytes, body: bytes) -> str:
    """Return the ``X-Signature`` header value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class DeliveryError(Exception):
    """A POST that did not get a usable answer; the events stay in the outbox."""


class Forwarder:
    """Sends the outbox to the kiosk server from its own thread."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        gateway_id: str,
        server: str,
        secret: bytes,
        health: Callable[[], dict[str, Any]] = lambda: {"nodes": {}},
        batch_size: int = 200,
        health_interval: float = 10.0,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        http_timeout: float = 5.0,
    ) -> None:
        self.outbox = outbox
        self.gateway_id = gateway_id
        self.url = f"{server.rstrip('/')}/api/v1/gateways/{gateway_id}/events"
        self.secret = secret
        self.health = health
        self.batch_size = batch_size
        self.health_interval = health_interval
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.http_timeout = http_timeout
        self.delivered = 0
        self.rejected = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._health_due = False
        # The floor LAN has no proxy: ignore any *_proxy variables in the environment.
        # One kept-alive connection: a new TCP connection per batch would cost more than the batch.
        parts = urllib.parse.urlsplit(self.url)
        self._scheme, self._netloc = parts.scheme, parts.netloc
        self._path = parts.path
        self._conn: http.client.HTTPConnection | None = None

    def start(self) -> None:
        """Start the forwarding thread."""
        self._thread = threading.Thread(target=self.run, name="forwarder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for it."""
        self._stop.set()
        self.outbox.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        self._close()

    def health_changed(self) -> None:
        """Report the health at once (with the next batch, or alone), not at the next interval."""
        self._health_due = True
        self.outbox.wake()

    def alive(self) -> bool:
        """True while the forwarding thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def failing(self) -> bool:
        """True while the server is unreachable (the last delivery failed)."""
        return self._failing

    def run(self) -> None:
        """Forward until stopped: batches in order, back-off while the server is unreachable."""
        delay = 0.0
        last_post = float("-inf")
        while not self._stop.is_set():
            self.outbox.arm()  # before the look, so an append right after it is not missed
            batch = self.outbox.peek(self.batch_size)
            if not batch and not self._health_due and time.monotonic() - last_post < self.health_interval:
                self.outbox.wait(max(0.0, min(self.health_interval - (time.monotonic() - last_post), 1.0)))
                continue
            health_due, self._health_due = self._health_due, False  # this POST carries the health as it is now
            try:
                progressed = self.deliver(batch)
            except Exception:  # noqa: BLE001 - the thread must outlive any surprise
                logger.exception("forwarder: unexpected error")
                self.outbox.release([e.n for e in batch])
                progressed = False
            if progressed:
                delay = 0.0
                last_post = time.monotonic()
            else:
                self._health_due = self._health_due or health_due  # still to be told, after the back-off
                delay = min(max(self.retry_initial, delay * 2), self.retry_max)
                self._stop.wait(delay)

    def deliver(self, batch: list[OutboxEvent]) -> bool:
        """POST one batch (possibly empty, for health); return True if the server answered."""
        try:
            answer = self._post([e.body for e in batch])
        except DeliveryError as exc:
            self.outbox.release([e.n for e in batch])
            if not self._failing:
                logger.warning("server unreachable, keeping %d event(s) in the outbox: %s", len(self.outbox), exc)
            else:
                logger.debug("server still unreachable: %s", exc)
            self._failing = True
            return False
        if self._failing:
            logger.info("server reachable again; replaying the outbox")
            self._failing = False
        by_id = {e.id: e for e in batch}
        done: list[int] = []
        for event_id in answer["accepted"]:
            if event_id in by_id:
                done.append(by_id.pop(event_id).n)
                self.delivered += 1
        for item in answer["rejected"]:
            event = by_id.pop(item.get("id"), None)
            if event is not None:
                logger.warning("server rejected event %s for good: %s", event.id, item.get("reason", "no reason given"))
                done.append(event.n)
                self.rejected += 1
        self.outbox.remove(done)
        if by_id:
            logger.warning("server neither accepted nor rejected %d event(s); they will be sent again", len(by_id))
            self.outbox.release([e.n for e in by_id.values()])
            return bool(done)
        return True

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._netloc, timeout=self.http_timeout)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _send(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST on the kept-alive connection; once more on a fresh one if the server had closed it.

        Sending a batch twice is harmless: the server stores each event id once.
        """
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.will_close:
                    self._close()
                return response.status, payload
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _post(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        body = json.dumps(
            {"gateway": self.gateway_id, "sent_at": utc_iso(), "events": events, "health": self.health()},
            separators=(",", ":"),
        ).encode("utf-8")
        headers = {"Content-Type": "application/json", "X-Signature": sign(self.secret, body)}
        try:
            status, payload = self._send(body, headers)
        except (http.client.HTTPException, OSError, ValueError) as exc:
            self._close()
            raise DeliveryError(str(exc) or type(exc).__name__) from None
        if status == 401:
            logger.error("server refused the signature (401): the gateway's shared secret is wrong")
        # The kiosk answers 422 when it refused some events, with the same
        # {"accepted", "rejected"} body as a 200: that is an answer, not a failure.
        if status not in (200, 422):
            raise DeliveryError(f"HTTP {status}")
        try:
            answer = json.loads(payload)
            accepted = answer["accepted"]
            rejected = answer["rejected"]
            if not isinstance(accepted, list) or not isinstance(rejected, list):
                raise TypeError("accepted and rejected must be lists")
            rejected = [r for r in rejected if isinstance(r, dict)]
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryError(f"answer is not the contract: {exc}") from None
        return {"accepted": [a for a in accepted if isinstance(a, str)], "rejected": rejected}
