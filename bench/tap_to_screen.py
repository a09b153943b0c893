"""Tap-to-screen latency: the reader adapter has a UID → a browser-like websocket client has the result.

The kiosk runs as in production (``kiosk serve``: gunicorn gthread, simple-websocket, SQLite WAL with
synchronous=FULL) with a serial badge reader (``serial:`` on a pty, read with pyserial on the reader's own
thread, as every real reader is read); the bench writes each UID to the pty's other end, and each
``tap_recorded`` push carries the instant the reader adapter had the UID. The same kiosk is then measured
tapped through the simulated reader's web API (``POST /api/v1/sim/tap``, the demo's tap panel): there each
tap runs on a web request's thread beside the web server's own work for that request. The baseline, measured in the same
run on the same machine, is the least any such system can do: a raw read → one ``sqlite3`` insert and
commit (WAL, synchronous=FULL) → one raw websocket frame to the same kind of client. Both servers run
side by side and are tapped in turn, one tap each per round, so both meet the same moments of the disk.

A third path, the *floor*, measured next against the baseline again, is what any implementation of a roll call tap must do on this schema, written as
raw as Python allows: a raw read → in one ``sqlite3`` transaction (WAL, FULL) on a copy of the kiosk's own
database, the tap's lookup and its writes (the mark, the audit row with the indexes the entry log is
searched by) → one raw websocket frame. The baseline commits one row to a table with no index; the tap
commits about seven b-tree pages. The floor shows how much of the ratio that alone takes.

    .venv/bin/python bench/tap_to_screen.py [--quick] [--taps N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

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


def seal_log(instance: Path) -> None:
    """Seal what a kiosk left unsealed, so that the next path measured starts as the first did, with no backlog."""
    from kiosk.config import load_config
    from kiosk.store.db import make_engine
    from kiosk.store.eventlog import SEAL_BATCH, seal_batch

    engine = make_engine(load_config(instance, environ={})["DATABASE_URL"])
    try:
        while seal_batch(engine, SEAL_BATCH) == SEAL_BATCH:
            pass
    finally:
        engine.dispose()


@contextmanager
def kiosk_path(instance: Path, uids: list[str], reader: str) -> Iterator[Callable[[int], float]]:
    """The real kiosk, ready: ``one(i)`` taps the i-th badge and returns ms until the screen has the result.

    ``reader`` ``serial``: the badge reader is a serial one (``serial:`` on a pty, read with pyserial on
    its own thread, as every real reader is read), and the bench writes each UID to the pty's other end.
    ``sim``: the simulated reader, tapped through the HTTP API (``POST /api/v1/sim/tap``), so each tap is
    handled on a web request's thread, beside the web server's own work for that request.
    """
    port = free_port()
    master = slave = -1
    device = "sim"
    if reader == "serial":
        master, slave = os.openpty()
        device = f"serial:{os.ttyname(slave)}"
    proc = start_kiosk(instance, port, KIOSK_NFC_DEVICE=device, KIOSK_NFC_DEBOUNCE_SECONDS="0")
    try:
        client = SocketIOClient(f"http://127.0.0.1:{port}")
        state = client.wait_for("snapshot")[0]["readers"]["kiosk"]["state"]
        while state != "connected":  # the reader thread opens its port as the server starts
            state = client.wait_for("reader_health_changed")[0]["state"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        def serial_tap(i: int) -> float:
            os.write(master, f"{uids[i % len(uids)]}\r\n".encode())
            payload, received = client.wait_for("tap_recorded")
            return (received - parse_at(payload["at"])) * 1000.0

        def http_tap(i: int) -> float:
            # The tap is injected, then the screen's socket is read at once: like the baseline's client (and a
            # browser), the screen does not wait for the injecting request's answer, which comes after the push.
            conn.request("POST", "/api/v1/sim/tap", body=json.dumps({"uid": uids[i % len(uids)]}),
                         headers={"Content-Type": "application/json"})
            payload, received = client.wait_for("tap_recorded")
            conn.getresponse().read()
            return (received - parse_at(payload["at"])) * 1000.0

        yield serial_tap if reader == "serial" else http_tap
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)


def _raw_sockets(port_file: str) -> tuple[socket.socket, socket.socket]:
    """A raw server's two sockets: the screen's websocket and the line of UIDs to tap; ports go to ``port_file``."""
    ws_listen = socket.socket()
    ws_listen.bind(("127.0.0.1", 0))
    ws_listen.listen(1)
    trig_listen = socket.socket()
    trig_listen.bind(("127.0.0.1", 0))
    trig_listen.listen(1)
    Path(port_file).write_text(json.dumps([ws_listen.getsockname()[1], trig_listen.getsockname()[1]]))
    ws = accept_raw_websocket(ws_listen)
    trig, _ = trig_listen.accept()
    return ws, trig


def _baseline_server(port_file: str, db_path: str) -> None:
    """Raw pipeline: read a UID line → sqlite3 insert + commit (WAL, FULL) → raw websocket frame."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE taps (id INTEGER PRIMARY KEY, uid TEXT, at REAL)")
    ws, trig = _raw_sockets(port_file)
    for line in trig.makefile("rb"):
        uid = line.strip().decode()
        at = time.time()  # the reader has the UID
        db.execute("BEGIN")
        db.execute("INSERT INTO taps (uid, at) VALUES (?, ?)", (uid, at))
        db.execute("COMMIT")
        ws.sendall(ws_frame(json.dumps({"uid": uid, "at": at})))


