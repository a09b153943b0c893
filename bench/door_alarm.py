"""Door alarm latency: the door opens (FSN/1 frame written to the pty) → the alarm reaches a screen.

The real chain: a simulated node on a pty → ``floor-sensors run`` (supervision, durable outbox,
signed HTTP) → ``kiosk serve`` (store, door rules, alert, commit) → a browser-like Socket.IO client
receiving ``alert_raised``. The door opens with no grant before it, so the forced-open alarm (§6.6)
is raised by the same transaction that stores the change. Baseline, measured in the same run: the
sensor benchmark's raw pty read → parse → ``sqlite3`` commit (WAL, FULL); beside it, the chain's own floor
(``bench/_raw_chain.py``). The three are measured in turn, one opening each per round.

    .venv/bin/python bench/door_alarm.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import SocketIOClient, interleaved, print_table, summary
from bench._raw_chain import raw_chain_path
from bench.sensor_ingest import baseline_path, prepare, sensor_chain


def define_door(instance: Path) -> None:
    """The demo's main door on the demo points, with its timings."""
    from kiosk.config import load_config
    from kiosk.services import doors
    from kiosk.services.context import ServiceContext
    from kiosk.store.db import make_engine, make_sessionmaker

    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine))
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main",
                              "exit_point": "exit:main"}], actor="bench")
    engine.dispose()


def wait_until_closed(client: SocketIOClient) -> None:
    """Skip events until the kiosk says the door is closed."""
    while True:
        payload, _ = client.wait_for("door_changed")
        if payload["contact"] == "closed":
            return


def alarm_path(node_side: Any, client: SocketIOClient) -> Callable[[int], float]:
    """``one(i)``: ms from the door's IN frame on the pty to the client holding the forced-open alert; the door
    is closed again (and the kiosk has said so) before it returns."""
    def one(_i: int) -> float:
        t0 = time.time()
        node_side.node.set_channel(1, "A")
        while True:
            payload, received = client.wait_for("alert_raised")
            if payload["kind"] == "door_forced_open":
                break
        node_side.node.set_channel(1, "N")
        wait_until_closed(client)
        return (received - t0) * 1000.0
    return one


def main() -> None:
    """Measure both paths in this run and print the table and the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer openings (under a minute)")
    args = ap.parse_args()
    n = 600 if args.quick else 2000
    with tempfile.TemporaryDirectory(prefix="bench-door-") as tmp:
        work = Path(tmp)
        instance = work / "instance"
        secret = prepare(instance)
        define_door(instance)
        with sensor_chain(instance, secret) as (node_side, client), baseline_path(work) as raw_one, \
                raw_chain_path(work / "raw-chain") as floor_one:
            wait_until_closed(client)  # the first heartbeat tells the kiosk the door is closed
            got = interleaved({"baseline": raw_one, "floor": floor_one, "kiosk": alarm_path(node_side, client)},
                              n, warmup=30)
        base, floor, kiosk = summary(got["baseline"]), summary(got["floor"]), summary(got["kiosk"])
    ratio = round(kiosk["p99_ms"] / base["p99_ms"], 2)
    print_table(f"door opened → alarm on a screen, {n} openings each (lower is better)", [
        ("baseline: raw pty read → parse → sqlite3 commit", base),
        ("floor: the same chain in raw Python", floor),
        ("kiosk: pty → gateway → server → alert → client", kiosk)])
    print(f"  ratio p99 kiosk/baseline: {ratio}  (goal <= 2.0)")
    print(f"  the chain's own floor (two processes, two durable commits, no HTTP, no rules; bench/_raw_chain.py): "
          f"p99 {round(floor['p99_ms'] / base['p99_ms'], 2)}x the baseline; the kiosk is "
          f"{round(kiosk['p99_ms'] / floor['p99_ms'], 2)}x that floor")
    print(json.dumps({"bench": "door_alarm", "p50_ms": kiosk["p50_ms"], "p99_ms": kiosk["p99_ms"],
                      "baseline_p50_ms": base["p50_ms"], "baseline_p99_ms": base["p99_ms"], "ratio_p99": ratio,
                      "openings": n, "goal_ratio_p99": 2.0, "floor_p50_ms": floor["p50_ms"],
                      "floor_p99_ms": floor["p99_ms"], "floor_ratio_p99": round(floor["p99_ms"] / base["p99_ms"], 2),
                      "ratio_p99_vs_floor": round(kiosk["p99_ms"] / floor["p99_ms"], 2)}))


if __name__ == "__main__":
    main()
