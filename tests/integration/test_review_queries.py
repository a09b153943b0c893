"""The entry log's review queries (§2.4, §6.6, §6.7): keyset pages, filters, timelines, openings and their
grants, and exports that prove themselves with `kiosk log verify --export`."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, insert, select, text

from floorfixtures import build_floor, uid_of
from kiosk.cli import main
from kiosk.domain import entryreview
from kiosk.services import door_access, doors, entrylog, logexport, review, rollcall, sensors, visitors
from kiosk.store import eventlog
from kiosk.store.models import AgentEvent, Event, Staff

TZ = ZoneInfo("Asia/Shanghai")
events = Event.__table__
SECRET = b"review-test"


def local(y, mo, d, hh=0, mm=0, ss=0):
    return datetime(y, mo, d, hh, mm, ss, tzinfo=TZ).astimezone(timezone.utc)


def write(ctx, rows: list[dict[str, Any]]) -> None:
    """Append rows to the log in one transaction, as services do."""
    with ctx.engine.begin() as conn:
        for r in rows:
            eventlog.log_event(conn, **r)


def ids_of(page: review.Page) -> list[int]:
    return [r["id"] for r in page.rows]


# --- keyset paging -----------------------------------------------------------------------------------------

@pytest.fixture
def crowded(ctx):
    """230 rows in groups of 7 at the same instant (ties on ``at``), kinds interleaved."""
    t0 = local(2026, 11, 24, 8)
    write(ctx, [{"at": t0 + timedelta(seconds=i // 7), "kind": "door_tap" if i % 3 else "rollcall_tap",
                 "actor": "reader:door-main", "subject": f"04{i:012X}", "outcome": "granted"} for i in range(230)])
    with ctx.engine.connect() as conn:
        everything = conn.execute(select(events.c.id, events.c.at, events.c.kind)).all()
    return sorted(everything, key=lambda r: (r.at, r.id), reverse=True)


def test_paging_older_visits_every_row_once_in_at_then_id_order_despite_ties(ctx, crowded):
    seen: list[int] = []
    page = review.search(ctx, review.LogFilter(), limit=20)
    assert page.newer is None
    while True:
        seen += ids_of(page)
        if page.older is None:
            break
        page = review.search(ctx, review.LogFilter(), cursor=page.older, direction="older", limit=20)
    assert seen == [r.id for r in crowded]


def test_paging_newer_walks_back_to_the_newest_row(ctx, crowded):
    page = review.search(ctx, review.LogFilter(), limit=20)
    pages = [ids_of(page)]
    while page.older:
        page = review.search(ctx, review.LogFilter(), cursor=page.older, limit=20)
        pages.append(ids_of(page))
    back = [ids_of(page)]
    while page.newer:
        page = review.search(ctx, review.LogFilter(), cursor=page.newer, direction="newer", limit=20)
        back.append(ids_of(page))
    assert [i for p in reversed(back) for i in p][:40] == [r.id for r in crowded][:40]
    assert page.newer is None and back[-1][0] == crowded[0].id


def test_paging_a_filtered_search_skips_the_other_kinds(ctx, crowded):
    f = review.LogFilter(kind="rollcall_tap")
    seen, page = [], review.search(ctx, f, limit=9)
    while True:
        seen += ids_of(page)
        if not page.older:
            break
        page = review.search(ctx, f, cursor=page.older, limit=9)
    assert seen == [r.id for r in crowded if r.kind == "rollcall_tap"]


def test_paging_inside_a_time_range_visits_every_row_of_it_once_both_ways(ctx, crowded):
    t0 = local(2026, 11, 24, 8)
    f = review.LogFilter(since=t0 + timedelta(seconds=5), until=t0 + timedelta(seconds=25))
    inside = [r.id for r in crowded if f.since <= r.at < f.until]
    pages, page = [], review.search(ctx, f, limit=8)
    while True:
        pages.append(ids_of(page))
        if not page.older:
            break
        page = review.search(ctx, f, cursor=page.older, limit=8)
    assert [i for p in pages for i in p] == inside and len(inside) == 140
    back = []
    while page.newer:
        page = review.search(ctx, f, cursor=page.newer, direction="newer", limit=8)
        back.append(ids_of(page))
    assert back == list(reversed(pages[:-1]))


def test_a_tampered_cursor_is_refused(ctx):
    with pytest.raises(review.FilterError, match="page link is broken"):
        review.search(ctx, review.LogFilter(), cursor="2026-11-24;DROP")


# --- filters -----------------------------------------------------------------------------------------------

@pytest.fixture
def floor(ctx, clock):
    build_floor(ctx)
    ctx.config["GATEWAY_SECRETS"] = "floor-3=" + SECRET.decode()
    sensors.define_points(ctx, [{"id": "door:main", "kind": "door", "label": "正门"},
                                {"id": "exit:main", "kind": "exit_button", "label": "出门按钮"},
                                {"id": "door:back", "kind": "door", "label": "后门"}])
    doors.define_doors(ctx, [{"id": "main", "name": "话务区正门", "contact_point": "door:main", "exit_point": "exit:main",
                              "readers": ["door-main"], "entry_window_s": 10},
                             {"id": "back", "name": "后门", "contact_point": "door:back", "readers": ["door-back"]}])
    with ctx.engine.begin() as conn:
        conn.execute(insert(Staff.__table__).values(employee_no="30001", name="孙科长", role="management", active=True))
    clock.set(local(2026, 11, 24, 21, 50))
    return ctx


def point(ctx, clock, pid, state, n=[0]):
    """One contact change through the sensor gateway's door, as the floor_sensors gateway posts it."""
    n[0] += 1
    body = json.dumps({"events": [{"id": f"g:{n[0]}:{clock.now.timestamp()}", "type": "point_changed",
                                   "point": pid, "state": state, "at": clock.now.isoformat()}]}).encode()
    sensors.ingest(ctx, "floor-3", body, sensors.sign(SECRET, body))


