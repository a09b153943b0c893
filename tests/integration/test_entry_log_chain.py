"""The entry log is tamper-evident: sealed into a hash chain, guarded by triggers, checkpointed off the database.

Every chain test runs on a real SQLite file and on PostgreSQL (its own throw-away database, cloned from a
migrated template). Tampering is done the way an attacker with the database owner's rights would: first
the guarding triggers are dropped or disabled, then rows are changed.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import threading
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, func, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from kiosk.cli import main
from kiosk.config import load_config
from kiosk.services import entrylog
from kiosk.services.context import ServiceContext
from kiosk.store import eventlog
from kiosk.store.db import make_engine, make_sessionmaker, upgrade
from kiosk.store.models import Event

events = Event.__table__
CONTENT = ("at", "kind", "actor", "subject", "outcome", "reason", "rule", "data")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
T0 = datetime(2026, 11, 1, 1, 0, tzinfo=timezone.utc)


# --- engines -----------------------------------------------------------------------------------------------

def _pg_url(user: str, database: str) -> str:
    return f"postgresql+psycopg://{user}@127.0.0.1:5432/{database}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[tuple[Engine, str, str]]:
    """An admin connection to the local PostgreSQL and a migrated template database, dropped at the end."""
    admin, user, last_error = None, "", None
    for user in ("postgres", "root"):
        candidate = create_engine(_pg_url(user, "postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with candidate.connect() as conn:
                conn.execute(text("SELECT 1"))
            admin = candidate
            break
        except OperationalError as exc:
            last_error = exc.orig
            candidate.dispose()
    if admin is None:
        why = "CI is set, so this is a failure" if os.environ.get("CI") else f"start it with: {PG_START}"
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is unreachable ({last_error}); {why}", pytrace=False)
    template = f"floorkiosk_test_{secrets.token_hex(4)}_tmpl"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{template}"')
    try:
        upgrade(_pg_url(user, template))  # every migration, on PostgreSQL
        yield admin, user, template
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or a PostgreSQL database of the test's own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'instance' / 'kiosk.db'}"
        upgrade(url)
        eng = make_engine(url)
        yield eng
        eng.dispose()
        return
    admin, user, template = request.getfixturevalue("pg_server")
    name = f"floorkiosk_test_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    eng = make_engine(_pg_url(user, name))
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def log_ctx(engine: Engine, tmp_path: Path, clock: Any) -> ServiceContext:
    """A service context on the engine, its instance folder holding the key and the checkpoints."""
    cfg = load_config(tmp_path / "instance", environ={})
    cfg["DATABASE_URL"] = str(engine.url)
    return ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine), clock=clock)


# --- helpers -----------------------------------------------------------------------------------------------

def write(engine: Engine, n: int, *, start: datetime = T0, step: timedelta = timedelta(minutes=1),
          kind: str = "rollcall_tap") -> None:
    """Append ``n`` events in one transaction, as a service would."""
    with engine.begin() as conn:
        for i in range(n):
            eventlog.log_event(conn, at=start + i * step, kind=kind, actor="reader:kiosk",
                               subject=f"04A1B2C3D4{i:04d}", outcome="present", reason="", rule="§3.3",
                               data={"i": i, "名": "张三"})


def chain(engine: Engine) -> list[Any]:
    """All rows in chain order, unsealed ones last."""
    with engine.connect() as conn:
        return conn.execute(select(events).order_by(events.c.seq.is_(None), events.c.seq, events.c.id)).all()


def drop_the_guard(conn: Any) -> None:
    """What someone with the database owner's rights can do: take the triggers away."""
    if conn.dialect.name == "sqlite":
        for name in ("events_update_refused", "events_delete_refused", "events_sealed_insert_refused"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    else:
        conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")


def tamper(engine: Engine, *statements: str) -> None:
    """Drop the guard and run the attacker's statements, in one transaction."""
    with engine.begin() as conn:
        drop_the_guard(conn)
        for sql in statements:
            conn.execute(text(sql))


def rewrite_chain_from(engine: Engine, seq: int, **changes: Any) -> None:
    """Change row ``seq`` and recompute every hash after it: a chain consistent in itself, but different."""
    with engine.begin() as conn:
        drop_the_guard(conn)
        conn.execute(update(events).where(events.c.seq == seq).values(**changes))
        rows = conn.execute(select(*eventlog.ROW_COLUMNS).where(events.c.seq >= seq).order_by(events.c.seq)).all()
        prev = rows[0].prev_hash
        for row in rows:
            digest = eventlog.chain_hash(prev, eventlog.canonical_row(row, row.seq))
            conn.execute(update(events).where(events.c.id == row.id).values(prev_hash=prev, hash=digest))
            prev = digest


# --- sealing -----------------------------------------------------------------------------------------------

def test_rows_are_written_unsealed_and_sealed_in_order_each_chained_to_the_one_before(engine):
    write(engine, 5)
    assert all(r.seq is None and r.hash is None for r in chain(engine))

    assert eventlog.seal(engine) == 5

    rows = chain(engine)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert rows[0].prev_hash == eventlog.GENESIS
    for before, row in zip(rows, rows[1:]):
        assert row.prev_hash == before.hash
    report = eventlog.verify(engine)
    assert report.ok and report.rows_checked == 5 and report.last_hash == rows[-1].hash


def test_sealing_continues_the_chain_from_the_last_sealed_row(engine):
    write(engine, 3)
    eventlog.seal(engine)
    write(engine, 2)

    assert eventlog.seal(engine, batch=1) == 2

    rows = chain(engine)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5] and rows[3].prev_hash == rows[2].hash
    assert eventlog.verify(engine).ok


