"""Desk rules without a database (§2.4): the one permissions table, login lockout, idle sessions, export cells."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.domain import logins, permissions
from kiosk.domain.vocabulary import ROLES
from kiosk.services import alerts, logexport, rollcall, visitors

T0 = datetime(2026, 11, 24, 14, tzinfo=timezone.utc)
POLICY = logins.LoginPolicy()


def test_every_role_has_a_row_and_only_security_and_admin_review_the_entry_log():
    assert set(permissions.ROLE_PERMISSIONS) == set(ROLES)
    assert permissions.roles_with("log.view") == {"security", "admin"}
    assert permissions.roles_with("log.export") == {"security", "admin"}
    assert permissions.ROLE_PERMISSIONS["operator"] == frozenset()  # operators only tap


def test_the_kiosk_role_lists_agree_with_the_permissions_table():
    # The badge sessions at the kiosk keep their own tuples; they must say what the table says.
    assert permissions.roles_with("rollcall.lead") == set(rollcall.LEADER_ROLES)
    assert permissions.roles_with("kiosk.console") == set(rollcall.CONSOLE_ROLES)
    assert permissions.roles_with("alerts.acknowledge") == set(alerts.ACK_ROLES)
    assert permissions.roles_with("visitors.bind") == set(visitors.BIND_ROLES)
    assert permissions.roles_with("visitors.approve") == set(visitors.APPROVER_ROLES)


def test_an_unknown_permission_is_a_programming_error_not_a_refusal():
    with pytest.raises(KeyError):
        permissions.allows("admin", "log.delete")
    assert not permissions.allows("nobody", "log.view")


def test_the_readme_table_has_a_row_per_permission_and_a_column_per_role():
    table = permissions.markdown_table().splitlines()
    assert len(table) == 2 + len(permissions.PERMISSIONS)
    assert all(r in table[0] for r in ROLES)


def test_the_fifth_wrong_password_locks_for_fifteen_minutes_and_restarts_the_count():
    f = logins.Failures()
    for n in range(1, 5):
        f = logins.after_failure(f, T0, POLICY)
        assert f == logins.Failures(n, None)
    f = logins.after_failure(f, T0, POLICY)
    assert f == logins.Failures(0, T0 + timedelta(minutes=15))
    assert logins.is_locked(f, T0 + timedelta(minutes=14, seconds=59))
    assert not logins.is_locked(f, T0 + timedelta(minutes=15))


def test_a_failure_after_the_lock_ran_out_forgets_the_lock():
    f = logins.Failures(0, T0)
    assert logins.after_failure(f, T0 + timedelta(minutes=1), POLICY) == logins.Failures(1, None)


def test_a_session_is_idle_at_thirty_minutes_not_before():
    assert not logins.session_idle(T0, T0 + timedelta(minutes=29, seconds=59), POLICY)
    assert logins.session_idle(T0, T0 + timedelta(minutes=30), POLICY)


def test_impossible_login_policies_are_refused():
    with pytest.raises(ValueError):
        logins.LoginPolicy(max_failures=0)
    with pytest.raises(ValueError):
        logins.LoginPolicy(idle_timeout=timedelta(0))


@given(st.text())
def test_an_export_cell_always_reads_back_as_the_original_text(value):
    cell = logexport.encode_cell(value)
    assert logexport.decode_cell(cell) == value
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert not logexport._ILLEGAL.search(cell)


def test_an_empty_xlsx_cell_reads_as_an_empty_string():
    assert logexport.decode_cell(None) == ""
