"""A vendor's verification: the vendor asks (with the registry id the registry check reads,
accounts/registry.py), an admin decides; each step is announced and audited."""

from __future__ import annotations

from marketplace.accounts import queries
from marketplace.accounts.schemas import User, VerificationDecision, VerificationRequest
from marketplace.accounts.service import user_from_row
from marketplace.audit.record import Actor
from marketplace.auth import Caller
from marketplace.changes import announce
from marketplace.db import Pool, held
from marketplace.errors import Conflict, Forbidden, NotFound, Unprocessable
from marketplace.events import VerificationDecided, VerificationRequested


async def request_verification(
    pool: Pool, caller: Caller, data: VerificationRequest, request_id: str
) -> User:
    """The vendor asks to be verified (unverified or rejected before)."""
    if not caller.has("vendor"):
        raise Forbidden("role_required", "only vendors ask to be verified")
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.request_verification(conn, caller.id, data.kind, data.registry_id)
        if row is None:
            current = held(await queries.get_user(conn, caller.id), "the caller signed in")
            raise Conflict(
                "verification_not_allowed",
                f"verification is {current['verification_status']}; "
                "you can ask only when unverified or rejected",
                verification_status=current["verification_status"],
            )
        await announce(
            conn,
            VerificationRequested(user_id=caller.id, kind=data.kind),
            caller.actor("vendor", request_id),
            "vendor.verification_requested",
            "user",
            caller.id,
            after={"kind": data.kind, "registry_id": data.registry_id},
        )
    return user_from_row(row)


async def decide_verification(
    pool: Pool, actor: Actor, user_id: int, data: VerificationDecision
) -> User:
    """An admin verifies a vendor who confirmed their e-mail, or rejects them."""
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.decide_verification(conn, user_id, data.status, data.reason)
        if row is None:
            current = await queries.get_user(conn, user_id)
            if current is None:
                raise NotFound("user_not_found", "no such user")
            if "vendor" not in current["roles"]:
                raise Unprocessable("not_a_vendor", "this user is not a vendor")
            if data.status == "verified" and not current["email_confirmed"]:
                raise Conflict(
                    "email_not_confirmed",
                    "this vendor has not confirmed their e-mail address yet; they can be "
                    "verified once they open the link mailed to them",
                )
            raise Conflict(
                "verification_decided",
                f"verification is already {current['verification_status']}",
                verification_status=current["verification_status"],
            )
        await announce(
            conn,
            VerificationDecided(user_id=user_id, status=data.status, reason=data.reason),
            actor,
            "vendor.verification_decided",
            "user",
            user_id,
            after={"status": data.status, "reason": data.reason},
        )
    return user_from_row(row)