def test_a_batch_hashed_before_another_sealer_moved_the_head_is_chained_afresh_under_the_lock(engine, monkeypatch):
    write(engine, 4)
    chain_outside_the_lock = eventlog._chain
    raced = []

    def chain_then_race(last, rows, step_aside=None):
        params = chain_outside_the_lock(last, rows, step_aside)
        if not raced:  # another sealer gets the lock first and seals two rows
            raced.append(True)
            with eventlog.sealing_transaction(engine) as conn:
                eventlog.seal_pending(conn, 2)
        return params

    monkeypatch.setattr(eventlog, "_chain", chain_then_race)
    assert eventlog.seal(engine) == 2  # the other two were sealed by the racer

    rows = chain(engine)
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert eventlog.verify(engine).ok


@pytest.mark.sqlite_only
def test_a_new_row_writes_five_pages_and_every_lookup_of_the_chain_has_an_index(tmp_path):
    # A tap's commit time grows with the pages it writes (migration 0013): the table's page and one of each
    # index that serves the review (at; kind, at; actor, at; subject, at), none for the seq it does not have yet.
    url = f"sqlite:///{tmp_path / 'kiosk.db'}"
    upgrade(url)
    eng = make_engine(url)
    try:
        write(eng, 3)
        eventlog.seal(eng)
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            page = conn.exec_driver_sql("PRAGMA page_size").scalar()
        write(eng, 1)
        assert ((tmp_path / "kiosk.db-wal").stat().st_size - 32) // (24 + page) == 5

        with eng.connect() as conn:
            def plan(sql: str) -> str:
                return " | ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))

            assert "uq_events_seq" in plan("SELECT seq, hash, id FROM events WHERE seq IS NOT NULL "
                                           "ORDER BY seq DESC LIMIT 1")  # the head
            assert "uq_events_seq" in plan("SELECT hash FROM events WHERE seq = 2")  # a checkpoint's row
            assert "PRIMARY KEY" in plan("SELECT id FROM events WHERE seq IS NULL AND id > 3 ORDER BY id LIMIT 1")
        assert eventlog.has_unsealed(eng)
        assert eventlog.seal(eng) == 1 and not eventlog.has_unsealed(eng)
        assert [r.seq for r in chain(eng)] == [1, 2, 3, 4]
    finally:
        eng.dispose()


