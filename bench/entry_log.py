"""Entry log review at scale (§2.4, §6.7): searches, day counts and a streamed export on a year of events.

A generated log of 2,000,000 events (a year of a 300-person floor: door taps, openings and closings, roll
call taps, seat sensors, flags, alerts) in a real instance database (SQLite, WAL, migrated to head, every
row chained exactly as the sealer chains it). Measured in the same run, each beside the same query in raw
``sqlite3``:

* search by person over 30 days (a page of up to 500 rows, names resolved), the person and window varied;
* the last 200 events;
* counts per day for a month (one index range count per local day), also against a naive
  ``SELECT date(at), count(*) ... GROUP BY date(at)`` (goal: at most 0.2× its p99);
* an export of 1,000,000 rows as CSV (keyset batches, canonical times, formula-safe cells, the running
  digest, the signed manifest), rows per second against raw ``sqlite3`` rows → ``csv.writer`` (goal: at
  least 0.3×), and its peak Python memory (tracemalloc) at a tenth of the rows and at all of them.

Goal for the queries: p99 at most 3× raw. The generator writes rows already chained (the same
``canonical_row``/``chain_hash`` as the sealer) with the bench database's indexes and insert trigger lifted
for the load and put back afterwards; a sample of rows is verified through the review service.

    .venv/bin/python bench/entry_log.py [--quick] [--events N]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import print_table, summary

PEOPLE = 300
SEED = 12345


# --- the generated log ---------------------------------------------------------------------------------------

def generate(instance: Path, n_events: int, end: datetime) -> dict[str, Any]:
    """Migrate an instance, add 300 staff with badges and one door, then load ``n_events`` chained events."""
    from kiosk.config import load_config
    from kiosk.store import eventlog
    from kiosk.store.db import upgrade

    cfg = load_config(instance, environ={})
    upgrade(cfg["DATABASE_URL"])
    db = Path(cfg["DATABASE_URL"].removeprefix("sqlite:///"))
    rnd = random.Random(SEED)
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    staff = []
    for i in range(PEOPLE):
        role = "leader" if i < 12 else "supervisor" if i < 16 else "security" if i < 20 else "operator"
        staff.append((i + 1, f"{10001 + i}", f"员工{i + 1:03d}", role, f"04B{i:011X}"))
    con.executemany("INSERT INTO staff (id, employee_no, name, role, post_level, skill_grade, active) "
                    "VALUES (?, ?, ?, ?, '', '', 1)", [s[:4] for s in staff])
    con.executemany("INSERT INTO badges (uid, staff_id, status) VALUES (?, ?, 'active')",
                    [(s[4], s[0]) for s in staff])
    con.execute("INSERT INTO doors (id, name, contact_point, exit_point, readers, prewarn_s, alarm_s, "
                "entry_window_s, tailgate_s, state, floor_id) VALUES ('main', '话务区正门', 'door:main', 'exit:main', "
                "'door-main', 20, 30, 10, 15, '', (SELECT id FROM floors ORDER BY sort_order, id LIMIT 1))")
    con.commit()

    # Bulk load: the events table's indexes and its insert trigger go, the rows go in chained, they come back.
    saved = con.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL "
                        "AND type IN ('index', 'trigger')").fetchall()
    for kind, name, _sql in saved:
        con.execute(f"DROP {kind.upper()} {name}")
    start = end - timedelta(days=365)
    step = (end - start) / n_events
    prev, batch = eventlog.GENESIS, []
    kinds = (["door_tap"] * 35 + ["rollcall_tap"] * 20 + ["door_opened"] * 15 + ["door_closed"] * 15
             + ["point_changed"] * 12 + ["floor_flag_raised"] * 2 + ["alert_raised"])
    t_load = time.perf_counter()
    for i in range(n_events):
        at = start + step * i
        at_text = at.strftime("%Y-%m-%d %H:%M:%S.%f")
        kind = rnd.choice(kinds)
        _sid, emp, _name, role, uid = staff[rnd.randrange(PEOPLE)]
        actor, subject, outcome, reason, rule, data = "", "", "", "", "", "{}"
        if kind == "door_tap":
            ok = rnd.random() < 0.95
            actor, subject, outcome, rule = "reader:door-main", uid, "granted" if ok else "not_roll_called", "§6.6"
            reason = "on duty" if ok else "answer roll call at the kiosk first"
            data = eventlog.canonical_json({"door": "main", "employee_no": emp, "role": role, "visitor": None,
                                            "escorted_by": None})
        elif kind == "rollcall_tap":
            actor, subject, outcome, rule = "reader:kiosk", uid, rnd.choice(("present", "present", "late")), "§3.3"
            data = eventlog.canonical_json({"employee_no": emp, "shift": "M"})
        elif kind in ("door_opened", "door_closed"):
            actor, subject, rule = "door:main", "main", "§6.5"
            reason = (f"Door main opened after badge ({emp})." if kind == "door_opened"
                      else "Door main closed after 5 s open.")
        elif kind == "point_changed":
            actor, subject = "gateway:floor-3", f"seat:A-{rnd.randrange(120):03d}"
            outcome = rnd.choice(("occupied", "vacant"))
            data = eventlog.canonical_json({"previous": "vacant" if outcome == "occupied" else "occupied"})
        elif kind == "floor_flag_raised":
            actor, subject, outcome, rule = "kiosk", emp, "not_signed_in", "§4.5"
        else:
            actor, subject, outcome, rule = "door:main", str(i), "door_forced_open", "§6.6"
        seq = i + 1
        row = SimpleNamespace(id=seq, at=at_text, kind=kind, actor=actor, subject=subject, outcome=outcome,
                              reason=reason, rule=rule, data=data)
        digest = eventlog.chain_hash(prev, eventlog.canonical_row(row, seq))
        batch.append((seq, at_text, kind, actor, subject, outcome, reason, rule, data, seq, prev, digest))
        prev = digest
        if len(batch) == 50_000:
            con.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", batch)
            batch.clear()
    if batch:
        con.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", batch)
    con.commit()
    load_s = time.perf_counter() - t_load
    t_index = time.perf_counter()
    for _kind, _name, sql in saved:
        con.execute(sql)
    con.commit()
    index_s = time.perf_counter() - t_index
    con.close()
    return {"db": db, "staff": staff, "start": start, "end": end, "load_s": load_s, "index_s": index_s}


# --- measuring -------------------------------------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000.0, out


def pair(n: int, ours: Callable[[int], Any], raw: Callable[[int], Any],
         warm: int = 5) -> tuple[list[float], list[float]]:
    """Run both n times, alternating (same cache conditions), after a warm-up; return ms lists."""
    for i in range(warm):
        ours(i)
        raw(i)
    a, b = [], []
    for i in range(n):
        a.append(timed(lambda: ours(i))[0])
        b.append(timed(lambda: raw(i))[0])
    return a, b


class Sink:
    """A file that only counts what is written to it."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, text: str) -> int:
        self.n += len(text)
        return len(text)


