"""The payment rules (DESIGN §6): one order per award, released exactly once.

Release happens in one transaction that holds the payment's row lock: it re-checks the
status, the hold and open disputes, asks the provider (idempotency key per award; the
built-in ledger writes in the same transaction), then marks the payment released and the
auction paid. Killed at any line, it leaves nothing; run twice in parallel, the second
waits on the lock and finds the payment already released.
"""

from __future__ import annotations

import logging
from typing import Any

from marketplace import outbox, policy
from marketplace.audit.record import SYSTEM, Actor, record
from marketplace.auth import Caller
from marketplace.changes import announce
from marketplace.db import Conn, Pool, Row, held
from marketplace.errors import Conflict, Forbidden, NotFound
from marketplace.events import (
    PaymentConfirmed,
    PaymentCreated,
    PaymentDetailsProvided,
    PaymentFailed,
    PaymentReleased,
)
from marketplace.payments import queries
from marketplace.payments.provider import PaymentOrder, PaymentProvider, ProviderError
from marketplace.payments.schemas import Dispute, Payment, PaymentDetails

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 600.0


def backoff(attempts: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts)))


async def create_for_award(
    conn: Conn, actor: Actor, award: Row, department_id: int, hold_seconds: int
) -> tuple[int, Any]:
    """Create the award's payment order in the caller's transaction (review accept), held
    for the department's own hold, else ``hold_seconds``."""
    details = await queries.get_payment_details(conn, award["winner_id"])
    row = await queries.insert_payment(
        conn,
        award["id"],
        award["auction_id"],
        department_id,
        award["winner_id"],
        award["amount_cents"],
        hold_seconds,
        details is None,
    )
    if row is None:
        raise Conflict("payment_exists", "this award already has its payment order")
    await announce(
        conn,
        PaymentCreated(
            auction_id=award["auction_id"],
            payment_id=row["id"],
            payee_id=award["winner_id"],
            amount_cents=award["amount_cents"],
            release_after=row["release_after"],
            missing_details=details is None,
        ),
        actor,
        "payment.created",
        "payment",
        row["id"],
        after={
            "award_id": award["id"],
            "payee_id": award["winner_id"],
            "amount_cents": award["amount_cents"],
            "release_after": row["release_after"].isoformat(),
            "missing_details": details is None,
        },
        auction_id=award["auction_id"],
    )
    return row["id"], row["release_after"]


async def release(pool: Pool, payment_id: int, provider: PaymentProvider) -> str:
    """Release the payment if due: 'released', or why not ('on_hold', 'disputed', a status)."""
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                p = await queries.get_payment(conn, payment_id, lock=True)
                if p is None:
                    return "missing"
                if p["status"] not in ("pending", "failed"):
                    return str(p["status"])
                if p["disputed"]:
                    return "disputed"
                if p["release_after"] > p["server_time"]:
                    return "on_hold"
                details = await queries.get_payment_details(conn, p["payee_id"])
                order = PaymentOrder(
                    payment_id=p["id"],
                    idempotency_key=p["idempotency_key"],
                    department_id=p["department_id"],
                    payee_id=p["payee_id"],
                    amount_cents=p["amount_cents"],
                    method=details["method"] if details else None,
                    reference=details["reference"] if details else None,
                )
                receipt = await provider.release(conn, order)
                await queries.mark_released(conn, payment_id, receipt.reference)
                await queries.set_auction_status(conn, p["auction_id"], "accepted", "paid")
                await announce(
                    conn,
                    PaymentReleased(
                        auction_id=p["auction_id"],
                        payment_id=payment_id,
                        payee_id=p["payee_id"],
                        amount_cents=p["amount_cents"],
                        provider_reference=receipt.reference,
                        missing_details=order.missing_details,
                    ),
                    SYSTEM,
                    "payment.released",
                    "payment",
                    payment_id,
                    before={"status": p["status"]},
                    after={
                        "status": "released",
                        "provider_reference": receipt.reference,
                        "idempotency_key": p["idempotency_key"],
                        "amount_cents": p["amount_cents"],
                        "missing_details": order.missing_details,
                    },
                    auction_id=p["auction_id"],
                )
                return "released"
        except ProviderError as exc:
            await _record_failure(conn, payment_id, str(exc))
            return "failed"


async def _record_failure(conn: Conn, payment_id: int, error: str) -> None:
    async with conn.transaction():
        p = await queries.get_payment(conn, payment_id, lock=True)
        if p is None or p["status"] not in ("pending", "failed"):
            return
        failed = held(
            await queries.mark_failed(conn, payment_id, error, backoff(p["attempts"] + 1)),
            "locked above, pending or failed",
        )
        await announce(
            conn,
            PaymentFailed(
                auction_id=p["auction_id"],
                payment_id=payment_id,
                error=error,
                attempts=failed["attempts"],
            ),
            SYSTEM,
            "payment.failed",
            "payment",
            payment_id,
            after={
                "error": error,
                "attempts": failed["attempts"],
                "retry_at": failed["release_after"].isoformat(),
            },
            auction_id=p["auction_id"],
        )
    log.warning("payment %s release failed (will retry): %s", payment_id, error)