def test_the_database_refuses_to_update_or_delete_a_row_or_to_insert_one_already_sealed(engine):
    write(engine, 3)
    eventlog.seal(engine)
    write(engine, 1)  # still unsealed: even its content may not change
    refused = ["UPDATE events SET reason = 'nothing happened' WHERE seq = 2",
               "UPDATE events SET seq = 9 WHERE seq = 3",
               "UPDATE events SET hash = prev_hash WHERE seq = 1",
               "UPDATE events SET kind = 'x' WHERE seq IS NULL",
               "DELETE FROM events WHERE seq = 3",
               "DELETE FROM events WHERE seq IS NULL",
               "DELETE FROM events",
               "INSERT INTO events (at, kind, actor, subject, outcome, reason, rule, data, seq, prev_hash, hash) "
               "VALUES ('2026-11-01 00:00:00', 'forged', '', '', '', '', '', '{}', 4, 'a', 'b')"]
    if engine.dialect.name == "postgresql":
        refused.append("TRUNCATE events")
    for sql in refused:
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(sql))
    assert eventlog.seal(engine) == 1
    assert eventlog.verify(engine).ok


# --- tampering -------------------------------------------------------------------------------------------------

def test_verify_names_an_edited_row(engine):
    write(engine, 6)
    eventlog.seal(engine)
    tamper(engine, "UPDATE events SET outcome = 'absent' WHERE seq = 4")

    report = eventlog.verify(engine)

    assert not report.ok and report.rows_checked == 6
    assert (report.first_broken.seq, report.first_broken.problem) == (4, "edited")
    assert len(report.findings) == 1  # the rows after it still link to its stored hash


def test_verify_names_the_first_deleted_row_in_the_middle_or_at_the_start(engine):
    write(engine, 6)
    eventlog.seal(engine)
    tamper(engine, "DELETE FROM events WHERE seq IN (3, 4)")

    report = eventlog.verify(engine)
    assert (report.first_broken.seq, report.first_broken.problem) == (3, "deleted")
    assert "seq 3..4 missing" in report.first_broken.message

    tamper(engine, "DELETE FROM events WHERE seq = 1")
    first = eventlog.verify(engine).first_broken
    assert (first.seq, first.problem) == (1, "deleted")


def test_verify_names_two_rows_whose_contents_were_swapped_as_reordered(engine):
    write(engine, 6)
    eventlog.seal(engine)
    rows = {r.seq: r for r in chain(engine)}
    with engine.begin() as conn:
        drop_the_guard(conn)
        for here, there in ((3, 5), (5, 3)):
            conn.execute(update(events).where(events.c.seq == here)
                         .values({c: getattr(rows[there], c) for c in CONTENT}))

    report = eventlog.verify(engine)

    assert (report.first_broken.seq, report.first_broken.problem) == (3, "reordered")
    assert "seq 3 and seq 5 are swapped" in report.first_broken.message
    assert len(report.findings) == 1


def test_verify_names_rows_moved_to_another_place_in_the_chain_as_reordered(engine):
    write(engine, 6)
    eventlog.seal(engine)
    tamper(engine, "UPDATE events SET seq = -seq WHERE seq IN (2, 3)",
           "UPDATE events SET seq = 3 WHERE seq = -2", "UPDATE events SET seq = 2 WHERE seq = -3")

    report = eventlog.verify(engine)

    assert (report.first_broken.seq, report.first_broken.problem) == (2, "reordered")


def test_verify_names_a_cut_off_tail_from_the_checkpoint_that_saw_it(log_ctx):
    write(log_ctx.engine, 8)
    entrylog.checkpoint(log_ctx)
    tamper(log_ctx.engine, "DELETE FROM events WHERE seq >= 6")

    assert eventlog.verify(log_ctx.engine).ok  # the chain alone cannot see a missing tail
    report = entrylog.verify(log_ctx, entrylog.checkpoint_dir(log_ctx.config))

    assert (report.first_broken.seq, report.first_broken.problem) == (6, "truncated")
    assert "reached seq 8" in report.first_broken.message and "ends at seq 5" in report.first_broken.message


