"""Scale-out: one event reaching 50 screens, through one process vs two processes sharing Redis.

Single: one ``kiosk serve``, 50 browser-like Socket.IO clients. Scaled: two ``kiosk serve``
processes with ``KIOSK_REDIS_URL``, 25 clients on each, the event accepted by the first. The figure
is the time until the LAST of the 50 clients has the event (a sensor change posted to the gateway
endpoint). Then sustained badge taps at 10,000 a minute through the simulated reader: none lost, and
tap-to-screen latency under that load beside the unloaded figure.

    .venv/bin/python bench/scale_out.py [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import SocketIOClient, free_port, parse_at, print_table, start_kiosk, summary
from bench.tap_to_screen import prepare_instance

SECRET = "scale-bench"
REDIS = "redis://127.0.0.1:6379/0"


def define_point(instance: Path) -> None:
    """One door point the events change."""
    from kiosk.config import load_config
    from kiosk.services import sensors
    from kiosk.services.context import ServiceContext
    from kiosk.store.db import make_engine, make_sessionmaker

    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    sensors.define_points(ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine)),
                          [{"id": "door:main", "kind": "door", "label": "正门"}], actor="bench")
    engine.dispose()


class Crowd:
    """N clients, each on its own thread, noting when each event (by its 'at') reached it."""

    def __init__(self, urls: list[str], n: int) -> None:
        self.clients = [SocketIOClient(urls[i % len(urls)]) for i in range(n)]
        for c in self.clients:
            c.wait_for("snapshot")
        self.seen: dict[float, list[float]] = {}
        self.lock = threading.Lock()
        self.done: dict[float, threading.Event] = {}
        self.n = n
        self.threads = [threading.Thread(target=self._listen, args=(c,), daemon=True) for c in self.clients]
        for t in self.threads:
            t.start()

    def expect(self, key: float) -> threading.Event:
        ev = threading.Event()
        with self.lock:
            self.done[key] = ev
            self.seen.setdefault(key, [])
            if len(self.seen[key]) >= self.n:
                ev.set()
        return ev

    def _listen(self, client: SocketIOClient) -> None:
        while True:
            try:
                name, payload, at = client.next_event(timeout=60)
            except Exception:
                return
            if name != "points_changed":
                continue
            for ch in payload["changes"]:
                key = round(parse_at(ch["at"]), 6)
                with self.lock:
                    got = self.seen.setdefault(key, [])
                    got.append(at)
                    if len(got) >= self.n and key in self.done:
                        self.done[key].set()

    def close(self) -> None:
        for c in self.clients:
            c.close()


def fan_out(ports: list[int], clients: int, events: int) -> list[float]:
    """ms from posting a change (to the first server) until all clients have it."""
    crowd = Crowd([f"http://127.0.0.1:{p}" for p in ports], clients)
    conn = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=10)
    from kiosk.services.sensors import sign

    out = []
    base = time.time()
    for i in range(events):
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base)) + f".{i + 1:06d}Z"
        key = round(parse_at(at), 6)
        done = crowd.expect(key)
        body = json.dumps({"events": [{"id": f"bench:{i}", "type": "point_changed", "point": "door:main",
                                       "state": "open" if i % 2 else "closed", "at": at}]}).encode()
        t0 = time.time()
        conn.request("POST", "/api/v1/gateways/bench/events", body=body,
                     headers={"Content-Type": "application/json", "X-Signature": sign(SECRET.encode(), body)})
        conn.getresponse().read()
        if not done.wait(20):
            raise RuntimeError(f"event {i} did not reach all {clients} clients")
        with crowd.lock:
            last = max(crowd.seen[key][:clients])
        out.append((last - t0) * 1000.0)
    crowd.close()
    return out


def run_fanout(work: Path, processes: int, clients: int, events: int) -> list[float]:
    """Start the servers, measure, stop."""
    instance = work / f"fan{processes}"
    prepare_instance(instance)
    define_point(instance)
    env = {"KIOSK_NFC_DEVICE": "none", "KIOSK_GATEWAY_SECRETS": f"bench={SECRET}", "KIOSK_GATEWAY_SILENT_SECONDS": "600"}
    if processes > 1:
        env["KIOSK_REDIS_URL"] = REDIS
        # A channel of this run alone: tests or another installation may share the machine's Redis.
        env["KIOSK_REDIS_CHANNEL"] = f"floor-kiosk-bench-{secrets.token_hex(6)}"
    ports = [free_port() for _ in range(processes)]
    procs = [start_kiosk(instance, p, **env) for p in ports]
    try:
        return fan_out(ports, clients, events)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


def sustained_taps(work: Path, per_minute: int, seconds: float) -> tuple[list[float], list[float], int, int]:
    """Unloaded tap-to-screen, then the same while taps arrive at ``per_minute``; count what was recorded."""
    instance = work / "taps"
    uids = prepare_instance(instance)
    port = free_port()
    proc = start_kiosk(instance, port, KIOSK_NFC_DEVICE="sim", KIOSK_NFC_DEBOUNCE_SECONDS="0")
    try:
        client = SocketIOClient(f"http://127.0.0.1:{port}")
        client.wait_for("snapshot")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        def tap(uid: str) -> None:
            conn.request("POST", "/api/v1/sim/tap", body=json.dumps({"uid": uid}),
                         headers={"Content-Type": "application/json"})
            conn.getresponse().read()

        unloaded = []
        for i in range(200):
            tap(uids[i % len(uids)])
            payload, rx = client.wait_for("tap_recorded")
            unloaded.append((rx - parse_at(payload["at"])) * 1000.0)
        loaded: list[float] = []
        sent = 0
        interval = 60.0 / per_minute
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            target = start + sent * interval
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            tap(uids[sent % len(uids)])
            sent += 1
            payload, rx = client.wait_for("tap_recorded")
            loaded.append((rx - parse_at(payload["at"])) * 1000.0)
        elapsed = time.monotonic() - start
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"  sustained: {sent} taps in {elapsed:.1f} s = {sent / elapsed * 60:,.0f} taps/min achieved")
    db = sqlite3.connect(instance / "kiosk.db")
    recorded = db.execute("SELECT count(*) FROM events WHERE kind='rollcall_tap'").fetchone()[0] - 200
    db.close()
    return unloaded, loaded, sent, recorded


def main() -> None:
    """Measure single vs scaled fan-out and sustained taps; print the table and the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer events, shorter load (under a minute)")
    args = ap.parse_args()
    events = 100 if args.quick else 500
    load_s = 8.0 if args.quick else 60.0
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        single = summary(run_fanout(work, 1, 50, events))
        scaled = summary(run_fanout(work, 2, 50, events))
        unloaded, loaded, sent, recorded = sustained_taps(work, 10_000, load_s)
    un, lo = summary(unloaded), summary(loaded)
    ratio = round(scaled["p99_ms"] / single["p99_ms"], 2)
    print_table(f"one event → all 50 screens, {events} events (lower is better)", [
        ("single process (baseline)", single), ("two processes + Redis", scaled)])
    print(f"  ratio p99 scaled/single: {ratio}  (goal <= 1.5)")
    print_table(f"tap → screen, unloaded and at 10,000 taps/min for {load_s:.0f} s", [
        ("unloaded", un), ("at 10,000 taps/min", lo)])
    lost = sent - recorded
    print(f"  taps sent {sent}, recorded {recorded}, lost {lost}; loaded/unloaded p99 {lo['p99_ms'] / un['p99_ms']:.2f} "
          "(goal <= 2.0, none lost)")
    print(json.dumps({"bench": "scale_out", "p50_ms": scaled["p50_ms"], "p99_ms": scaled["p99_ms"],
                      "baseline_p99_ms": single["p99_ms"], "ratio_p99": ratio, "clients": 50, "events": events,
                      "goal_ratio_p99": 1.5, "taps_sent": sent, "taps_lost": lost,
                      "tap_p99_unloaded_ms": un["p99_ms"], "tap_p99_loaded_ms": lo["p99_ms"],
                      "tap_loaded_ratio_p99": round(lo["p99_ms"] / un["p99_ms"], 2)}))


if __name__ == "__main__":
    main()
