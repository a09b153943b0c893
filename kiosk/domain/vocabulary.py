"""The floor's fixed words: roles, badge statuses, duties. One list each, used by rules and storage alike."""

ROLES = ("operator", "leader", "supervisor", "security", "admin")
BADGE_STATUSES = ("active", "lost", "revoked", "returned")
DUTIES = ("leader", "operator")
POINT_KINDS = ("door", "exit_button", "seat", "equipment")