def later(clock, seconds):
    clock.set(clock.now + timedelta(seconds=seconds))


def test_a_person_is_found_by_number_or_name_through_badges_marks_and_own_actions(floor, clock):
    leader = "20001"
    write(floor, [
        {"at": clock.now, "kind": "rollcall_tap", "actor": "reader:kiosk", "subject": uid_of("20002"),
         "outcome": "present"},
        {"at": clock.now, "kind": "rollcall_marked", "actor": leader, "subject": "20003", "outcome": "excused"},
        {"at": clock.now, "kind": "rollcall_marked", "actor": leader, "subject": "20002", "outcome": "present"},
        {"at": clock.now, "kind": "alert_raised", "actor": "door:main", "subject": "20002",
         "outcome": "door_forced_open"},
    ])
    kinds = lambda f: sorted((r["kind"], r["outcome"]) for r in review.search(floor, f).rows)  # noqa: E731
    assert kinds(review.LogFilter(person="20002")) == [("rollcall_marked", "present"), ("rollcall_tap", "present")]
    assert kinds(review.LogFilter(person="李娜")) == kinds(review.LogFilter(person="20002"))
    assert kinds(review.LogFilter(person="王班长")) == [("rollcall_marked", "excused"), ("rollcall_marked", "present")]
    nobody = review.search(floor, review.LogFilter(person="没有这个人"))
    assert nobody.rows == [] and "No member of staff" in nobody.scope.notes[0]
    row = review.search(floor, review.LogFilter(person="20002", kind="rollcall_tap")).rows[0]
    assert row["who"] == "李娜 (20002)" and row["subject"] == "…0002"  # the UID is masked on screen


def test_a_badge_door_kind_outcome_and_local_time_range_narrow_the_search(floor, clock):
    point(floor, clock, "door:main", "closed")
    door_access.door_tap(floor, uid_of("20001"), "door-main")  # the leader passes at any time
    later(clock, 2)
    point(floor, clock, "door:main", "open")
    door_access.door_tap(floor, uid_of("20002"), "door-back")  # not roll-called: refused
    clock.set(local(2026, 11, 24, 22, 15))
    door_access.door_tap(floor, uid_of("20008"), "door-main")
    f = review.parse_filter({"door": "main", "kind": "door_tap", "outcome": "granted",
                             "from": "2026-11-24 22:00", "to": "2026-11-24"}, TZ)  # a date alone: all of it
    assert f.since == local(2026, 11, 24, 22) and f.until == local(2026, 11, 25)
    rows = review.search(floor, f).rows
    assert [r["who"] for r in rows] == ["周强 (20008)"]
    main = {r["kind"] for r in review.search(floor, review.LogFilter(door="main")).rows}
    assert {"door_tap", "door_opened", "point_changed"} <= main and "door_tap_refused" not in main
    assert [r["who"] for r in review.search(floor, review.LogFilter(door="back")).rows] == ["李娜 (20002)"]
    by_badge = review.search(floor, review.parse_filter({"badge": "04:00:00:00:00:00:02"}, TZ)).rows
    assert [r["kind"] for r in by_badge] == ["door_tap"]


