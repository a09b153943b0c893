"""A burst of frames is committed to the outbox in batches, and every ACK still follows its commit."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from fake_kiosk_server import wait_until
from floor_sensors.config import load_config
from floor_sensors.gateway import Gateway
from floor_sensors.links import FrameReceived
from floor_sensors.protocol import Ack, Hb, In
from gateway_harness import write_config


def test_a_queued_burst_is_one_outbox_commit_and_every_ack_is_sent_after_it(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", {"door-node-1": str(tmp_path / "no-port")}))
    gateway = Gateway(config, tick=0.02)
    journal: list[tuple[str, Any]] = []
    append = gateway.outbox.append

    def counted_append(events: list[dict[str, Any]]) -> None:
        append(events)
        journal.append(("commit", len(events)))

    gateway.outbox.append = counted_append  # type: ignore[method-assign]
    gateway.links["door-node-1"].send = lambda frame: journal.append(("send", frame))  # type: ignore[method-assign]
    # The burst is queued before the loop runs, as when the links read faster than the outbox commits.
    now = time.monotonic()
    gateway.queue.put(FrameReceived("door-node-1", Hb("door-node-1", 1, 10, "NNNN"), now))
    for seq in range(2, 102):
        gateway.queue.put(FrameReceived("door-node-1", In("door-node-1", seq, 1, "A" if seq % 2 else "N", seq), now))
    loop = threading.Thread(target=gateway._loop, daemon=True)
    loop.start()
    try:
        assert wait_until(lambda: sum(1 for kind, f in journal if kind == "send" and isinstance(f, Ack)) == 100)
    finally:
        gateway._stop.set()
        loop.join(5)
    commits = [n for kind, n in journal if kind == "commit"]
    assert len(commits) < 10, f"{len(commits)} commits for a burst of 101 frames"
    # No ACK before the commit that holds its event: the first send comes after the first commit.
    first_send = next(i for i, (kind, _) in enumerate(journal) if kind == "send")
    assert journal[0][0] == "commit" and first_send > 0
    events = [e.body for e in gateway.outbox.peek(1000)]
    changes = [e for e in events if e["type"] == "point_changed" and e["point"] == "door:door-node-1" and not e["reconciled"]]
    # (the node falls silent after the burst: the offline "unknown" may follow, never come between)
    assert [e["state"] for e in changes][:99] == ["open" if seq % 2 else "closed" for seq in range(3, 102)]