@contextmanager
def raw_path(workdir: Path, name: str, server_args: list[str],
             uid_of: Callable[[int], str]) -> Iterator[Callable[[int], float]]:
    """A raw server (``--NAME-server``) in its own process like the kiosk: ``one(i)`` taps ``uid_of(i)`` and
    returns ms from the server's read to the client's frame."""
    import websocket

    port_file = workdir / f"{name}-ports.json"
    proc = subprocess.Popen([sys.executable, __file__, f"--{name}-server", str(port_file), *server_args])
    try:
        ws_port, trig_port = read_port_file(port_file, proc, f"{name} server")
        ws = websocket.create_connection(f"ws://127.0.0.1:{ws_port}/", timeout=10)
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        trig = socket.create_connection(("127.0.0.1", trig_port))
        trig.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def one(i: int) -> float:
            trig.sendall(f"{uid_of(i)}\n".encode())
            msg = json.loads(ws.recv())
            return (time.time() - msg["at"]) * 1000.0

        yield one
        ws.close()
        trig.close()
    finally:
        proc.kill()
        proc.wait()


def floor_statements(instance: Path) -> dict[str, Any]:
    """The tap's own statements as the kiosk runs them (compiled from its code), and today's open roll call."""
    from kiosk.config import load_config
    from kiosk.services import rollcall
    from kiosk.services.context import ServiceContext
    from kiosk.store.db import make_engine, make_sessionmaker
    from kiosk.store.eventlog import _INSERT
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.engine import make_url

    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
    with engine.connect() as conn:
        occ, _open = rollcall.current(ctx, conn)
    engine.dispose()
    dialect = sqlite.dialect()
    lookup = rollcall._TAP_FACTS.compile(dialect=dialect)
    mark = rollcall._INSERT_MARK.compile(dialect=dialect, column_keys=list(rollcall._INSERT_MARK_LEAN.keys or ()))
    event = _INSERT.compile(dialect=dialect,
                            column_keys=["at", "kind", "actor", "subject", "outcome", "reason", "rule", "data"])
    return {"lookup": lookup.string, "lookup_binds": list(lookup.positiontup or ()),
            "lookup_fixed": {k: v for k, v in lookup.params.items() if v is not None},
            "mark": mark.string, "mark_order": list(mark.positiontup or ()), "event": event.string,
            "event_order": list(event.positiontup or ()), "day": occ.day.isoformat(), "shift": occ.shift.code,
            "database": str(make_url(cfg["DATABASE_URL"]).database)}