def test_a_visitor_is_found_by_approval_number_or_name(floor, clock):
    a = visitors.create_approval(floor, "30001", {
        "name": "赵记者", "organisation": "市电视台", "id_doc_tail": "0042", "purpose": "record",
        "valid_from": local(2026, 11, 24, 21), "valid_until": local(2026, 11, 24, 23), "host_employee_no": "20001"})
    write(floor, [{"at": clock.now, "kind": "door_tap", "actor": "reader:door-main", "subject": "08A1B2C3",
                   "outcome": "granted", "data": {"door": "main", "visitor": "赵记者"}}])
    with floor.engine.begin() as conn:
        from kiosk.store.models import VisitorCard
        conn.execute(insert(VisitorCard.__table__).values(uid="08A1B2C3", approval_id=a["id"], bound_at=clock.now,
                                                          bound_by="20001"))
    for text_ in (str(a["id"]), "赵记者"):
        assert sorted(r["kind"] for r in review.search(floor, review.LogFilter(visitor=text_)).rows) == \
            ["door_tap", "visitor_approved"]


@pytest.mark.parametrize("args,message", [
    ({"from": "2026-11-24 25:00"}, "“from” is not a date and time"),
    ({"to": "yesterday"}, "“to” is not a date and time"),
    ({"from": "2026-11-24T22:00+08:00"}, "without an offset"),
    ({"from": "2026-11-25", "to": "2026-11-24"}, "“from” must be before “to”"),
    ({"badge": "not-hex!"}, "“badge” is not a badge UID"),
])
def test_a_malformed_filter_is_refused_with_what_to_fix(args, message):
    with pytest.raises(review.FilterError, match=message):
        review.parse_filter(args, TZ)


# --- doors: openings and their grants ----------------------------------------------------------------------

def test_each_door_opening_is_matched_with_the_grant_that_explained_it(floor, clock):
    point(floor, clock, "door:main", "closed")
    door_access.door_tap(floor, uid_of("20001"), "door-main")  # badge → opening 1
    later(clock, 3)
    point(floor, clock, "door:main", "open")
    later(clock, 4)
    point(floor, clock, "door:main", "closed")
    later(clock, 1)
    point(floor, clock, "door:main", "open")  # again inside the same grant's window: possible tailgating
    later(clock, 2)
    point(floor, clock, "door:main", "closed")
    later(clock, 60)
    point(floor, clock, "exit:main", "pressed")  # exit button → opening 3
    later(clock, 1)
    point(floor, clock, "door:main", "open")
    later(clock, 3)
    point(floor, clock, "door:main", "closed")
    point(floor, clock, "exit:main", "released")
    later(clock, 120)
    point(floor, clock, "door:main", "open")  # nobody let through: forced
    later(clock, 5)
    point(floor, clock, "door:main", "closed")
    t = review.door_timeline(floor, "main", local(2026, 11, 24), local(2026, 11, 25))
    got = [(m.how, m.grant.kind if m.grant else None, m.grant.who if m.grant else None) for m in t["openings"]]
    assert got == [("granted", "badge", "20001"), ("reopened", "badge", "20001"),
                   ("granted", "exit_button", "exit button"), ("forced", None, None)]
    assert all(m.opening.closed_at is not None for m in t["openings"])
    assert [a.kind for a in t["openings"][3].alarms] == ["door_forced_open"]
    assert [a.kind for a in t["openings"][1].alarms] == ["possible_tailgating"]
    assert t["names"]["20001"] == "王班长" and t["openings"][0].delay_seconds == 3


