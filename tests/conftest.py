"""Shared fixtures: a migrated SQLite instance, a service context with a settable clock."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

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


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """A fresh instance folder with a migrated SQLite database."""
    path = tmp_path / "instance"
    cfg = load_config(path, environ={})
    upgrade(cfg["DATABASE_URL"])
    return path


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