def test_a_full_rewrite_of_the_chain_after_a_checkpoint_is_detected(log_ctx):
    write(log_ctx.engine, 2)
    entrylog.checkpoint(log_ctx)
    write(log_ctx.engine, 4, start=T0 + timedelta(hours=1))
    entrylog.checkpoint(log_ctx)
    rewrite_chain_from(log_ctx.engine, 4, outcome="late")

    assert eventlog.verify(log_ctx.engine).ok  # consistent in itself: only a checkpoint can tell
    report = entrylog.verify(log_ctx, entrylog.checkpoint_dir(log_ctx.config))

    assert report.checkpoints_checked == 2
    assert (report.first_broken.seq, report.first_broken.problem) == (3, "rewritten")
    assert "somewhere in seq 3..6" in report.first_broken.message


def test_a_checkpoint_file_altered_or_signed_with_another_key_fails_verification(log_ctx, tmp_path):
    write(log_ctx.engine, 3)
    cp = entrylog.checkpoint(log_ctx)
    doc = json.loads(cp.path.read_text())
    doc["payload"]["seq"] = 2
    cp.path.write_text(json.dumps(doc))

    report = entrylog.verify(log_ctx, cp.path.parent)
    assert report.first_broken.problem == "forged" and cp.path.name in report.first_broken.message

    cp.path.unlink()
    entrylog.checkpoint(log_ctx)
    other = tmp_path / "other"
    entrylog.export_key({"INSTANCE_PATH": str(other)}, other / "other.pem")
    report = entrylog.verify(log_ctx, cp.path.parent, public_key=other / "other.pem")
    assert [f.problem for f in report.findings] == ["forged"]


# --- retention -------------------------------------------------------------------------------------------------

def test_purge_removes_whole_old_days_logs_itself_and_verification_still_holds(log_ctx):
    # The clock says 2026-11-30 09:00 Shanghai; 365 days kept: rows dated before 2025-11-30 00:00 local go.
    cutoff = datetime(2025, 11, 29, 16, 0, tzinfo=timezone.utc)
    write(log_ctx.engine, 3, start=cutoff - timedelta(days=30))
    entrylog.checkpoint(log_ctx)  # covers seq 3, which will be purged
    write(log_ctx.engine, 2, start=cutoff - timedelta(minutes=2))  # the last minutes of the last old day
    entrylog.checkpoint(log_ctx)  # at seq 5: exactly the purge's anchor
    write(log_ctx.engine, 3, start=cutoff)
    entrylog.checkpoint(log_ctx)
    head_before = chain(log_ctx.engine)[-1]

    result = entrylog.purge(log_ctx)

    assert (result.rows, result.first_seq, result.through_seq, result.logged_seq) == (5, 1, 5, 9)
    rows = chain(log_ctx.engine)
    assert [r.seq for r in rows] == [6, 7, 8, 9] and min(r.at for r in rows) == cutoff
    logged = rows[-1]
    assert (logged.kind, logged.rule, logged.prev_hash) == ("log_purged", "§2.4", head_before.hash)
    assert json.loads(logged.data)["through_hash"] == result.through_hash == rows[0].prev_hash

    report = entrylog.verify(log_ctx, entrylog.checkpoint_dir(log_ctx.config))
    assert report.ok, report.findings
    assert report.anchor == (5, result.through_hash) and report.rows_checked == 4
    assert (report.checkpoints_checked, report.checkpoints_purged) == (4, 2)  # two cover purged rows

    with pytest.raises(DBAPIError, match="append-only"):  # the purge left no door open behind it
        with log_ctx.engine.begin() as conn:
            conn.execute(text("DELETE FROM events WHERE seq = 6"))
    assert entrylog.purge(log_ctx) is None  # nothing more is old enough