def test_matching_takes_the_oldest_pending_grant_and_forgets_stale_ones():
    t0 = datetime(2026, 11, 24, 14, tzinfo=timezone.utc)
    s = lambda n: t0 + timedelta(seconds=n)  # noqa: E731
    grants = [entryreview.GrantSeen(s(0), 1, "badge", "A"), entryreview.GrantSeen(s(1), 2, "badge", "B"),
              entryreview.GrantSeen(s(40), 3, "badge", "C")]
    openings = [entryreview.OpeningSeen(s(2), 10), entryreview.OpeningSeen(s(5), 11),
                entryreview.OpeningSeen(s(60), 12)]
    matched = entryreview.match_openings(openings, grants, timedelta(seconds=10))
    assert [(m.how, m.grant.who if m.grant else None) for m in matched] == [
        ("granted", "A"), ("granted", "B"), ("forced", None)]


# --- timelines ---------------------------------------------------------------------------------------------

def test_a_person_timeline_has_taps_door_passages_sign_ins_and_flags(floor, clock):
    clock.set(local(2026, 11, 24, 9, 5))
    rollcall.record_tap(floor, uid_of("20002"))  # D shift opens 09:00 on the fixture's DAY only; logged anyway
    point(floor, clock, "door:main", "closed")
    door_access.door_tap(floor, uid_of("20001"), "door-main")
    later(clock, 2)
    point(floor, clock, "door:main", "open")
    later(clock, 3)
    point(floor, clock, "door:main", "closed")
    with floor.engine.begin() as conn:
        conn.execute(insert(AgentEvent.__table__).values(
            integration="platform-a", employee_no="20001", seat_id="A-01", state="signed_in", at=clock.now,
            received_at=clock.now, reason="", out_of_order=False))
        eventlog.log_event(conn, at=clock.now + timedelta(minutes=6), kind="floor_flag_raised", actor="kiosk",
                           subject="20001", outcome="not_signed_in", rule="§4.5")
    t = review.person_timeline(floor, "20001", local(2026, 11, 24), local(2026, 11, 25))
    types = [i["type"] for i in t["items"]]
    assert types == ["door_tap", "door", "sign_in", "flag"]
    door_item = t["items"][1]
    assert door_item["outcome"] == "granted" and "opened 2 s after the tap" in door_item["reason"]
    assert t["person"]["name"] == "王班长" and t["badges"][0]["uid"].startswith("…")
    assert [i["type"] for i in review.person_timeline(floor, "20002", local(2026, 11, 24),
                                                      local(2026, 11, 25))["items"]] == ["tap"]


# --- one event ---------------------------------------------------------------------------------------------