def main() -> None:
    """Generate the log, measure everything in this run, print the table and the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200,000 events and fewer rounds (under a minute)")
    ap.add_argument("--events", type=int, default=None, help="events to generate (default 2,000,000)")
    args = ap.parse_args()
    n_events = args.events or (200_000 if args.quick else 2_000_000)
    rounds = 60 if args.quick else 200
    export_rows_goal = n_events // 2

    from kiosk.config import load_config
    from kiosk.services import logexport, review
    from kiosk.services.context import ServiceContext
    from kiosk.store.db import make_engine, make_sessionmaker

    with tempfile.TemporaryDirectory(prefix="bench-entrylog-") as tmp:
        instance = Path(tmp) / "instance"
        end = datetime(2026, 11, 30, 16, tzinfo=timezone.utc)
        t0 = time.perf_counter()
        gen = generate(instance, n_events, end)
        gen_s = time.perf_counter() - t0
        cfg = load_config(instance, environ={})
        engine = make_engine(cfg["DATABASE_URL"])
        ctx = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine),
                             clock=lambda: end)
        raw = sqlite3.connect(gen["db"])
        rnd = random.Random(SEED + 1)
        tz = ctx.tz

        # Sanity: rows chained as the sealer would chain them.
        for event_id in (1, n_events // 2, n_events):
            assert review.event_detail(ctx, event_id)["chain"]["state"] == "verified"

        # 1. a person over 30 days, up to 500 rows. Raw does what the service does: find the person, then
        # the page (their badges as a subquery), newest first.
        cases = []
        for _ in range(rounds + 10):
            person = gen["staff"][rnd.randrange(PEOPLE)]
            since = gen["start"] + timedelta(days=rnd.randrange(330))
            cases.append((person, since, since + timedelta(days=30)))
        kinds_sql = ",".join("?" * len(review.ID_SUBJECT_KINDS))
        person_sql = (f"SELECT id, at, kind, actor, subject, outcome, reason, rule, data, seq FROM events "
                      f"WHERE (subject IN (SELECT uid FROM badges WHERE staff_id IN (?)) OR (subject IN (?) AND "
                      f"kind NOT IN ({kinds_sql})) OR actor IN (?)) AND at >= ? AND at < ? "
                      f"ORDER BY at DESC, id DESC LIMIT 501")
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        rows_seen: list[int] = []

        def person_query(i: int, describe: bool = False) -> None:
            (_sid, emp, _n, _r, _uid), since, until = cases[i % len(cases)]
            page = review.search(ctx, review.LogFilter(person=emp, since=since, until=until), limit=500,
                                 describe=describe)
            rows_seen.append(len(page.rows))

        def person_raw(i: int) -> None:
            (_sid, emp, _n, _r, _uid), since, until = cases[i % len(cases)]
            sid = raw.execute("SELECT id FROM staff WHERE employee_no = ?", (emp,)).fetchone()[0]
            raw.execute(person_sql, (sid, emp, *review.ID_SUBJECT_KINDS, emp, since.strftime(fmt),
                                     until.strftime(fmt))).fetchall()

        person_a, person_b = pair(rounds, person_query, person_raw)
        person_page = [timed(lambda: person_query(i, True))[0] for i in range(rounds)]

        # 2. the last 200 events
        last_sql = ("SELECT id, at, kind, actor, subject, outcome, reason, rule, data, seq FROM events "
                    "ORDER BY at DESC, id DESC LIMIT 201")
        last_a, last_b = pair(rounds, lambda i: review.search(ctx, review.LogFilter(), limit=200, describe=False),
                              lambda i: raw.execute(last_sql).fetchall())
        last_page = [timed(lambda: review.search(ctx, review.LogFilter(), limit=200))[0] for _ in range(rounds)]

        # 3. counts per day for a month: ours, the same statement raw, and a naive GROUP BY date(at)
        months = []
        for _ in range(rounds + 10):
            first = (gen["start"] + timedelta(days=rnd.randrange(320))).astimezone(tz).date().replace(day=1)
            last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            months.append((first, last))

        def bounds(i: int) -> list[tuple[str, str]]:
            first, last = months[i % len(months)]
            out, d = [], first
            while d <= last:
                lo, hi = review.day_bounds(d, tz)
                out.append((lo.strftime(fmt), hi.strftime(fmt)))
                d += timedelta(days=1)
            return out

        def month_raw(i: int) -> None:
            b = bounds(i)
            sql = "SELECT " + ", ".join(["(SELECT count(*) FROM events WHERE at >= ? AND at < ?)"] * len(b))
            raw.execute(sql, [v for pair_ in b for v in pair_]).fetchone()

        def month_naive(i: int) -> None:
            b = bounds(i)
            raw.execute("SELECT date(at), count(*) FROM events WHERE at >= ? AND at < ? GROUP BY date(at)",
                        (b[0][0], b[-1][1])).fetchall()

        month_a, month_b = pair(rounds, lambda i: review.day_counts(ctx, *months[i % len(months)]), month_raw)
        naive = [timed(lambda: month_naive(i))[0] for i in range(max(20, rounds // 2))]

        # 4. export: rows/s against raw sqlite3 → csv.writer, then peak memory at a tenth and all the rows
        lo_at = gen["start"]
        hi_at = gen["start"] + (gen["end"] - gen["start"]) * (export_rows_goal / n_events)
        f = review.LogFilter(since=lo_at, until=hi_at)

        def export_ours() -> int:
            p = logexport.plan(ctx, f, by="bench")
            size = 0
            for chunk in logexport.csv_chunks(ctx, p):
                size += len(chunk)
            return p.total

        def export_raw() -> int:
            sink = Sink()
            w = csv.writer(sink, lineterminator="\r\n")
            n = 0
            for row in raw.execute("SELECT id, at, kind, actor, subject, outcome, reason, rule, data, seq, prev_hash, "
                                   "hash FROM events WHERE at >= ? AND at < ? ORDER BY at, id",
                                   (lo_at.strftime(fmt), hi_at.strftime(fmt))):
                w.writerow(row)
                n += 1
            return n

        raw_ms, raw_rows = timed(export_raw)
        ours_ms, our_rows = timed(export_ours)
        assert raw_rows == our_rows, (raw_rows, our_rows)
        raw_rps, our_rps = raw_rows / (raw_ms / 1000), our_rows / (ours_ms / 1000)

        def peak(until: datetime) -> float:
            small = logexport.plan(ctx, review.LogFilter(since=lo_at, until=until), by="bench")
            tracemalloc.start()
            for _chunk in logexport.csv_chunks(ctx, small):
                pass
            _cur, top = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            return top / 1e6

        peak_tenth = peak(lo_at + (hi_at - lo_at) / 10)
        peak_all = peak(hi_at)
        raw.close()
        engine.dispose()

    base_p, ours_p, page_p = summary(person_b), summary(person_a), summary(person_page)
    base_l, ours_l, page_l = summary(last_b), summary(last_a), summary(last_page)
    base_m, ours_m, naive_m = summary(month_b), summary(month_a), summary(naive)
    ratios = {"person_30_days": round(ours_p["p99_ms"] / base_p["p99_ms"], 2),
              "last_200": round(ours_l["p99_ms"] / base_l["p99_ms"], 2),
              "month_counts": round(ours_m["p99_ms"] / base_m["p99_ms"], 2)}
    month_vs_naive = round(ours_m["p99_ms"] / naive_m["p99_ms"], 3)
    export_ratio = round(our_rps / raw_rps, 2)
    print(f"generated {n_events:,} events in {gen_s:.1f} s (load {gen['load_s']:.1f} s, "
          f"indexes {gen['index_s']:.1f} s); "
          f"{rounds} rounds per query")
    print_table("entry log review queries (lower is better)", [
        ("raw: person, 30 days, <=500 rows", base_p), ("kiosk: person, 30 days, <=500 rows", ours_p),
        ("  kiosk page (+ names, local times)", page_p),
        ("raw: last 200 events", base_l), ("kiosk: last 200 events", ours_l),
        ("  kiosk page (+ names, local times)", page_l),
        ("raw: per-day range counts, a month", base_m), ("kiosk: counts per day, a month", ours_m),
        ("naive: GROUP BY date(at), a month", naive_m)])
    print(f"  rows per person page: mean {sum(rows_seen) / len(rows_seen):.0f}, max {max(rows_seen)}")
    print(f"  ratio p99 kiosk/raw: {ratios}  (goal <= 3.0)")
    print(f"  month counts p99 vs naive GROUP BY: {month_vs_naive}  (goal <= 0.2)")
    print(f"export of {our_rows:,} rows as CSV: kiosk {our_rps:,.0f} rows/s, raw sqlite3 → csv {raw_rps:,.0f} rows/s, "
          f"ratio {export_ratio} (goal >= 0.3)")
    print(f"  peak Python memory of the export (tracemalloc): {peak_tenth:.1f} MB at a tenth of the rows, "
          f"{peak_all:.1f} MB at all of them")
    worst = max(ratios.values())
    print(json.dumps({
        "bench": "entry_log", "events": n_events,
        "p50_ms": ours_p["p50_ms"], "p99_ms": ours_p["p99_ms"], "baseline_p50_ms": base_p["p50_ms"],
        "baseline_p99_ms": base_p["p99_ms"], "ratio_p99": ratios["person_30_days"], "worst_ratio_p99": worst,
        "goal_ratio_p99": 3.0,
        "queries": {"person_30_days": {"p50_ms": ours_p["p50_ms"], "p99_ms": ours_p["p99_ms"],
                                       "baseline_p50_ms": base_p["p50_ms"], "baseline_p99_ms": base_p["p99_ms"],
                                       "ratio_p99": ratios["person_30_days"], "page_p50_ms": page_p["p50_ms"],
                                       "page_p99_ms": page_p["p99_ms"]},
                    "last_200": {"p50_ms": ours_l["p50_ms"], "p99_ms": ours_l["p99_ms"],
                                 "baseline_p50_ms": base_l["p50_ms"], "baseline_p99_ms": base_l["p99_ms"],
                                 "ratio_p99": ratios["last_200"], "page_p50_ms": page_l["p50_ms"],
                                 "page_p99_ms": page_l["p99_ms"]},
                    "month_counts": {"p50_ms": ours_m["p50_ms"], "p99_ms": ours_m["p99_ms"],
                                     "baseline_p50_ms": base_m["p50_ms"], "baseline_p99_ms": base_m["p99_ms"],
                                     "ratio_p99": ratios["month_counts"], "naive_p99_ms": naive_m["p99_ms"],
                                     "ratio_vs_naive_p99": month_vs_naive, "goal_vs_naive": 0.2}},
        "export": {"rows": our_rows, "rows_per_s": round(our_rps), "baseline_rows_per_s": round(raw_rps),
                   "ratio": export_ratio, "goal_ratio": 0.3, "peak_mb_tenth": round(peak_tenth, 2),
                   "peak_mb_all": round(peak_all, 2)}}, ensure_ascii=False))


if __name__ == "__main__":
    main()
