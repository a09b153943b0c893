"""Shared fixtures: a migrated instance (SQLite, or PostgreSQL), a service context with a settable clock."""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import make_url

from kiosk.config import load_config
from kiosk.services.context import ServiceContext
from kiosk.store.db import make_engine, make_sessionmaker, upgrade


class FakeClock:
    """A clock tests move by hand: no sleeping for time to pass."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        """Jump to an instant."""
        self.now = now


# `KIOSK_TEST_DATABASE=postgresql` runs the service and web tests on the local PostgreSQL instead of
# SQLite files (`make test` does both): each test gets its own database, cloned from one migrated template.
TEST_DATABASE = os.environ.get("KIOSK_TEST_DATABASE", "sqlite")
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """On PostgreSQL, leave out (visibly, by deselection) the tests that are about SQLite files."""
    if TEST_DATABASE != "postgresql":
        return
    keep = [i for i in items if "sqlite_only" not in i.keywords]
    dropped = [i for i in items if "sqlite_only" in i.keywords]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def pg_template() -> Iterator[tuple[Any, str, str]]:
    """An admin engine on the local PostgreSQL and a migrated template database, dropped at the end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    admin, user, error = None, "", None
    for user in ("postgres", "root"):
        engine = create_engine(f"postgresql+psycopg://{user}@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT",
                               poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            admin = engine
            break
        except Exception as exc:
            error = exc
            engine.dispose()
    if admin is None:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is unreachable ({error}); start it with: {PG_START}", pytrace=False)
    template = f"floorkiosk_t_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{template}"')
    try:
        upgrade(f"postgresql+psycopg://{user}@127.0.0.1:5432/{template}")
        yield admin, user, template
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test's instance starts from a copy (migrating took ~0.5 s a test)."""
    path = tmp_path_factory.mktemp("sqlite-template")
    cfg = load_config(path, environ={})
    upgrade(cfg["DATABASE_URL"])
    db = Path(make_url(cfg["DATABASE_URL"]).database)
    with sqlite3.connect(db) as conn:  # everything in the file itself: a copy of it is the whole database
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


@pytest.fixture
def instance(tmp_path: Path, request: Any) -> Iterator[Path]:
    """A fresh instance folder with a migrated database: a SQLite file, or its own PostgreSQL database."""
    path = tmp_path / "instance"
    if TEST_DATABASE != "postgresql":
        db = Path(make_url(load_config(path, environ={})["DATABASE_URL"]).database)
        db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), db)
        yield path
        return
    databases = request.getfixturevalue("pg_databases")
    name = databases.take()
    path.mkdir(parents=True)
    (path / "kiosk.toml").write_text(f'database_url = "postgresql+psycopg://{databases.user}@127.0.0.1:5432/{name}"\n')
    try:
        yield path
    finally:
        databases.drop(name)


class ClonedDatabases:
    """Databases cloned from the template a few tests ahead, on helper threads, and dropped there too.

    Cloning takes PostgreSQL about half a second, mostly waiting for its disk, and several clones overlap
    well: made while the tests before run, a test finds its database ready. Each serves one test only.
    """

    AHEAD = 3

    def __init__(self, admin: Any, user: str, template: str) -> None:
        self.admin, self.user, self.template = admin, user, template
        self._workers = ThreadPoolExecutor(max_workers=self.AHEAD, thread_name_prefix="pg-clone")
        self._ahead: deque[Future[str]] = deque(self._workers.submit(self._create) for _ in range(self.AHEAD))

    def _create(self) -> str:
        name = f"floorkiosk_t_{secrets.token_hex(6)}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def _drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def take(self) -> str:
        """A fresh database (its name), the oldest clone; one more starts cloning now."""
        ready = self._ahead.popleft()
        self._ahead.append(self._workers.submit(self._create))
        return ready.result()

    def drop(self, name: str) -> None:
        """Drop a database a test is done with, on a helper thread."""
        self._workers.submit(self._drop, name)

    def close(self) -> None:
        """Drop the databases cloned ahead; wait for every drop."""
        try:
            for clone in self._ahead:
                self._drop(clone.result())
        finally:
            self._workers.shutdown(wait=True)


@pytest.fixture(scope="session")
def pg_databases(pg_template: tuple[Any, str, str]) -> Iterator[ClonedDatabases]:
    """Fresh databases cloned from the migrated template, each made while the test before it ran."""
    databases = ClonedDatabases(*pg_template)
    yield databases
    databases.close()


@pytest.fixture
def clock() -> FakeClock:
    """09:00 local time (Asia/Shanghai) on 2026-11-30, as UTC."""
    return FakeClock(datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc))


@pytest.fixture
def ctx(instance: Path, clock: FakeClock) -> Iterator[ServiceContext]:
    """A service context on the instance's database with the fake clock and a recording publisher."""
    cfg = load_config(instance, environ={})
    engine = make_engine(cfg["DATABASE_URL"])
    published: list[tuple[str, dict[str, Any]]] = []
    context = ServiceContext(config=cfg, engine=engine, sessions=make_sessionmaker(engine), clock=clock,
                             publish=lambda name, payload: published.append((name, payload)))
    context.published = published  # type: ignore[attr-defined]
    yield context
    engine.dispose()


@pytest.fixture
def pg_behind_relay(tmp_path, pg_template):
    """An instance on its own PostgreSQL database, reached through a Relay: (instance folder, relay)."""
    from pg_relay import Relay  # tests/integration/pg_relay.py: only integration tests ask for this fixture

    admin, user, template = pg_template
    name = f"floorkiosk_t_{secrets.token_hex(6)}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    relay = Relay(("127.0.0.1", 5432))
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "kiosk.toml").write_text(
        f'database_url = "postgresql+psycopg://{user}@127.0.0.1:{relay.port}/{name}"\nnfc_device = "none"\n')
    yield instance, relay
    relay.cut()
    relay.listener.close()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
