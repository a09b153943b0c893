"""Tap-to-screen latency: the reader adapter has a UID → a browser-like websocket client has the result.

The kiosk runs as in production (``kiosk serve``: gunicorn gthread, simple-websocket, SQLite WAL with
synchronous=FULL) with the simulated reader; taps are injected through the reader adapter and each
``tap_recorded`` push carries the instant the reader had the UID. The baseline, measured in the same
run on the same machine, is the least any such system can do: a raw read → one ``sqlite3`` insert and
commit (WAL, synchronous=FULL) → one raw websocket frame to the same kind of client. Both servers run
side by side and are tapped in turn, one tap each per round, so both meet the same moments of the disk.

    .venv/bin/python bench/tap_to_screen.py [--quick] [--taps N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (SocketIOClient, accept_raw_websocket, free_port, interleaved, parse_at, print_table,
                           read_port_file, start_kiosk, summary, ws_frame)


def prepare_instance(root: Path) -> list[str]:
    """A demo floor with an open roll call; return every active badge UID to tap."""
    from kiosk.config import load_config
    from kiosk.services import demo
    from kiosk.services.context import ServiceContext
    from kiosk.store.db import make_engine, make_sessionmaker, upgrade
    from kiosk.store.models import Badge
    from sqlalchemy import select

    cfg = load_config(root, environ={})
    upgrade(cfg["DATABASE_URL"])
    engine = make_engine(cfg["DATABASE_URL"])
    ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
    demo.generate(ctx)
    with engine.connect() as conn:
        uids = [r.uid for r in conn.execute(select(Badge.__table__.c.uid))]
    engine.dispose()
    return uids


@contextmanager
def kiosk_path(workdir: Path) -> Iterator[Callable[[int], float]]:
    """The real kiosk, ready: ``one(i)`` taps the i-th badge and returns ms until the screen has the result."""
    instance = workdir / "instance"
    uids = prepare_instance(instance)
    port = free_port()
    proc = start_kiosk(instance, port, KIOSK_NFC_DEVICE="sim", KIOSK_NFC_DEBOUNCE_SECONDS="0")
    try:
        client = SocketIOClient(f"http://127.0.0.1:{port}")
        client.wait_for("snapshot")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        def one(i: int) -> float:
            # The tap is injected, then the screen's socket is read at once: like the baseline's client (and a
            # browser), the screen does not wait for the injecting request's answer, which comes after the push.
            conn.request("POST", "/api/v1/sim/tap", body=json.dumps({"uid": uids[i % len(uids)]}),
                         headers={"Content-Type": "application/json"})
            payload, received = client.wait_for("tap_recorded")
            conn.getresponse().read()
            return (received - parse_at(payload["at"])) * 1000.0

        yield one
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _baseline_server(port_file: str, db_path: str) -> None:
    """Raw pipeline: read a UID line → sqlite3 insert + commit (WAL, FULL) → raw websocket frame."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE taps (id INTEGER PRIMARY KEY, uid TEXT, at REAL)")
    ws_listen = socket.socket()
    ws_listen.bind(("127.0.0.1", 0))
    ws_listen.listen(1)
    trig_listen = socket.socket()
    trig_listen.bind(("127.0.0.1", 0))
    trig_listen.listen(1)
    Path(port_file).write_text(json.dumps([ws_listen.getsockname()[1], trig_listen.getsockname()[1]]))
    ws = accept_raw_websocket(ws_listen)
    trig, _ = trig_listen.accept()
    reader = trig.makefile("rb")
    for line in reader:
        uid = line.strip().decode()
        at = time.time()  # the reader has the UID
        db.execute("BEGIN")
        db.execute("INSERT INTO taps (uid, at) VALUES (?, ?)", (uid, at))
        db.execute("COMMIT")
        ws.sendall(ws_frame(json.dumps({"uid": uid, "at": at})))


@contextmanager
def baseline_path(workdir: Path) -> Iterator[Callable[[int], float]]:
    """The raw pipeline in its own process like the kiosk: ``one(i)`` → ms from its read to the client's frame."""
    import websocket

    port_file = workdir / "ports.json"
    proc = subprocess.Popen([sys.executable, __file__, "--baseline-server", str(port_file),
                             str(workdir / "raw.db")])
    try:
        ws_port, trig_port = read_port_file(port_file, proc, "baseline server")
        ws = websocket.create_connection(f"ws://127.0.0.1:{ws_port}/", timeout=10)
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        trig = socket.create_connection(("127.0.0.1", trig_port))
        trig.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def one(i: int) -> float:
            trig.sendall(f"04{i:012X}\n".encode())
            msg = json.loads(ws.recv())
            return (time.time() - msg["at"]) * 1000.0

        yield one
        ws.close()
        trig.close()
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    """Measure both paths in this run and print the table and the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 taps each (under a minute)")
    ap.add_argument("--taps", type=int, default=None, help="taps per path (default 3,000, quick 1,000)")
    ap.add_argument("--baseline-server", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_server:
        _baseline_server(*args.baseline_server)
        return
    taps = args.taps or (1000 if args.quick else 3000)
    with tempfile.TemporaryDirectory(prefix="bench-tap-") as tmp:
        work = Path(tmp)
        with baseline_path(work) as raw_one, kiosk_path(work) as kiosk_one:
            got = interleaved({"baseline": raw_one, "kiosk": kiosk_one}, taps, warmup=50)
        baseline, kiosk = summary(got["baseline"]), summary(got["kiosk"])
    ratio = round(kiosk["p99_ms"] / baseline["p99_ms"], 2)
    print_table(f"tap → screen, {taps} taps each (lower is better)", [
        ("baseline: raw read → sqlite3 FULL commit → ws", baseline),
        ("kiosk: reader adapter → service → Socket.IO", kiosk)])
    print(f"  ratio p99 kiosk/baseline: {ratio}  (goal <= 2.0)")
    print(json.dumps({"bench": "tap_to_screen", "p50_ms": kiosk["p50_ms"], "p99_ms": kiosk["p99_ms"],
                      "baseline_p50_ms": baseline["p50_ms"], "baseline_p99_ms": baseline["p99_ms"],
                      "ratio_p99": ratio, "taps": taps, "goal_ratio_p99": 2.0}))


if __name__ == "__main__":
    main()
