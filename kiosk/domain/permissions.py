"""Who may see and do what (§2.4): ONE table from each role to its permissions.

The desk pages check it through ``kiosk.web.auth.require_permission``; the kiosk's badge sessions keep
their own role tuples (``rollcall.LEADER_ROLES``, ``alerts.ACK_ROLES``, ``visitors.APPROVER_ROLES`` ...),
and ``tests/unit/test_permissions.py`` holds those tuples to this table, so the two never drift. The
README's "Security review and desk login" section prints the same table.
"""

from __future__ import annotations

from kiosk.domain.vocabulary import ROLES

# permission -> what it allows (shown in the README and on refusal pages).
PERMISSIONS: dict[str, str] = {
    "log.view": "search the entry log, open an event, the person and door timelines, the daily summary",
    "log.export": "export a search of the entry log as CSV or XLSX",
    "alerts.view": "the alert history",
    "alerts.acknowledge": "acknowledge an alert at the kiosk with a badge (§5.1)",
    "rollcall.lead": "the leader console at the kiosk: mark, daily question, close roll call (§3.4, §3.5)",
    "kiosk.console": "open the kiosk console with a badge",
    "visitors.bind": "hand out a visitor card at the kiosk (§2.2)",
    "visitors.approve": "approve and cancel visits (§2.2, the Hotline Management Section)",
    "admin.import": "import and export floor data (staff, badges, shifts, roster, seats, points, doors)",
    "admin.users": "manage desk logins",
    "floorplan.edit": "move seats, doors and kiosk screens on the floor plan and upload its background image",
    "floors.all": "see every floor: the floor map's floor selector, every floor's doors, alerts and roll calls",
}

_LEADING = frozenset({"alerts.view", "alerts.acknowledge", "rollcall.lead", "kiosk.console", "visitors.bind"})

# role -> permissions. Operators only tap (§3.3); the entry log is personal information (§2.4), so only
# security and admins review it; the management section approves visitors (§2.2).
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "operator": frozenset(),
    "leader": _LEADING,
    "supervisor": _LEADING | {"floors.all"},
    "security": frozenset({"log.view", "log.export", "alerts.view", "alerts.acknowledge", "kiosk.console",
                           "visitors.bind", "floors.all"}),
    "management": frozenset({"visitors.approve", "alerts.view"}),
    "admin": frozenset(PERMISSIONS),
}

assert set(ROLE_PERMISSIONS) == set(ROLES), "every role has a row in the permissions table"
assert all(p in PERMISSIONS for ps in ROLE_PERMISSIONS.values() for p in ps), "only known permissions"


def allows(role: str | None, permission: str) -> bool:
    """True when ``role`` has ``permission``; an unknown role or permission has nothing."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return permission in ROLE_PERMISSIONS.get(role or "", frozenset())


def roles_with(permission: str) -> frozenset[str]:
    """The roles that have ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return frozenset(r for r, ps in ROLE_PERMISSIONS.items() if permission in ps)


def markdown_table() -> str:
    """The table as Markdown, roles as columns: what the README prints."""
    head = "| permission | allows | " + " | ".join(ROLES) + " |"
    rule = "|---|---|" + "---|" * len(ROLES)
    rows = [f"| `{p}` | {what} | " + " | ".join("✓" if p in ROLE_PERMISSIONS[r] else "" for r in ROLES) + " |"
            for p, what in PERMISSIONS.items()]
    return "\n".join([head, rule, *rows])