def _floor_server(port_file: str, spec_file: str) -> None:
    """Raw pipeline on the kiosk's schema: read a UID line → lookup, mark, audit row, commit → raw frame."""
    spec = json.loads(Path(spec_file).read_text())
    db = sqlite3.connect(spec["database"], isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    ws, trig = _raw_sockets(port_file)
    day, shift = spec["day"], spec["shift"]
    binds = {**spec["lookup_fixed"], "day": day, "shift": shift}
    for line in trig.makefile("rb"):
        uid = line.strip().decode()
        at = time.time()  # the reader has the UID
        stamp = datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        db.execute("BEGIN IMMEDIATE")
        binds["uid"] = uid
        row = db.execute(spec["lookup"], [binds[k] for k in spec["lookup_binds"]]).fetchone()
        outcome = "unknown_badge"
        if row is not None:
            staff_id, duty, floor_id, rc_id, mark = row[1], row[7], row[8], row[9], row[11]
            outcome = "not_on_roster" if duty is None else "duplicate" if mark else "present"
            if outcome == "present":
                if rc_id is None:
                    rc_id = db.execute("INSERT INTO rollcalls (day, shift_code, floor_id) VALUES (?, ?, ?)",
                                       (day, shift, floor_id)).lastrowid
                values = {"rollcall_id": rc_id, "staff_id": staff_id, "status": "present", "at": stamp,
                          "leader_late": 0, "manual": 0}
                db.execute(spec["mark"], [values[k] for k in spec["mark_order"]])
        data = json.dumps({"employee_no": row[2] if row else None, "shift": shift, "day": day}, sort_keys=True)
        values = {"at": stamp, "kind": "rollcall_tap", "actor": "reader:kiosk", "subject": uid,
                  "outcome": outcome, "reason": "", "rule": "§3.3", "data": data}
        db.execute(spec["event"], [values[k] for k in spec["event_order"]])
        db.execute("COMMIT")
        ws.sendall(ws_frame(json.dumps({"uid": uid, "at": at, "outcome": outcome, "name": row[3] if row else None,
                                        "seat": row[6] if row else None})))


def prepare_floor(workdir: Path, instance: Path) -> tuple[Path, list[str]]:
    """The floor's spec file, with a copy of the kiosk's database taken before the kiosk taps; the UIDs."""
    spec = floor_statements(instance)
    copy = workdir / "floor.db"
    with sqlite3.connect(spec["database"]) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        uids = [r[0] for r in dst.execute("SELECT uid FROM badges")]
    spec["database"] = str(copy)
    spec_file = workdir / "floor.json"
    spec_file.write_text(json.dumps(spec))
    return spec_file, uids


def main() -> None:
    """Measure both paths in this run and print the table and the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 taps per path (under a minute)")
    ap.add_argument("--taps", type=int, default=None, help="taps per path (default 3,000, quick 1,000)")
    ap.add_argument("--baseline-server", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--floor-server", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_server:
        _baseline_server(*args.baseline_server)
        return
    if args.floor_server:
        _floor_server(*args.floor_server)
        return
    taps = args.taps or (1000 if args.quick else 3000)
    with tempfile.TemporaryDirectory(prefix="bench-tap-") as tmp:
        work = Path(tmp)
        instance = work / "instance"
        uids = prepare_instance(instance)
        floor_spec, floor_uids = prepare_floor(work, instance)
        with raw_path(work, "baseline", [str(work / "raw.db")], lambda i: f"04{i:012X}") as raw_one:
            with kiosk_path(instance, uids, "serial") as kiosk_one:
                got = interleaved({"baseline": raw_one, "kiosk": kiosk_one}, taps, warmup=50)
            seal_log(instance)
            # The same kiosk, its taps made through the simulated reader's web API, against the baseline again.
            with kiosk_path(instance, uids, "sim") as web_one:
                web_got = interleaved({"baseline": raw_one, "kiosk": web_one}, taps, warmup=50)
            # Then the floor, against the same baseline: a third path in the rounds above would leave each
            # kiosk tap a longer idle gap before it than the kiosk has on its own.
            with raw_path(work, "floor", [str(floor_spec)], lambda i: floor_uids[i % len(floor_uids)]) as floor_one:
                floor_got = interleaved({"baseline": raw_one, "floor": floor_one}, taps, warmup=50)
        baseline, kiosk = summary(got["baseline"]), summary(got["kiosk"])
        web_baseline, web = summary(web_got["baseline"]), summary(web_got["kiosk"])
        floor_baseline, floor = summary(floor_got["baseline"]), summary(floor_got["floor"])
    ratio = round(kiosk["p99_ms"] / baseline["p99_ms"], 2)
    ratio_p50 = round(kiosk["p50_ms"] / baseline["p50_ms"], 2)  # moves far less from run to run than the p99's
    web_ratio = round(web["p99_ms"] / web_baseline["p99_ms"], 2)
    floor_ratio = round(floor["p99_ms"] / floor_baseline["p99_ms"], 2)
    print_table(f"tap → screen, {taps} taps each (lower is better)", [
        ("baseline: raw read → sqlite3 FULL commit → ws", baseline),
        ("kiosk: serial reader → service → Socket.IO", kiosk)])
    print(f"  ratio p99 kiosk/baseline: {ratio}  (goal <= 2.0); p50: {ratio_p50}")
    print_table("the same kiosk tapped through the simulated reader's web API, against the baseline again", [
        ("baseline: raw read → sqlite3 FULL commit → ws", web_baseline),
        ("kiosk: HTTP → sim reader → service → Socket.IO", web)])
    print(f"  ratio p99 web-tapped kiosk/baseline: {web_ratio}")
    print_table("then the floor, what the tap's statements alone cost, against the baseline again", [
        ("baseline: raw read → sqlite3 FULL commit → ws", floor_baseline),
        ("floor: raw read → the tap's own SQL → ws", floor)])
    print(f"  ratio p99 floor/baseline: {floor_ratio}")
    print(json.dumps({"bench": "tap_to_screen", "p50_ms": kiosk["p50_ms"], "p99_ms": kiosk["p99_ms"],
                      "baseline_p50_ms": baseline["p50_ms"], "baseline_p99_ms": baseline["p99_ms"],
                      "ratio_p99": ratio, "ratio_p50": ratio_p50, "web_p50_ms": web["p50_ms"], "web_p99_ms": web["p99_ms"],
                      "web_baseline_p99_ms": web_baseline["p99_ms"], "web_ratio_p99": web_ratio,
                      "floor_p50_ms": floor["p50_ms"], "floor_p99_ms": floor["p99_ms"],
                      "floor_baseline_p99_ms": floor_baseline["p99_ms"], "floor_ratio_p99": floor_ratio,
                      "taps": taps, "goal_ratio_p99": 2.0}))

if __name__ == "__main__":
    main()
