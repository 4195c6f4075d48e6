"""Request and response Structs of accounts."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from marketplace.settings import MAX_PAYMENT_HOLD_SECONDS
from marketplace.structs import Email, Id, Reason, Request, Response, Text

Role = Literal["buyer", "vendor", "reviewer", "finance", "auditor", "admin"]
RegistryId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._/-]+$")
]


class Signup(Request, kw_only=True):
    email: Email
    name: Text


HoldSeconds = Annotated[int, msgspec.Meta(ge=0, le=MAX_PAYMENT_HOLD_SECONDS)]


class DepartmentCreate(Request, kw_only=True):
    name: Text
    # The wait between acceptance and payment release; unset follows the deployment's.
    payment_hold_seconds: HoldSeconds | None = None


class DepartmentPatch(Request, kw_only=True):
    # null: back to the deployment's MARKETPLACE_PAYMENT_HOLD_SECONDS.
    payment_hold_seconds: HoldSeconds | None


class Department(Response, frozen=True, kw_only=True):
    id: int
    name: str
    created_at: dt.datetime
    payment_hold_seconds: int  # what applies: the department's own, else the deployment's
    payment_hold_is_default: bool = True


class UserCreate(Request, kw_only=True):
    email: Email
    name: Text
    roles: Annotated[list[Role], msgspec.Meta(min_length=1, max_length=6)]
    department_id: Id | None = None


class UserPatch(Request, kw_only=True):
    """An admin's change of a user's roles or department; absent fields stay, a null
    department_id takes the user out of any department."""

    roles: Annotated[list[Role], msgspec.Meta(min_length=1, max_length=6)] | msgspec.UnsetType = (
        msgspec.UNSET
    )
    department_id: Id | msgspec.UnsetType | None = msgspec.UNSET


class Token(Response, frozen=True, kw_only=True):
    """A token as its user's admin sees it: never the token itself (only its hash is kept)."""

    id: int
    created_at: dt.datetime
    issued_by: int | None
    revoked_at: dt.datetime | None


class GithubAccount(Response, frozen=True, kw_only=True):
    id: int
    login: str | None


class User(Response, frozen=True, kw_only=True):
    id: int
    email: str
    name: str
    roles: list[str]
    department_id: int | None
    verification_status: str
    verification_kind: str | None = None
    verification_reason: str | None = None
    github: GithubAccount | None = None
    created_at: dt.datetime
    email_confirmed: bool = True  # a self sign-up: False until it opens the mailed link
    registry_id: str | None = None  # what the vendor gave when asking to be verified


class TokenIssued(Response, frozen=True, kw_only=True):
    """A new token: shown this once, stored only as a hash."""

    id: int
    token: str


class SignedUp(Response, frozen=True, kw_only=True):
    id: int
    token: str
    token_id: int


class VerificationRequest(Request, kw_only=True):
    kind: Literal["business", "individual", "student"]
    registry_id: RegistryId


class VerificationDecision(Request, kw_only=True):
    status: Literal["verified", "rejected"]
    reason: Reason