def test_purge_never_removes_a_row_younger_than_retention_even_one_sealed_before_older_ones(log_ctx):
    cutoff = datetime(2025, 11, 29, 16, 0, tzinfo=timezone.utc)
    write(log_ctx.engine, 2, start=cutoff - timedelta(days=3))
    write(log_ctx.engine, 1, start=cutoff + timedelta(hours=1))  # a young row between old ones
    write(log_ctx.engine, 2, start=cutoff - timedelta(days=2))

    result = entrylog.purge(log_ctx)

    assert (result.rows, result.through_seq) == (2, 2)
    assert min(r.seq for r in chain(log_ctx.engine)) == 3
    assert eventlog.verify(log_ctx.engine).ok


def test_rows_deleted_early_behind_a_forged_purge_row_are_caught_by_a_checkpoint(log_ctx):
    write(log_ctx.engine, 4, start=T0)  # a month old: well inside retention
    entrylog.checkpoint(log_ctx)
    write(log_ctx.engine, 2, start=T0 + timedelta(days=1))
    eventlog.seal(log_ctx.engine)
    anchor = chain(log_ctx.engine)[3]
    with log_ctx.engine.begin() as conn:
        drop_the_guard(conn)
        conn.execute(text("DELETE FROM events WHERE seq <= 4"))
        eventlog.log_event(conn, at=T0, kind="log_purged", data={"through_seq": 4, "through_hash": anchor.hash})
    eventlog.seal(log_ctx.engine)

    assert eventlog.verify(log_ctx.engine).ok  # the forged anchor fools the chain alone
    report = entrylog.verify(log_ctx, entrylog.checkpoint_dir(log_ctx.config))

    # the checkpoint saw seq 4 dated inside the retention period: no purge may have removed it yet
    assert (report.first_broken.seq, report.first_broken.problem) == (4, "deleted")
    assert "removed before their time" in report.first_broken.message


# --- concurrency -----------------------------------------------------------------------------------------------

def test_concurrent_writers_and_sealers_produce_one_unbroken_chain(engine):
    writers, per_writer = 4, 40
    other_process = make_engine(engine.url.render_as_string(hide_password=False))  # its own pool, like a process
    start = threading.Barrier(writers)
    errors: list[str] = []

    def writer(w: int) -> None:
        # Each thread also seals now and then, so sealers race each other and the other threads' inserts.
        sealer = other_process if w % 2 else engine
        try:
            start.wait()
            for i in range(per_writer):
                with engine.begin() as conn:
                    eventlog.log_event(conn, at=T0, kind="rollcall_tap", actor=f"writer:{w}", data={"i": i})
                if i % 3 == w % 3:
                    eventlog.seal(sealer, batch=5)
        except Exception:  # noqa: BLE001 - surfaced below, with its traceback
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other_process.dispose()
    assert not errors, errors[0]

    eventlog.seal(engine)
    rows = chain(engine)
    assert [r.seq for r in rows] == list(range(1, writers * per_writer + 1))
    for w in range(writers):  # each writer's rows keep the order it wrote them in
        assert [json.loads(r.data)["i"] for r in rows if r.actor == f"writer:{w}"] == list(range(per_writer))
    report = eventlog.verify(engine)
    assert report.ok and report.rows_checked == writers * per_writer


# --- the timer -------------------------------------------------------------------------------------------------