def _may_see(caller: Caller, p: Row) -> bool:
    if caller.has("admin") or caller.has("auditor") or p["payee_id"] == caller.id:
        return True
    return caller.has("finance") and policy.in_scope(caller, p["department_id"])


async def load_visible(conn: Conn, caller: Caller, payment_id: int, *, lock: bool = False) -> Any:
    p = await queries.get_payment(conn, payment_id, lock=lock)
    if p is None:
        raise NotFound("payment_not_found", "no such payment")
    if not _may_see(caller, p):
        is_buyer = policy.buys_for(caller, p["department_id"])
        if not is_buyer:
            raise NotFound("payment_not_found", "no such payment")
    return p


def present(p: Row, disputes: list[Any] | None = None) -> Payment:
    return Payment(
        id=p["id"],
        auction_id=p["auction_id"],
        award_id=p["award_id"],
        department_id=p["department_id"],
        payee_id=p["payee_id"],
        amount_cents=p["amount_cents"],
        status=p["status"],
        release_after=p["release_after"],
        released_at=p["released_at"],
        confirmed_at=p["confirmed_at"],
        missing_details=p["missing_details"],
        provider_reference=p["provider_reference"],
        attempts=p["attempts"],
        last_error=p["last_error"],
        disputed=p["disputed"],
        disputes=[Dispute(**dict(d)) for d in disputes or []],
        executed_at=p["executed_at"],
        execution_reference=p["execution_reference"],
        auction_title=p.get("auction_title"),
        payee_name=p.get("payee_name"),
        department_name=p.get("department_name"),
    )


async def get(pool: Pool, caller: Caller, payment_id: int) -> Payment:
    async with pool.acquire() as conn:
        p = await load_visible(conn, caller, payment_id)
        disputes = await queries.list_disputes(conn, payment_id)
    return present(p, disputes)


async def list_for(
    pool: Pool, caller: Caller, status: str | None, before_id: int | None, limit: int
) -> list[Payment]:
    """Finance and admins see their scope; payees their own; buyers their department's."""
    payee_id = department_id = None
    if caller.has("admin") or caller.has("auditor"):
        pass
    elif caller.has("finance"):
        department_id = caller.department_id
    elif caller.has("buyer") and caller.department_id is not None:
        department_id = caller.department_id
    else:
        payee_id = caller.id
    async with pool.acquire() as conn:
        rows = await queries.list_payments(
            conn,
            payee_id=payee_id,
            department_id=department_id,
            status=status,
            before_id=before_id,
            limit=limit,
        )
    return [present(r) for r in rows]


async def confirm(pool: Pool, caller: Caller, payment_id: int, request_id: str) -> Payment:
    async with pool.acquire() as conn, conn.transaction():
        p = await load_visible(conn, caller, payment_id, lock=True)
        if p["payee_id"] != caller.id:
            raise Forbidden("not_the_payee", "only the payee confirms receipt")
        if not await queries.mark_confirmed(conn, payment_id):
            raise Conflict(
                "not_released",
                f"the payment is {p['status']}, not released",
                payment_status=p["status"],
            )
        await queries.set_auction_status(conn, p["auction_id"], "paid", "payment_confirmed")
        await announce(
            conn,
            PaymentConfirmed(auction_id=p["auction_id"], payment_id=payment_id),
            caller.actor("vendor", request_id),
            "payment.confirmed",
            "payment",
            payment_id,
            before={"status": "released"},
            after={"status": "confirmed"},
            auction_id=p["auction_id"],
        )
        p = held(await queries.get_payment(conn, payment_id), "locked above, in this transaction")
    return present(p)


async def set_details(
    pool: Pool, caller: Caller, method: str, reference: str, request_id: str
) -> PaymentDetails:
    async with pool.acquire() as conn, conn.transaction():
        row = await queries.upsert_payment_details(conn, caller.id, method, reference)
        # Orders released without details no longer lack them; finance is told.
        for order in await queries.clear_missing_details(conn, caller.id):
            await outbox.emit(
                conn,
                PaymentDetailsProvided(auction_id=order["auction_id"], payment_id=order["id"]),
                order["auction_id"],
            )
        # The reference itself stays out of the audit log; the change is recorded.
        await record(
            conn,
            caller.actor("vendor", request_id),
            "payment_details.updated",
            "user",
            caller.id,
            after={"method": method},
        )
    return PaymentDetails(
        method=row["method"], reference=row["reference"], updated_at=row["updated_at"]
    )


async def get_details(pool: Pool, caller: Caller) -> PaymentDetails:
    async with pool.acquire() as conn:
        row = await queries.get_payment_details(conn, caller.id)
    if row is None:
        raise NotFound("no_payment_details", "you have not given payment details yet")
    return PaymentDetails(
        method=row["method"], reference=row["reference"], updated_at=row["updated_at"]
    )
