"""Departments, users, vendor verification and API tokens."""

from __future__ import annotations

from marketplace.events.base import Event


class DepartmentCreated(Event, frozen=True, kw_only=True, tag="department.created"):
    department_id: int
    name: str


class DepartmentUpdated(Event, frozen=True, kw_only=True, tag="department.updated"):
    department_id: int
    payment_hold_seconds: int | None = None  # None: the deployment's default


class UserCreated(Event, frozen=True, kw_only=True, tag="user.created"):
    user_id: int
    roles: list[str]
    department_id: int | None = None
    self_signup: bool = False


class UserRolesChanged(Event, frozen=True, kw_only=True, tag="user.roles_changed"):
    user_id: int
    roles: list[str]
    department_id: int | None = None


class VerificationRequested(Event, frozen=True, kw_only=True, tag="vendor.verification_requested"):
    user_id: int
    kind: str


class VerificationDecided(Event, frozen=True, kw_only=True, tag="vendor.verification_decided"):
    user_id: int
    status: str
    reason: str


class TokenIssuedForUser(Event, frozen=True, kw_only=True, tag="token.issued_for_user"):
    """Someone other than the user (an admin) issued an API token that acts as them."""

    user_id: int
    token_id: int
    issued_by: int


class EmailConfirmationSent(Event, frozen=True, kw_only=True, tag="user.email_confirmation_sent"):
    """A self sign-up asked for a new link to confirm its address."""

    user_id: int


class GithubAccountLinked(Event, frozen=True, kw_only=True, tag="user.github_linked"):
    user_id: int
    github_id: int
    github_login: str
