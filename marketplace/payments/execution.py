"""After release: finance records that the order was paid out.

A released order is an instruction to the department's finance office (DESIGN §6). Finance
or an admin (in scope, and not the payee: policy.py) records that it was paid out, with
the card payment's or transfer's reference, once, and not while the payee's payment
details are missing (nothing could have been sent); the payee is told (payment.executed).
"""

from __future__ import annotations

from marketplace import policy
from marketplace.auth import Caller
from marketplace.changes import announce
from marketplace.db import Pool, held
from marketplace.errors import Conflict, NotFound
from marketplace.events import PaymentExecuted
from marketplace.payments import queries
from marketplace.payments.schemas import Payment
from marketplace.payments.service import load_visible, present


async def record_execution(
    pool: Pool, caller: Caller, payment_id: int, reference: str, request_id: str
) -> Payment:
    role = "admin" if caller.has("admin") else "finance"
    async with pool.acquire() as conn, conn.transaction():
        p = await load_visible(conn, caller, payment_id, lock=True)
        if role == "finance" and not policy.in_scope(caller, p["department_id"]):
            raise NotFound("payment_not_found", "no such payment")
        policy.refuse_conflicts(
            policy.Decision.RECORD_EXECUTION, policy.relations(payee=p["payee_id"] == caller.id)
        )
        if p["executed_at"] is not None:
            raise Conflict(
                "already_executed",
                f"this order's execution was already recorded (reference "
                f"{p['execution_reference']})",
            )
        if p["missing_details"] and p["status"] == "released":
            raise Conflict(
                "payment_details_missing",
                "the payee has not given payment details yet, so nothing can have been paid "
                "out; they have been asked for them",
            )
        if not await queries.mark_executed(conn, payment_id, caller.id, reference):
            raise Conflict(
                "not_released",
                f"the payment is {p['status']}; only a released order can be paid out",
                payment_status=p["status"],
            )
        await announce(
            conn,
            PaymentExecuted(
                auction_id=p["auction_id"], payment_id=payment_id, payee_id=p["payee_id"]
            ),
            caller.actor(role, request_id),
            "payment.executed",
            "payment",
            payment_id,
            before={"executed": False},
            after={"executed": True, "reference": reference},
            auction_id=p["auction_id"],
        )
        p = held(await queries.get_payment(conn, payment_id), "locked above, in this transaction")
        disputes = await queries.list_disputes(conn, payment_id)
    return present(p, disputes)
