"""Payment pages: finance's list of payment orders, and a payment's page with its disputes.

Finance and admins resolve disputes (release or cancel, with a reason); the buyer's
department and the payee open them; the payee confirms receipt. Who may see and do what
is the payments service's decision: the pages only show its refusals in plain words.
"""

from __future__ import annotations

import typing
from typing import Any

from arq.connections import ArqRedis
from litestar import Request, get, post
from litestar.response import Redirect, Template

from marketplace import policy
from marketplace.accounts import service as accounts
from marketplace.auth import Caller, request_id
from marketplace.db import Pool
from marketplace.errors import DomainError
from marketplace.payments import disputes, execution
from marketplace.payments import service as payments
from marketplace.payments.schemas import Payment, PaymentStatus
from marketplace.structs import decode_cursor, encode_cursor
from marketplace.web import confirm
from marketplace.web.common import flash, form_text, money, plain, render, require, see_other

STATUSES = typing.get_args(PaymentStatus)
PAGE_SIZE = 50
REASON_MAX = 2000
REFUSALS = {
    "not_the_payee": "Only the payee can confirm that the payment arrived.",
    "not_released": "This payment has not been released yet, so its receipt cannot be confirmed.",
    "not_a_party": "Only the buying department or the payee can dispute a payment.",
    "not_disputable": "Only a payment that has not been released yet can be disputed.",
    "dispute_open": "A dispute on this payment is already open.",
    "no_open_dispute": "This payment has no open dispute to resolve.",
    "payment_not_found": "There is no such payment, or it is not yours to see.",
}


async def payment_list(
    pool: Pool, caller: Caller, status: str | None, cursor: str | None
) -> tuple[list[Payment], str | None]:
    """A page of the payments the caller may see (the service decides which), newest first."""
    before = decode_cursor(cursor, list[int])
    items = await payments.list_for(
        pool, caller, status, before[0] if before else None, PAGE_SIZE + 1
    )
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    return items, encode_cursor(items[-1].id) if more else None


@get("/finance/payments", name="web:finance_payments")
async def finance_payments(
    request: Request[Any, Any, Any],
    pool: Pool,
    viewer: Caller | None,
    status: str | None = None,
    cursor: str | None = None,
) -> Template:
    caller = require(viewer, "finance", "admin")
    problems = []
    if status is not None and status not in STATUSES:
        problems.append(f"There is no payment status called “{status[:40]}”; showing every status.")
        status = None
    items, next_cursor = await payment_list(pool, caller, status or None, cursor)
    return render(
        request,
        caller,
        "finance_payments.html",
        payments=items,
        executable={p.id for p in items if may_execute(caller, p)},
        statuses=STATUSES,
        selected=status,
        problems=problems,
        next_cursor=next_cursor,
    )


def _handles(caller: Caller, payment: Payment) -> bool:
    """Whether ``caller`` is finance for this payment: an admin, or finance in its scope."""
    return caller.has("admin") or (
        caller.has("finance") and policy.in_scope(caller, payment.department_id)
    )


def may_execute(caller: Caller, payment: Payment) -> bool:
    """Whether to offer ``caller`` the payout form: the rules execution.py enforces."""
    return (
        _handles(caller, payment)
        and payment.status in ("released", "confirmed")
        and payment.executed_at is None
        and not payment.missing_details
        and policy.allows(
            policy.Decision.RECORD_EXECUTION,
            policy.relations(payee=payment.payee_id == caller.id),
        )
    )