def test_the_timer_seals_every_tick_checkpoints_every_fifteen_minutes_and_purges_once_a_day(ctx, clock):
    timer = entrylog.EntryLogTimer(ctx)
    folder = entrylog.checkpoint_dir(ctx.config)
    write(ctx.engine, 2, start=clock.now - timedelta(days=400))
    write(ctx.engine, 1, start=clock.now)

    timer.tick()  # first tick: seal, the day's purge (which checkpoints), and that is the checkpoint for now
    assert [r.seq for r in chain(ctx.engine)] == [3, 4]
    assert len(list(folder.glob("checkpoint-*.json"))) == 1

    write(ctx.engine, 1, start=clock.now)
    timer.tick()
    assert chain(ctx.engine)[-1].seq == 5
    assert len(list(folder.glob("checkpoint-*.json"))) == 1

    clock.set(clock.now + timedelta(minutes=15))
    timer.tick()
    assert len(list(folder.glob("checkpoint-*.json"))) == 2
    clock.set(clock.now + timedelta(minutes=15))
    timer.tick()  # nothing new to sign
    assert len(list(folder.glob("checkpoint-*.json"))) == 2
    assert entrylog.verify(ctx, folder).ok


def test_the_timer_seals_in_a_lull_between_taps_and_during_a_rush_no_later_than_its_deadline(ctx, clock, monkeypatch):
    timer = entrylog.EntryLogTimer(ctx)
    write(ctx.engine, 3, start=clock.now)
    sealing = threading.Thread(target=timer.tick)
    with ctx.priority.foreground():  # a badge tap being handled
        sealing.start()
        sealing.join(0.3)
        assert sealing.is_alive(), "the seal did not wait for the tap"
        assert [r.seq for r in chain(ctx.engine)] == [None, None, None]
    sealing.join(10)
    assert not sealing.is_alive() and [r.seq for r in chain(ctx.engine)] == [1, 2, 3]

    # A rush that never pauses: the rows wait at most SEAL_MAX_DEFER_SECONDS, then are sealed regardless.
    monkeypatch.setattr(entrylog, "SEAL_MAX_DEFER_SECONDS", 0.1)
    write(ctx.engine, 2, start=clock.now)
    with ctx.priority.foreground():
        timer.tick()
        assert [r.seq for r in chain(ctx.engine)] == [1, 2, 3, 4, 5]


def test_a_rush_past_the_deadline_meets_one_batch_a_round_and_a_lull_seals_all_that_waits(ctx, clock, monkeypatch):
    monkeypatch.setattr(entrylog, "SEAL_MAX_DEFER_SECONDS", 0.0)  # every round is past its deadline
    monkeypatch.setattr(entrylog, "TIMER_SEAL_BATCH", 2)
    timer = entrylog.EntryLogTimer(ctx)

    def sealed() -> int:
        return sum(r.seq is not None for r in chain(ctx.engine))

    write(ctx.engine, 5, start=clock.now)
    timer.tick()  # no tap has run: a lull, so every batch goes at once, deadline or not
    assert sealed() == 5 and timer.waiting_since is None

    write(ctx.engine, 5, start=clock.now)
    with ctx.priority.foreground():  # a rush that never pauses
        timer.tick()
        assert sealed() == 7  # one batch this round; the rest waits
        assert timer.waiting_since is not None
        timer.tick()
        assert sealed() == 9
        timer.tick()
        assert sealed() == 10 and timer.waiting_since is None
    assert eventlog.verify(ctx.engine).ok


# --- the command line ------------------------------------------------------------------------------------------

def run(instance: Path, *args: str) -> Any:
    """Run ``kiosk --instance INSTANCE ARGS`` in-process."""
    return CliRunner().invoke(main, ["--instance", str(instance), *args], catch_exceptions=False)


def test_log_commands_checkpoint_export_the_key_and_verify_an_intact_log(instance, ctx, tmp_path):
    write(ctx.engine, 4)

    cp = run(instance, "log", "checkpoint")
    assert cp.exit_code == 0 and "checkpoint: seq 4, 4 rows kept" in cp.output
    key = instance / entrylog.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    exported = run(instance, "log", "export-key", str(tmp_path / "kiosk.pub"))
    assert exported.exit_code == 0 and (tmp_path / "kiosk.pub").read_text().startswith("-----BEGIN PUBLIC KEY")

    ok = run(instance, "log", "verify", "--checkpoints", str(instance / "checkpoints"),
             "--public-key", str(tmp_path / "kiosk.pub"))
    assert ok.exit_code == 0, ok.output
    assert "rows checked: 4, seq 1..4" in ok.output and "checkpoints: 1 checked" in ok.output
    assert "OK: the event log is intact" in ok.output


