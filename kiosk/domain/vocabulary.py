"""The floor's fixed words: roles, badge statuses, duties. One list each, used by rules and storage alike."""

# management: the Hotline Management Section (热线管理科), who approve visitors (§2.2).
ROLES = ("operator", "leader", "supervisor", "security", "admin", "management")
BADGE_STATUSES = ("active", "lost", "revoked", "returned")
DUTIES = ("leader", "operator")
POINT_KINDS = ("door", "exit_button", "seat", "equipment")