async def payment_page(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    payment_id: int,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Template:
    """A payment with its disputes; the forms re-render it with a refusal beside them."""
    payment = await payments.get(pool, caller, payment_id)
    payee = await accounts.get_user(pool, payment.payee_id)
    is_payee = payment.payee_id == caller.id
    is_buyer = policy.buys_for(caller, payment.department_id)
    return render(
        request,
        caller,
        "payment.html",
        status=status,
        payment=payment,
        payee=payee,
        is_payee=is_payee,
        may_execute=may_execute(caller, payment),
        may_resolve=_handles(caller, payment)
        and policy.allows(
            policy.Decision.RESOLVE_DISPUTE,
            policy.relations(
                payee=is_payee,
                dispute_opener=any(
                    d.status == "open" and d.opened_by == caller.id for d in payment.disputes
                ),
            ),
        ),
        may_dispute=(is_payee or is_buyer) and payment.status in ("pending", "failed"),
        questions={
            "release": confirm.resolve("release", payment.id, payment.amount_cents, payee.name),
            "cancel": confirm.resolve("cancel", payment.id, payment.amount_cents, payee.name),
            "confirm": confirm.confirm_receipt(payment.amount_cents, payment.auction_title),
            "executed": confirm.record_payout(payment.id, payment.amount_cents, payee.name),
        },
        errors=errors or {},
        values=values or {},
    )


async def _refused(
    request: Request[Any, Any, Any],
    pool: Pool,
    caller: Caller,
    payment_id: int,
    form: str,
    problem: str | DomainError,
    values: dict[str, str] | None = None,
) -> Template:
    """The payment page again with the refusal beside ``form`` and what was typed kept: 400
    for a form to fix, a service refusal with its own status; a payment the caller may not
    see answers 404 as itself."""
    if isinstance(problem, DomainError):
        if problem.code == "payment_not_found":
            raise problem
        status, words = problem.status, plain(problem, REFUSALS)
    else:
        status, words = 400, problem
    return await payment_page(
        request, pool, caller, payment_id, status=status, errors={form: words}, values=values
    )


@get("/payments/{payment_id:int}", name="web:payment")
async def payment(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, payment_id: int
) -> Template:
    return await payment_page(request, pool, require(viewer), payment_id)


def _reason(form: Any) -> tuple[str, str | None]:
    reason = form_text(form, "reason", REASON_MAX)
    if not reason or len(reason) > REASON_MAX:
        return reason, "Give a reason (at most 2,000 characters)."
    return reason, None


@post("/payments/{payment_id:int}/resolve", name="web:resolve_payment")
async def resolve(
    request: Request[Any, Any, Any],
    pool: Pool,
    redis: ArqRedis,
    viewer: Caller | None,
    payment_id: int,
) -> Template | Redirect:
    caller = require(viewer, "finance", "admin")
    form = await request.form()
    outcome = form_text(form, "outcome", 10)
    reason, problem = _reason(form)
    if outcome not in ("release", "cancel"):
        problem = "Choose release or cancel."
    values = {"resolve_reason": reason}
    if problem is not None:
        return await _refused(request, pool, caller, payment_id, "resolve", problem, values)
    if not confirm.confirmed(form):
        shown = await payments.get(pool, caller, payment_id)
        payee = shown.payee_name or (await accounts.get_user(pool, shown.payee_id)).name
        return confirm.ask(
            request,
            caller,
            form,
            action=f"/payments/{payment_id}/resolve",
            question=confirm.resolve(outcome, payment_id, shown.amount_cents, payee),
            back=f"/payments/{payment_id}",
        )
    try:
        done = await disputes.resolve_dispute(
            pool, redis, caller, payment_id, outcome, reason, request_id(request)
        )
    except DomainError as exc:
        return await _refused(request, pool, caller, payment_id, "resolve", exc, values)
    if outcome == "release":
        flash(
            request,
            f"Dispute resolved: payment {done.id} of {money(done.amount_cents)} will be released.",
        )
    else:
        flash(request, f"Dispute resolved: payment {done.id} is cancelled.")
    return see_other(f"/payments/{payment_id}")


@post("/payments/{payment_id:int}/dispute", name="web:dispute_payment")
async def dispute(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, payment_id: int
) -> Template | Redirect:
    caller = require(viewer)
    reason, problem = _reason(await request.form())
    values = {"dispute_reason": reason}
    if problem is not None:
        return await _refused(request, pool, caller, payment_id, "dispute", problem, values)
    try:
        await disputes.open_dispute(pool, caller, payment_id, reason, request_id(request))
    except DomainError as exc:
        return await _refused(request, pool, caller, payment_id, "dispute", exc, values)
    flash(request, "Dispute opened: the payment is held until finance resolves it.")
    return see_other(f"/payments/{payment_id}")


@post("/payments/{payment_id:int}/executed", name="web:payment_executed")
async def executed(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, payment_id: int
) -> Template | Redirect:
    """Finance records that the released order was paid out, with its reference."""
    caller = require(viewer, "finance", "admin")
    form = await request.form()
    reference = form_text(form, "reference", 200)
    values = {"reference": reference}
    if not 2 <= len(reference) <= 200:
        problem = "Give the reference of the card payment or transfer (2 to 200 characters)."
        return await _refused(request, pool, caller, payment_id, "executed", problem, values)
    if not confirm.confirmed(form):
        shown = await payments.get(pool, caller, payment_id)
        payee = shown.payee_name or (await accounts.get_user(pool, shown.payee_id)).name
        return confirm.ask(
            request,
            caller,
            form,
            action=f"/payments/{payment_id}/executed",
            question=confirm.record_payout(payment_id, shown.amount_cents, payee),
            back=f"/payments/{payment_id}",
        )
    try:
        await execution.record_execution(pool, caller, payment_id, reference, request_id(request))
    except DomainError as exc:
        return await _refused(request, pool, caller, payment_id, "executed", exc, values)
    flash(request, f"Recorded: payment {payment_id} was paid out (reference {reference}).")
    return see_other(f"/payments/{payment_id}")


@post("/payments/{payment_id:int}/confirm", name="web:confirm_payment")
async def confirm_receipt(
    request: Request[Any, Any, Any], pool: Pool, viewer: Caller | None, payment_id: int
) -> Template | Redirect:
    caller = require(viewer)
    form = await request.form()
    back = "/me/payments" if form_text(form, "back", 20) == "me" else f"/payments/{payment_id}"
    if not confirm.confirmed(form):
        shown = await payments.get(pool, caller, payment_id)
        return confirm.ask(
            request,
            caller,
            form,
            action=f"/payments/{payment_id}/confirm",
            question=confirm.confirm_receipt(shown.amount_cents, shown.auction_title),
            back=back,
        )
    try:
        done = await payments.confirm(pool, caller, payment_id, request_id(request))
    except DomainError as exc:
        return await _refused(request, pool, caller, payment_id, "confirm", exc)
    flash(request, f"Thank you: you confirmed receiving {money(done.amount_cents)}.")
    return see_other(back)


ROUTES = [finance_payments, payment, resolve, dispute, executed, confirm_receipt]
