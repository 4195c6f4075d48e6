"""The error vocabulary: domain errors raised by services, mapped to HTTP in one place."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A refusal a client can understand: a status, a stable code and a human reason."""

    status: ClassVar[int] = 400

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "detail": self.detail, **self.extra}


class BadRequest(DomainError):
    status = 400


class Unauthorized(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class Unprocessable(DomainError):
    status = 422


class TooManyRequests(DomainError):
    status = 429


class ServiceUnavailable(DomainError):
    """Something the request needs is not configured or not reachable right now."""

    status = 503


# Named constraints in sql/ that a client can trip, mapped to the error they mean.
CONSTRAINT_ERRORS: dict[str, tuple[type[DomainError], str, str]] = {
    "users_email_key": (Conflict, "email_taken", "an account with this email already exists"),
    "departments_name_key": (Conflict, "department_exists", "a department with this name exists"),
    "users_department_fk": (Unprocessable, "unknown_department", "no such department"),
    "users_github_id_key": (
        Conflict,
        "github_account_taken",
        "this GitHub account is linked to another user",
    ),
}


def from_constraint(name: str | None) -> DomainError | None:
    """The domain error a violated named constraint stands for, if it is one clients can trip."""
    if name is None or name not in CONSTRAINT_ERRORS:
        return None
    cls, code, detail = CONSTRAINT_ERRORS[name]
    return cls(code, detail)
