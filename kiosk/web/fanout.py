"""Socket.IO pushes shared between ``kiosk serve`` processes through Redis, outliving Redis outages.

Every process delivers its own pushes to its own screens first and then publishes them on the
installation's Redis channel for the other processes. python-socketio's own Redis manager does the
same, but an outage goes badly with it: a push publishes in the thread that made it with no socket
timeout and redis-py's retries, so a Redis that stops answering holds up every request that pushes;
each failed push logs two errors; its listener backs off to a minute between reconnections; and
screens never learn that they missed the other processes' pushes. Here, instead:

* publishing has a one-second timeout and no back-off; after a failure, pushes skip Redis for 2 s,
  then 4, 8, up to 30 s between tries (the listener reopens the way as soon as it is back), so a dead
  Redis costs requests nothing and one that stopped answering a second now and then;
* the listener pings a quiet connection, so a Redis that stops answering is noticed too, and
  reconnects with a back-off of at most ``RETRY_MAX`` seconds;
* one warning when Redis goes, one line when it is back (with how many pushes stayed local);
* when it is back, this process's screens get ``fanout_resumed`` and fetch a fresh snapshot, since
  what other processes pushed meanwhile never reached them.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import redis
import socketio
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

SCHEMES = ("redis", "rediss", "unix")


def redis_location(url: str) -> str:
    """Where a Redis URL points, for log lines: host and port (or socket path), never the password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


