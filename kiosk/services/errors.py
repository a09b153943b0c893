"""Errors a service raises for a person to act on: a stable code for screens, a message for people and logs."""

from __future__ import annotations


class ServiceError(Exception):
    """A refusal with a code the screens translate and a message a person can act on."""

    status = 400

    def __init__(self, code: str, message: str, **detail: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail

    def to_dict(self) -> dict[str, object]:
        """Flat JSON for HTTP and Socket.IO answers."""
        return {"ok": False, "error": self.code, "message": self.message, **self.detail}


class NotPermitted(ServiceError):
    """The caller is not allowed to do this."""

    status = 403


class NotFound(ServiceError):
    """The thing named does not exist."""

    status = 404


class StorageUnavailable(ServiceError):
    """The database refused the write (locked, full, gone): nothing was recorded."""

    status = 503
