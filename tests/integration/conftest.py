"""Fixtures of the integration tests: an instance whose PostgreSQL sits behind a relay a test can cut."""

from __future__ import annotations

import secrets

import pytest

from pg_relay import Relay


@pytest.fixture
def pg_behind_relay(tmp_path, pg_template):
    """An instance on its own PostgreSQL database, reached through a Relay: (instance folder, relay)."""
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