def test_log_verify_exits_non_zero_naming_the_first_broken_row(instance, ctx):
    write(ctx.engine, 6)
    assert run(instance, "log", "checkpoint").exit_code == 0
    tamper(ctx.engine, "UPDATE events SET subject = 'someone else' WHERE seq = 2",
           "DELETE FROM events WHERE seq >= 5")

    result = run(instance, "log", "verify")  # the configured checkpoint folder is used by default

    assert result.exit_code == 1
    assert "BROKEN at seq 2: edited" in result.output
    assert "also: truncated" in result.output


def test_log_purge_reports_what_it_removed_and_verify_still_passes(instance, ctx, monkeypatch):
    now = datetime.now(timezone.utc)  # the command reads the real clock
    write(ctx.engine, 3, start=now - timedelta(days=40))
    write(ctx.engine, 2, start=now - timedelta(days=1))
    assert run(instance, "log", "checkpoint").exit_code == 0

    nothing = run(instance, "log", "purge")
    assert nothing.exit_code == 0 and "nothing to purge: no event is older than 365 days" in nothing.output

    monkeypatch.setenv("KIOSK_LOG_RETENTION_DAYS", "30")
    result = run(instance, "log", "purge")
    assert result.exit_code == 0, result.output
    assert "purged 3 events (seq 1..3)" in result.output and "logged as seq 6" in result.output
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events).where(events.c.kind == "log_purged")).scalar() == 1
    verified = run(instance, "log", "verify")
    assert verified.exit_code == 0, verified.output
    assert "from the purge anchor at seq 3" in verified.output


@pytest.mark.sqlite_only
def test_log_verify_on_a_damaged_database_says_what_is_wrong_without_a_traceback(instance, ctx):
    write(ctx.engine, 3)
    eventlog.seal(ctx.engine)
    tamper(ctx.engine, "UPDATE events SET at = 'not a time' WHERE seq = 2", "UPDATE events SET seq = 'x' WHERE seq = 3")

    garbage = run(instance, "log", "verify")
    assert garbage.exit_code == 1
    assert "BROKEN at seq 2: edited" in garbage.output and "seq 'x', not a number" in garbage.output

    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE events")
    dropped = run(instance, "log", "verify")
    assert dropped.exit_code == 1 and "Traceback" not in dropped.output
    assert "the event log cannot be read: no such table: events" in dropped.output


def test_the_short_way_of_writing_a_stored_time_hashes_exactly_what_the_long_way_did():
    """``_iso_utc`` turns SQLite's stored text into the hashed form without parsing; the chain must not change."""
    import random

    def long_way(value: str) -> str:
        dt = datetime.fromisoformat(value)
        dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt
        return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")

    rng = random.Random(7)
    for _ in range(20000):
        moment = datetime(2000, 1, 1) + timedelta(microseconds=rng.randrange(0, 60 * 365 * 86400 * 10**6))
        text_form = moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        assert eventlog._iso_utc(text_form) == long_way(text_form)
    for odd in ("2026-11-29 07:19:00", "2026-11-29T07:19:00.123456", "2026-11-29 07:19:00,123456",
                "2026-11-29 07:19:00.123456+08:00", "2026-11-29 07:19:00.1234+08:00"):
        assert eventlog._iso_utc(odd) == long_way(odd)
    assert eventlog._iso_utc("2026-13-29 07:19:00.123456").startswith("unparsed:")


def test_canonical_json_is_what_json_dumps_with_the_same_options_writes():
    sample = {"b": [1, 2.5, None], "a": "到", "c": {"z": True, "y": datetime(2026, 1, 1)}}
    assert eventlog.canonical_json(sample) == json.dumps(sample, sort_keys=True, separators=(",", ":"),
                                                         ensure_ascii=False, default=str)