def tamper(engine: Engine, event_id: int, reason: str) -> None:
    """Edit a sealed row the way a database owner could: triggers off, change, triggers on."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")
            conn.execute(text("UPDATE events SET reason = :r WHERE id = :i"), {"r": reason, "i": event_id})
            conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER USER")
        else:
            sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'events_update_refused'").scalar()
            conn.exec_driver_sql("DROP TRIGGER events_update_refused")
            conn.execute(text("UPDATE events SET reason = :r WHERE id = :i"), {"r": reason, "i": event_id})
            conn.exec_driver_sql(sql)


def test_an_event_shows_its_chain_position_and_whether_it_verifies(ctx):
    write(ctx, [{"at": local(2026, 11, 24, 8, m), "kind": "rollcall_tap", "subject": f"04{m:012d}"}
                for m in range(3)])
    with ctx.engine.connect() as conn:
        first, middle, last = [i for (i,) in conn.execute(select(events.c.id).order_by(events.c.id))]
    assert review.event_detail(ctx, middle)["chain"]["state"] == "unsealed"
    eventlog.seal(ctx.engine)
    e = review.event_detail(ctx, middle)
    assert (e["chain"]["seq"], e["chain"]["state"], e["chain"]["head_seq"]) == (2, "verified", 3)
    assert e["neighbours"] == {"previous": first, "next": last}
    tamper(ctx.engine, middle, "nothing happened")
    assert review.event_detail(ctx, middle)["chain"]["state"] == "edited"
    assert review.event_detail(ctx, last)["chain"]["state"] == "verified"


# --- summaries ---------------------------------------------------------------------------------------------

def test_counts_per_local_day_match_a_plain_count(ctx):
    # 23:30 local on the 23rd is 15:30 UTC: a UTC GROUP BY would put it on the same day, 00:30 local on the
    # 24th (16:30 UTC on the 23rd) would land on the wrong one.
    write(ctx, [{"at": local(2026, 11, 23, 23, 30), "kind": "a"}, {"at": local(2026, 11, 24, 0, 30), "kind": "a"},
                {"at": local(2026, 11, 24, 12), "kind": "a"}, {"at": local(2026, 11, 26, 7), "kind": "a"}])
    assert review.day_counts(ctx, date(2026, 11, 23), date(2026, 11, 26)) == [
        (date(2026, 11, 23), 1), (date(2026, 11, 24), 2), (date(2026, 11, 25), 0), (date(2026, 11, 26), 1)]


def test_the_daily_summary_counts_openings_refusals_and_alarms_by_local_hour(ctx):
    write(ctx, [{"at": local(2026, 11, 24, 22, 5), "kind": "door_opened", "actor": "door:main"},
                {"at": local(2026, 11, 24, 22, 6), "kind": "door_tap", "outcome": "granted"},
                {"at": local(2026, 11, 24, 22, 7), "kind": "door_tap", "outcome": "not_roll_called"},
                {"at": local(2026, 11, 24, 23, 1), "kind": "door_tap_refused", "outcome": "unknown_reader"},
                {"at": local(2026, 11, 24, 23, 2), "kind": "alert_raised", "outcome": "door_forced_open"},
                {"at": local(2026, 11, 25, 0, 1), "kind": "door_opened"}])
    s = review.daily_summary(ctx, date(2026, 11, 24))
    assert s["hours"][22] == {"hour": 22, "openings": 1, "refusals": 1, "alarms": 0}
    assert s["hours"][23] == {"hour": 23, "openings": 0, "refusals": 1, "alarms": 1}
    assert s["totals"] == {"openings": 1, "refusals": 2, "alarms": 1}


# --- exports -----------------------------------------------------------------------------------------------

@pytest.fixture
def logged(ctx):
    """A small log with awkward cells: a formula, a leading apostrophe, Chinese, a control character."""
    reasons = ["=HYPERLINK(\"http://x\")", "'quoted", "张三 进入", "tab\there", "bell\x07", "+1", "-", "@x", ""]
    write(ctx, [{"at": local(2026, 11, 24, 22, i), "kind": "door_tap", "actor": "reader:door-main",
                 "subject": f"04{i:012d}", "outcome": "granted", "reason": r, "rule": "§6.6",
                 "data": {"door": "main", "n": i}} for i, r in enumerate(reasons)])
    write(ctx, [{"at": local(2026, 11, 24, 8), "kind": "rollcall_tap", "subject": "04FF"}])
    return ctx


def export(ctx, tmp_path: Path, fmt: str = "csv", **filter_: Any) -> Path:
    p = logexport.plan(ctx, review.LogFilter(**filter_), by="sec (30001)")
    path = tmp_path / f"export.{fmt}"
    with path.open("wb") as fh:
        for chunk in logexport.chunks(ctx, p, fmt):
            fh.write(chunk)
    return path


def verify_cli(instance: Path, file: Path, *more: str) -> Any:
    return CliRunner().invoke(main, ["--instance", str(instance), "log", "verify", "--export", str(file), *more])


def test_an_export_carries_its_rows_and_the_chain_head_and_verifies(logged, instance, tmp_path):
    path = export(logged, tmp_path, kind="door_tap")
    lines = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert tuple(lines[0]) == logexport.COLUMNS
    rows = lines[1:-2]
    assert len(rows) == 9 and [r[2] for r in rows] == ["door_tap"] * 9
    assert rows[0][6] == "'=HYPERLINK(\"http://x\")" and rows[1][6] == "''quoted"  # never a formula
    assert lines[-2][0] == "#export" and lines[-1][0] == "#signature"
    manifest = json.loads(lines[-2][1])
    with logged.engine.connect() as conn:
        head = eventlog.head(conn)
    assert manifest["head"] == {"seq": head[0], "hash": head[1]} and manifest["rows"] == 9
    assert manifest["filter"] == {"kind": "door_tap"}
    result = verify_cli(instance, path)
    assert result.exit_code == 0, result.output
    assert "signature: valid" in result.output and "OK: the export is intact" in result.output
    assert "the export was taken from this log" in result.output


def test_log_verify_export_names_an_edited_row(logged, instance, tmp_path):
    path = export(logged, tmp_path)
    raw = path.read_bytes()
    assert "张三 进入".encode() in raw
    path.write_bytes(raw.replace("张三 进入".encode(), "李四 进入".encode()))
    result = verify_cli(instance, path)
    assert result.exit_code == 1
    line = next(l for l in result.output.splitlines() if l.startswith("BROKEN"))
    assert line.startswith("BROKEN at seq") and "edited" in line and "the row was edited" in line


def test_a_row_edited_and_rehashed_is_caught_by_its_neighbour_and_the_signed_digest(logged, instance, tmp_path):
    path = export(logged, tmp_path)
    lines = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    row = lines[3]
    row[6] = "nothing to see"
    fake = eventlog.chain_hash(row[10], eventlog.canonical_row(
        type("R", (), {"id": int(row[0]), "at": row[1], "kind": row[2], "actor": row[3], "subject": row[4],
                       "outcome": row[5], "reason": row[6], "rule": row[7], "data": row[8]})(), int(row[9])))
    row[11] = fake
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(lines)
    path.write_text(out.getvalue(), encoding="utf-8-sig")
    report = logexport.verify_export(path, entrylog.signing_key(logged.config).public_key())
    problems = {f.problem for f in report.findings}
    assert problems == {"edited"} and any("signed digest" in f.message for f in report.findings)
    assert any("not chained" in f.message for f in report.findings)
    assert verify_cli(instance, path).exit_code == 1


def test_a_removed_row_a_cut_off_file_and_a_foreign_signature_are_caught(logged, instance, tmp_path):
    path = export(logged, tmp_path)
    lines = path.read_bytes().split(b"\r\n")
    removed = tmp_path / "removed.csv"
    removed.write_bytes(b"\r\n".join(lines[:4] + lines[5:]))
    assert "rows were removed" in verify_cli(instance, removed).output
    cut = tmp_path / "cut.csv"
    cut.write_bytes(b"\r\n".join(lines[:6]))
    assert "BROKEN: truncated" in verify_cli(instance, cut).output
    other = Ed25519PrivateKey.generate().public_key()
    report = logexport.verify_export(path, other)
    assert report.signature == "invalid" and report.findings[0].problem == "forged"


def test_an_xlsx_export_verifies_and_catches_an_edited_cell(logged, instance, tmp_path):
    from openpyxl import load_workbook

    path = export(logged, tmp_path, "xlsx")
    result = verify_cli(instance, path)
    assert result.exit_code == 0, result.output
    wb = load_workbook(path)
    ws = wb["events"]
    cell = ws.cell(row=3, column=7)  # the second row: the reason that looks like a formula
    assert cell.data_type != "f" and cell.value.startswith("'=")
    ws.cell(row=4, column=7).value = "changed"
    wb.save(path)
    result = verify_cli(instance, path)
    assert result.exit_code == 1 and "edited" in result.output


def test_an_export_streams_in_chunks_through_keyset_batches(ctx, monkeypatch):
    t0 = local(2026, 11, 24, 22)
    write(ctx, [{"at": t0 + timedelta(seconds=i // 5), "kind": "door_tap", "subject": f"04{i:012d}",
                 "reason": "x" * 50} for i in range(1200)])
    monkeypatch.setattr(logexport, "BATCH", 100)
    monkeypatch.setattr(logexport, "CHUNK", 4096)
    p = logexport.plan(ctx, review.LogFilter(), by="test")
    assert p.total == 1200
    seen = []
    stream = logexport.csv_chunks(ctx, p, progress=seen.append)
    parts = list(stream)
    assert len(parts) > 10 and seen == sorted(seen) and seen[-1] == 1200
    rows = list(csv.reader(io.StringIO(b"".join(parts).decode("utf-8-sig"))))[1:-2]
    with ctx.engine.connect() as conn:
        expected = [i for (i,) in conn.execute(select(events.c.id).order_by(events.c.at, events.c.id))]
    assert [int(r[0]) for r in rows] == expected


def test_an_export_holds_only_rows_sealed_up_to_its_head(ctx, tmp_path):
    write(ctx, [{"at": local(2026, 11, 24, 22), "kind": "door_tap"}])
    p = logexport.plan(ctx, review.LogFilter(), by="test")
    write(ctx, [{"at": local(2026, 11, 24, 22, 1), "kind": "door_tap"}])  # after the export began
    eventlog.seal(ctx.engine)
    body = b"".join(logexport.chunks(ctx, p, "csv")).decode("utf-8-sig")
    assert p.through_seq == 1 and len(list(csv.reader(io.StringIO(body)))) == 1 + 1 + 2
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 2
