"""The durable outbox: order, leases, capacity with an explicit overflow event, reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from floor_sensors.outbox import Outbox


def event(i: int) -> dict[str, object]:
    return {"type": "point_changed", "point": "door:main", "state": "open" if i % 2 else "closed", "i": i, "at": f"t{i}"}


def test_events_come_back_oldest_first_with_ids_naming_the_gateway(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "floor-3")
    ids = box.append([event(1), event(2)]) + box.append([event(3)])
    batch = box.peek(10)
    assert [e.id for e in batch] == ids
    assert [e.body["i"] for e in batch] == [1, 2, 3]
    assert all(e.id.startswith("floor-3:") and e.body["id"] == e.id for e in batch)


def test_the_database_uses_wal_with_full_synchronous_writes(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "floor-3")
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_deletion_does_not_wait_for_the_disk_but_every_append_after_it_does(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "floor-3")
    box.append([event(1), event(2)])
    seen: list[str] = []
    box._db.set_trace_callback(seen.append)
    box.remove([box.peek(1)[0].n])
    box.append([event(3)])
    box._db.set_trace_callback(None)
    statements = [s.strip() for s in seen]
    delete = next(i for i, s in enumerate(statements) if s.startswith("DELETE FROM events"))
    insert = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO events"))
    assert "PRAGMA synchronous=NORMAL" in statements[:delete]
    assert "PRAGMA synchronous=FULL" in statements[delete:insert]  # the append commits with FULL again
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_leased_events_are_not_handed_out_twice_until_released(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "floor-3")
    box.append([event(i) for i in range(5)])
    first = box.peek(2)
    second = box.peek(2)
    assert [e.body["i"] for e in first] == [0, 1]
    assert [e.body["i"] for e in second] == [2, 3]
    box.release([e.n for e in first])
    assert [e.body["i"] for e in box.peek(10)] == [0, 1, 4]


def test_only_removed_events_leave_the_outbox(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "floor-3")
    box.append([event(i) for i in range(3)])
    batch = box.peek(3)
    box.remove([batch[0].n, batch[2].n])
    box.release([e.n for e in batch])
    assert [e.body["i"] for e in box.peek(10)] == [1]
    assert len(box) == 1


def test_ids_are_never_reused_after_deletion_or_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "floor-3")
    first = box.append([event(1)])
    box.remove([e.n for e in box.peek(1)])
    box.close()
    again = Outbox(tmp_path / "o.db", "floor-3")
    assert again.append([event(2)]) != first
    assert again.event_id(1) == first[0]


def test_a_new_outbox_file_gets_ids_distinct_from_an_old_one(tmp_path: Path) -> None:
    a = Outbox(tmp_path / "a.db", "floor-3").append([event(1)])
    b = Outbox(tmp_path / "b.db", "floor-3").append([event(1)])
    assert a != b


def test_beyond_capacity_the_oldest_are_dropped_and_one_overflow_event_counts_them(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "floor-3", capacity=10)
    box.append([event(i) for i in range(10)])
    assert len(box) == 10
    box.append([event(10)])
    box.append([event(11), event(12)])
    assert len(box) == 10
    bodies = [e.body for e in box.peek(100)]
    overflow = [b for b in bodies if b["type"] == "overflow"]
    assert len(overflow) == 1 and overflow[0]["dropped"] == 4
    kept = [b["i"] for b in bodies if b["type"] == "point_changed"]
    assert kept == list(range(4, 13))  # the newest survive, in order


def test_leased_events_are_not_dropped_while_a_post_is_under_way(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", "floor-3", capacity=5)
    box.append([event(i) for i in range(5)])
    in_flight = box.peek(2)
    box.append([event(5)])
    remaining = {e.body.get("i") for e in box.peek(100)} | {e.body["i"] for e in in_flight}
    assert {0, 1, 5} <= remaining


def test_events_committed_survive_an_unclean_close(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path, "floor-3")
    ids = box.append([event(i) for i in range(50)])
    # No close(): read the file from another connection, as a restarted gateway would.
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 50
    assert Outbox(path, "floor-3").all_ids() == ids
