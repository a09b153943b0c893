"""The sensor chain's floor: the same hops as the gateway and the server, written as raw as Python allows.

A frame written to a pty is read by a *gateway* process, parsed, committed to its own SQLite outbox (WAL,
synchronous=FULL) and sent over a kept-alive TCP connection to a *server* process, which commits it (WAL,
FULL), answers the gateway and tells a *screen* socket; the gateway then deletes it from its outbox (without
waiting for the disk, as the real outbox does). No
HTTP, no signature, no framework, no rules: only the two durable commits, the two process hops and the
socket writes that any implementation of that chain must make. The sensor and door benchmarks print it
beside their baseline, so their ratios can be read against what the chain's design itself costs.

    .venv/bin/python bench/_raw_chain.py   (prints the floor and the one-commit baseline, 300 changes)
"""

from __future__ import annotations

import binascii
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import tty
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def _db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS changes (n INTEGER PRIMARY KEY, node TEXT, seq INT, channel INT, "
               "state TEXT, at REAL)")
    return db


def _nodelay(sock: socket.socket) -> socket.socket:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _serve(db_path: str, port_file: str) -> None:
    """The server: commit each change, answer the gateway, tell the screen."""
    db = _db(db_path)
    listen = socket.socket()
    listen.bind(("127.0.0.1", 0))
    listen.listen(2)
    Path(port_file).write_text(json.dumps(listen.getsockname()[1]))
    screen, _ = listen.accept()  # the screen connects first, then the gateway
    gateway, _ = listen.accept()
    _nodelay(screen)
    _nodelay(gateway)
    lines = gateway.makefile("rb")
    for line in lines:
        node, seq, channel, state = line.decode().split(",")
        db.execute("BEGIN")
        db.execute("INSERT INTO changes (node, seq, channel, state, at) VALUES (?,?,?,?,?)",
                   (node, int(seq), int(channel), state.strip(), time.time()))
        db.execute("COMMIT")
        gateway.sendall(b"ok\n")
        screen.sendall(line)


def _gateway(pty_fd: int, db_path: str, port: int) -> None:
    """The gateway: read the pty (set raw by the parent, as a frame may already wait), commit to the outbox,
    send, and delete once the server answered."""
    db = _db(db_path)
    server = _nodelay(socket.create_connection(("127.0.0.1", port)))
    answers = server.makefile("rb")
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = os.read(pty_fd, 256)
            if not chunk:
                return
            buf += chunk
        raw, buf = buf.split(b"\n", 1)
        body, crc = raw.strip()[1:].split(b"*")
        if int(crc, 16) != binascii.crc_hqx(body, 0xFFFF):
            continue
        node, seq, _t, channel, state, _up = body.decode().split(",")
        db.execute("BEGIN")
        n = db.execute("INSERT INTO changes (node, seq, channel, state, at) VALUES (?,?,?,?,?)",
                       (node, int(seq), int(channel), state, time.time())).lastrowid
        db.execute("COMMIT")
        server.sendall(f"{node},{seq},{channel},{state}\n".encode())
        answers.readline()
        db.execute("PRAGMA synchronous=NORMAL")  # as the real outbox deletes: the next synced commit carries it
        db.execute("BEGIN")
        db.execute("DELETE FROM changes WHERE n = ?", (n,))
        db.execute("COMMIT")
        db.execute("PRAGMA synchronous=FULL")


def frame(i: int) -> bytes:
    """The i-th FSN/1 change frame of door-node-1, channel 1, alternating open and closed."""
    body = f"door-node-1,{i % 65536},IN,1,{'A' if i % 2 else 'N'},{i * 10}".encode()
    return b"$" + body + b"*%04X\r\n" % binascii.crc_hqx(body, 0xFFFF)


@contextmanager
def raw_chain_path(work: Path) -> Iterator[Callable[[int], float]]:
    """The raw chain, started: ``one(i)`` writes frame i → ms until the screen socket holds the server's word."""
    work.mkdir(parents=True, exist_ok=True)
    master, slave = os.openpty()
    tty.setraw(slave)
    port_file = work / "raw-chain-port.json"
    me = str(Path(__file__).resolve())
    server = subprocess.Popen([sys.executable, me, "--server", str(work / "raw-server.db"), str(port_file)])
    gateway = None
    try:
        from bench._common import read_port_file  # here: the helper processes run this file as a script

        port = read_port_file(port_file, server, "the raw chain's server")
        screen = _nodelay(socket.create_connection(("127.0.0.1", port)))
        gateway = subprocess.Popen([sys.executable, me, "--gateway", str(slave), str(work / "raw-outbox.db"),
                                    str(port)], pass_fds=(slave,))
        told = screen.makefile("rb")

        def one(i: int) -> float:
            t0 = time.perf_counter()
            os.write(master, frame(i))
            told.readline()
            return (time.perf_counter() - t0) * 1000.0

        yield one
        screen.close()
    finally:
        for proc in (gateway, server):  # before the pty goes: a gateway reading a closed pty would complain
            if proc is not None:
                proc.kill()
                proc.wait()
        os.close(master)
        os.close(slave)


def raw_chain(n: int, work: Path) -> list[float]:
    """The raw chain alone: n changes after 20 that warm both processes up."""
    with raw_chain_path(work) as one:
        return [ms for i, ms in ((i, one(i)) for i in range(n + 20)) if i >= 20]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--server":
        _serve(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--gateway":
        _gateway(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        import tempfile

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from bench._common import print_table, summary
        from bench.sensor_ingest import baseline

        with tempfile.TemporaryDirectory(prefix="bench-raw-chain-") as tmp:
            base = summary(baseline(300, Path(tmp)))
            floor = summary(raw_chain(300, Path(tmp) / "chain"))
        print_table("raw chain vs one commit, 300 changes", [("baseline: pty → parse → one commit", base),
                                                             ("raw chain: two processes, two commits", floor)])
        print(f"  ratio p99 raw chain/baseline: {round(floor['p99_ms'] / base['p99_ms'], 2)}")
