"""Disputes of a payment on hold: who may open one (which holds the payment), and who may
resolve it, releasing or refunding, without deciding their own case (policy.py)."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis

from marketplace import jobs, outbox, policy
from marketplace.auth import Caller
from marketplace.changes import announce
from marketplace.db import Conn, Pool, held
from marketplace.errors import Conflict, Forbidden, NotFound
from marketplace.events import (
    DisputeResolved,
    PaymentCancelled,
    PaymentDisputed,
)
from marketplace.payments import queries
from marketplace.payments.schemas import Payment
from marketplace.payments.service import load_visible, present


async def open_dispute(
    pool: Pool, caller: Caller, payment_id: int, reason: str, request_id: str
) -> Payment:
    """The buyer's department or the payee freezes release until finance or an admin decides."""
    async with pool.acquire() as conn, conn.transaction():
        p = await load_visible(conn, caller, payment_id, lock=True)
        if p["payee_id"] == caller.id:
            role = "payee"
        elif policy.buys_for(caller, p["department_id"]):
            role = "buyer"
        else:
            raise Forbidden("not_a_party", "only the buyer's department or the payee may dispute")
        if p["status"] not in ("pending", "failed"):
            raise Conflict(
                "not_disputable",
                f"the payment is {p['status']}; only unreleased payments can be disputed",
                payment_status=p["status"],
            )
        dispute = await queries.insert_dispute(conn, payment_id, caller.id, role, reason)
        if dispute is None:
            raise Conflict("dispute_open", "a dispute on this payment is already open")
        await announce(
            conn,
            PaymentDisputed(
                auction_id=p["auction_id"],
                payment_id=payment_id,
                dispute_id=dispute["id"],
                opened_by=caller.id,
                reason=reason,
            ),
            caller.actor(role if role == "buyer" else "vendor", request_id),
            "payment.disputed",
            "payment",
            payment_id,
            after={"dispute_id": dispute["id"], "reason": reason, "opened_as": role},
            auction_id=p["auction_id"],
        )
        p = held(await queries.get_payment(conn, payment_id), "locked above, in this transaction")
        disputes = await queries.list_disputes(conn, payment_id)
    return present(p, disputes)


async def resolve_dispute(
    pool: Pool,
    redis: ArqRedis,
    caller: Caller,
    payment_id: int,
    outcome: str,
    reason: str,
    request_id: str,
) -> Payment:
    """Finance (in scope) or an admin who is neither the payee nor the dispute's opener
    releases or cancels a disputed payment (policy.py)."""
    role = "admin" if caller.has("admin") else "finance"
    async with pool.acquire() as conn:
        async with conn.transaction():
            p = await _resolvable(conn, caller, role, payment_id)
            dispute = await queries.resolve_dispute(conn, payment_id, caller.id, outcome, reason)
            if dispute is None:
                raise Conflict("no_open_dispute", "this payment has no open dispute")
            if outcome == "cancel":
                await queries.mark_cancelled(conn, payment_id)
                await outbox.emit(
                    conn,
                    PaymentCancelled(
                        auction_id=p["auction_id"], payment_id=payment_id, reason=reason
                    ),
                    p["auction_id"],
                )
            else:
                await queries.allow_release_now(conn, payment_id)
            await announce(
                conn,
                DisputeResolved(
                    auction_id=p["auction_id"],
                    payment_id=payment_id,
                    dispute_id=dispute["id"],
                    outcome=outcome,
                    reason=reason,
                ),
                caller.actor(role, request_id),
                "payment.dispute_resolved",
                "payment",
                payment_id,
                before={"status": p["status"], "disputed": True},
                after={"dispute_id": dispute["id"], "outcome": outcome, "reason": reason},
                auction_id=p["auction_id"],
            )
            p = held(await queries.get_payment(conn, payment_id), "locked above")
            disputes = await queries.list_disputes(conn, payment_id)
    if outcome == "release":
        # Its own job id: the hold's job (deferred to the old time) may still hold the
        # payment's usual id, and would swallow this one until then.
        await jobs.schedule_release(
            redis, payment_id, p["attempts"], None, reason=f"dispute-{dispute['id']}"
        )
    return present(p, disputes)


async def _resolvable(conn: Conn, caller: Caller, role: str, payment_id: int) -> Any:
    """The payment (locked) once ``caller`` may resolve its dispute: in scope (finance),
    and neither its payee nor the dispute's opener."""
    p = await load_visible(conn, caller, payment_id, lock=True)
    if role == "finance" and not policy.in_scope(caller, p["department_id"]):
        raise NotFound("payment_not_found", "no such payment")
    opened_by = await queries.open_dispute_opener(conn, payment_id)
    policy.refuse_conflicts(
        policy.Decision.RESOLVE_DISPUTE,
        policy.relations(payee=p["payee_id"] == caller.id, dispute_opener=opened_by == caller.id),
    )
    return p
