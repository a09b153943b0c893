"""Exactly one process runs the floor timers; when it dies another takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from kiosk.services.leadership import TimerLease

HOLD = """
import sys, time
from sqlalchemy import create_engine
from kiosk.services.leadership import TimerLease
lease = TimerLease(create_engine(sys.argv[1]), sys.argv[2])
assert lease.try_acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_process_cannot_take_the_sqlite_lease_until_the_first_dies(tmp_path):
    url = f"sqlite:///{tmp_path}/kiosk.db"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = TimerLease(create_engine(url), str(tmp_path))
        assert not mine.try_acquire()
        holder.send_signal(signal.SIGKILL)  # no clean-up: the operating system drops the flock
        holder.wait(timeout=5)
        assert mine.try_acquire()
        assert mine.try_acquire()  # and keeps it
        mine.release()
    finally:
        if holder.poll() is None:
            holder.kill()


def _pg_engine():
    for user in ("postgres", "root"):
        engine = create_engine(f"postgresql+psycopg://{user}@127.0.0.1:5432/postgres", poolclass=NullPool)
        try:
            with engine.connect():
                return engine
        except Exception:
            engine.dispose()
    pytest.fail("PostgreSQL on 127.0.0.1:5432 is unreachable; start it with: "
                "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", pytrace=False)


@pytest.mark.postgres
def test_on_postgresql_the_lease_is_an_advisory_lock_released_when_its_holder_dies(tmp_path):
    engine = _pg_engine()
    url = engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, url, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = TimerLease(engine, str(tmp_path))
        assert not mine.try_acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=5)
        deadline = time.monotonic() + 10  # the server notices the dead session
        while not mine.try_acquire():
            assert time.monotonic() < deadline, "the lease was not taken over"
            time.sleep(0.05)
        mine.release()
    finally:
        if holder.poll() is None:
            holder.kill()
