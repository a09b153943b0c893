"""Shared helpers for the benchmarks: percentiles, a browser-like Socket.IO client, a raw websocket server."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import websocket  # websocket-client: what a browser does on the wire, without a browser

from kiosk.web.push import frame as ws_frame  # noqa: F401  (one unmasked server frame: what the raw servers send)

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100), nearest-rank."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def summary(values_ms: list[float]) -> dict[str, float]:
    """p50, p99, mean and max in milliseconds."""
    return {"p50_ms": round(percentile(values_ms, 50), 3), "p99_ms": round(percentile(values_ms, 99), 3),
            "mean_ms": round(statistics.fmean(values_ms), 3), "max_ms": round(max(values_ms), 3),
            "n": len(values_ms)}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, deadline_s: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``url`` answers 200, or fail with the server's output."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {deadline_s} s")


def read_port_file(port_file: Path, proc: subprocess.Popen, what: str, deadline_s: float = 10.0) -> Any:
    """The JSON a helper process writes to ``port_file`` once it listens; fail if it dies or takes too long."""
    end = time.monotonic() + deadline_s
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > end or proc.poll() is not None:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)
    return json.loads(port_file.read_text())


def parse_at(text: str) -> float:
    """An ISO-8601 UTC time (with Z) as POSIX seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class SocketIOClient:
    """A browser-like Socket.IO v4 client on a raw websocket (what socket.io-client does, minus the browser)."""

    def __init__(self, base_url: str, namespace: str = "/kiosk", query: str = "kiosk=kiosk",
                 cookie: str | None = None) -> None:
        ws_url = base_url.replace("http", "ws", 1).rstrip("/") + f"/socket.io/?EIO=4&transport=websocket&{query}"
        self.ns = namespace
        # Only paired screens get a connection: the screen cookie of the server (paired by start_kiosk).
        cookie = cookie if cookie is not None else SCREEN_COOKIES.get(base_url.rstrip("/"))
        self.ws = websocket.create_connection(ws_url, timeout=10, enable_multithread=True,
                                              cookie=cookie)
        self.ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        opened = self.ws.recv()
        assert opened.startswith("0"), opened
        self.ws.send(f"40{namespace},")

    def next_event(self, timeout: float = 10.0) -> tuple[str, Any, float]:
        """The next event on our namespace: (name, payload, receive time as POSIX seconds)."""
        self.ws.settimeout(timeout)
        prefix = f"42{self.ns},"
        while True:
            msg = self.ws.recv()
            now = time.time()
            if msg == "2":  # engine.io ping
                self.ws.send("3")
                continue
            if msg.startswith(prefix):
                body = msg[len(prefix):]
                if body[0].isdigit():  # ack id
                    body = body.lstrip("0123456789")
                name, *args = json.loads(body)
                return name, (args[0] if args else None), now

    def wait_for(self, name: str, timeout: float = 10.0) -> tuple[Any, float]:
        """Skip events until one called ``name`` arrives."""
        end = time.monotonic() + timeout
        while True:
            got, payload, at = self.next_event(max(0.1, end - time.monotonic()))
            if got == name:
                return payload, at

    def close(self) -> None:
        """Close the websocket."""
        self.ws.close()


def ws_accept(key: str) -> str:
    """The Sec-WebSocket-Accept value for a client key (RFC 6455)."""
    return base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()


def accept_raw_websocket(server: socket.socket) -> socket.socket:
    """Accept one websocket client on a listening socket: a bare RFC 6455 handshake, nothing more."""
    conn, _ = server.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.recv(4096)
    key = next(line.split(b":", 1)[1].strip().decode() for line in request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key"))
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {ws_accept(key)}\r\n\r\n").encode())
    return conn


def kiosk_env(**extra: str) -> dict[str, str]:
    """The environment for a kiosk subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env.update(extra)
    env.setdefault("KIOSK_LOG_LEVEL", "WARNING")
    return env


# base URL -> "kiosk_screen=<token>": a screen paired on the server's instance by start_kiosk.
SCREEN_COOKIES: dict[str, str] = {}


def pair_screen(instance: Path, name: str = "bench") -> str:
    """Pair a screen on a migrated instance: the Cookie header value a paired screen sends."""
    from kiosk.config import load_config
    from kiosk.services import screens
    from kiosk.services.context import ServiceContext
    from kiosk.store.db import make_engine, make_sessionmaker, upgrade

    cfg = load_config(instance, environ={})
    upgrade(cfg["DATABASE_URL"])  # a no-op on a migrated instance
    engine = make_engine(cfg["DATABASE_URL"])
    try:
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
        return f"{screens.COOKIE}={screens.pair_now(ctx, name)}"
    finally:
        engine.dispose()


def start_kiosk(instance: Path, port: int, **env: str) -> subprocess.Popen:
    """Run ``kiosk serve`` (gunicorn gthread) on an instance and wait until it answers; pair a screen for it.

    Its output goes to ``serve-PORT.log`` in the instance folder: a pipe nobody reads would stop the server
    once its buffer filled.
    """
    SCREEN_COOKIES[f"http://127.0.0.1:{port}"] = pair_screen(instance, f"bench-{port}")
    log_path = instance / f"serve-{port}.log"
    with open(log_path, "w") as log:  # the child has its own copy of the file
        proc = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "--instance", str(instance), "serve",
                                 "--port", str(port)], env=kiosk_env(**env), cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{server_output(proc)[-4000:]}") from None
    return proc


def server_output(proc: subprocess.Popen) -> str:
    """What a server started by :func:`start_kiosk` has written so far (stdout and stderr together)."""
    try:
        return proc.log_path.read_text(errors="replace")  # type: ignore[attr-defined]
    except OSError:
        return ""


def print_table(title: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    """A readable table of latency summaries."""
    print(title)
    print(f"  {'path':<44}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'max ms':>10}")
    for name, s in rows:
        print(f"  {name:<44}{s['n']:>6}{s['p50_ms']:>10.3f}{s['p99_ms']:>10.3f}{s['mean_ms']:>10.3f}{s['max_ms']:>10.3f}")


def interleaved(paths: dict[str, Callable[[int], float]], rounds: int, warmup: int = 20) -> dict[str, list[float]]:
    """Measure several paths round by round: each round runs every path once (``path(i)`` → ms), the order
    turning by one each round, and the first ``warmup`` rounds are dropped.

    A path and its baseline thus meet the same moments of the machine: a disk's slow syncs come in spells
    of a fraction of a second, and measuring one path after the other would hand a spell to only one.
    """
    names = list(paths)
    out: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + rounds):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            ms = paths[name](i)
            if i >= warmup:
                out[name].append(ms)
    return out