class RedisFanOut(socketio.PubSubManager):  # type: ignore[misc]
    """A Socket.IO client manager that shares pushes through a Redis channel and survives Redis going away."""

    name = "redis"
    TIMEOUT = 1.0  # seconds: connecting, and waiting for any one answer from Redis
    PUBLISH_PAUSE = 2.0  # after a failed publish, pushes stay local this long before Redis is tried again,
    PUBLISH_PAUSE_MAX = 30.0  # doubling with each failure up to this
    RETRY_MIN = 0.5  # the listener's first wait before reconnecting; it doubles up to RETRY_MAX
    RETRY_MAX = 5.0
    PING_EVERY = 5.0  # a listener that heard nothing this long pings; no answer within another two: reconnect
    POLL = 0.5  # how long the listener waits for a message at a time

    def __init__(self, url: str, channel: str, clock: Callable[[], float] = time.monotonic) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in SCHEMES:
            raise ValueError(f"REDIS_URL must be a redis://, rediss:// or unix:// URL, not {scheme or 'no'} scheme")
        super().__init__(channel=channel)
        self.url = url
        self.location = redis_location(url)
        self.clock = clock  # for the publish pauses and outage lengths; the listener waits on real sockets
        self._lock = threading.Lock()
        self._publisher: redis.Redis | None = None
        self._publish_after = 0.0  # monotonic: no publish before this (set by a failed publish)
        self._publish_pause = self.PUBLISH_PAUSE
        self._down_since: float | None = None  # monotonic; None while Redis is reachable
        self._down_at: datetime | None = None
        self._local_only = 0  # pushes during the current outage that reached only this process's screens
        self._ever_subscribed = False
        self._closed = threading.Event()

    # -- state, for logs and the service manager's status line ------------------------------------

    def status(self) -> str:
        """One phrase for a status line: ``redis ok`` or since when it has been unreachable."""
        with self._lock:
            if self._down_at is None:
                return "redis ok" if self._ever_subscribed else "redis connecting"
            return f"redis unreachable since {self._down_at:%H:%M:%S} UTC ({self._local_only} pushes kept local)"

    def close(self) -> None:
        """Stop the listener after its current wait (a server process simply exits)."""
        self._closed.set()

    def _went_down(self, exc: BaseException) -> None:
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = self.clock()
                self._down_at = datetime.now(timezone.utc)
        if first:
            logger.warning("Redis at %s unreachable (%s): screens connected to this process still get its own "
                           "pushes, but not the other processes' until Redis is back; retrying",
                           self.location, exc)
        else:
            logger.debug("Redis at %s still unreachable: %s", self.location, exc)

    def _came_back(self) -> None:
        with self._lock:
            down_since, down_at, local_only = self._down_since, self._down_at, self._local_only
            self._down_since = self._down_at = None
            self._local_only = 0
            self._publish_after = 0.0
            self._publish_pause = self.PUBLISH_PAUSE
            self._ever_subscribed = True
        if down_since is None:
            return
        seconds = self.clock() - down_since
        logger.warning("Redis at %s is back after %.0f s: pushes cross between processes again (%d pushes of "
                       "this process during the outage reached only its own screens)", self.location, seconds,
                       local_only)
        # What the other processes pushed meanwhile never reached our screens: have them fetch the board.
        payload = {"down_since": _iso(down_at), "resumed_at": _iso(datetime.now(timezone.utc))}
        for namespace in list(self.get_namespaces()):
            try:
                self.server.emit("fanout_resumed", payload, namespace=namespace, ignore_queue=True)
            except Exception:  # noqa: BLE001 - a screen that went away meanwhile must not stop the listener
                logger.exception("could not tell the screens of %s that pushes resumed", namespace)

    # -- Redis clients -------------------------------------------------------------------------------

    def _client(self, retries: int = 0) -> redis.Redis:
        # No back-off inside redis-py: this class decides when to try again, and one attempt never takes
        # longer than TIMEOUT. A retry is only for a refused or reset connection (one Redis closed, or a
        # restarted Redis's stale pooled one): that costs nothing, while a Redis that stopped answering
        # would cost TIMEOUT again.
        return redis.Redis.from_url(self.url, socket_connect_timeout=self.TIMEOUT, socket_timeout=self.TIMEOUT,
                                    socket_keepalive=True,
                                    retry=Retry(NoBackoff(), retries, supported_errors=(redis.ConnectionError,)))

    # -- PubSubManager's two hooks --------------------------------------------------------------------

    def _publish(self, data: Any) -> None:
        """Send one push to the other processes; while Redis is failing, skip it (it was delivered here)."""
        with self._lock:
            if self.clock() < self._publish_after:
                self._local_only += 1
                return
            if self._publisher is None:
                self._publisher = self._client(retries=1)
            publisher = self._publisher
        try:
            publisher.publish(self.channel, self.json.dumps(data))
        except (redis.RedisError, OSError) as exc:
            with self._lock:
                self._publish_after = self.clock() + self._publish_pause
                self._publish_pause = min(self._publish_pause * 2, self.PUBLISH_PAUSE_MAX)
                self._local_only += 1
            self._went_down(exc)
            return
        if self._publish_pause != self.PUBLISH_PAUSE:
            with self._lock:
                self._publish_pause = self.PUBLISH_PAUSE

    def _listen(self) -> Iterator[bytes]:
        """Yield the channel's messages for ever, reconnecting after any failure."""
        channel = self.channel.encode("utf-8")
        delay = self.RETRY_MIN
        while not self._closed.is_set():
            client = pubsub = None
            try:
                client = self._client()
                pubsub = client.pubsub()
                pubsub.subscribe(self.channel)
                self._await_subscription(pubsub)
                self._came_back()
                delay = self.RETRY_MIN
                heard = pinged = time.monotonic()
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=self.POLL)
                    now = time.monotonic()
                    if message is not None:
                        heard = now
                        if self._down_since is not None:
                            self._came_back()  # a publish failed meanwhile, but Redis answers us: it is back
                        if message["type"] == "message" and message["channel"] == channel:
                            yield message["data"]
                        continue
                    if now - heard > 2 * self.PING_EVERY + self.TIMEOUT:
                        raise redis.ConnectionError(f"no answer to a ping for {now - heard:.0f} s")
                    if now - heard > self.PING_EVERY and now - pinged > self.PING_EVERY:
                        pubsub.ping()
                        pinged = now
            except Exception as exc:  # noqa: BLE001 - the listener must outlive anything Redis does
                self._went_down(exc)
            finally:
                for closable in (pubsub, client):
                    try:
                        if closable is not None:
                            closable.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection may fail too
                        pass
            self._closed.wait(delay)
            delay = min(delay * 2, self.RETRY_MAX)

    def _await_subscription(self, pubsub: Any) -> None:
        """Wait for Redis to confirm the subscription: only then does this process hear the others."""
        end = time.monotonic() + self.TIMEOUT
        while time.monotonic() < end:
            message = pubsub.get_message(timeout=max(0.0, end - time.monotonic()))
            if message is not None and message["type"] == "subscribe":
                return
        raise redis.TimeoutError(f"no answer to SUBSCRIBE within {self.TIMEOUT:.0f} s")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None
