"""The second step before an irreversible or money-moving action, and its words.

Each such form's submit button carries its question (``data-confirm``). With the page's
script a dialog asks it; without script the first POST answers with a confirmation page that
asks it and sends the same fields again with ``confirmed=yes``. Handlers act only on a
confirmed POST, so one click never publishes, cancels, decides or pays. The questions say
what will happen, with the amounts, names and times involved, and are written here only.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.response import Template

from marketplace.accounts import service as accounts
from marketplace.auctions.schemas import Auction
from marketplace.auth import Caller
from marketplace.awards import next_round
from marketplace.db import Pool
from marketplace.web.common import local_time, money, render

FIELD = "confirmed"
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}


@dataclass(frozen=True)
class Question:
    """What a confirmation asks: the question, what follows, and the button that agrees."""

    text: str
    yes: str
    detail: str = ""
    danger: bool = False


def confirmed(form: Any) -> bool:
    """Whether this POST is the second, explicit step."""
    return bool(form.get(FIELD) == "yes")


def ask(
    request: Request[Any, Any, Any],
    viewer: Caller,
    form: Any,
    *,
    action: str,
    question: Question,
    back: str,
) -> Template:
    """The confirmation page: the question, and the same form again with ``confirmed=yes``."""
    fields = [
        (name, value)
        for name, value in form.multi_items()
        if name not in ("csrf_token", FIELD) and isinstance(value, str)
    ]
    return render(
        request, viewer, "confirm.html", question=question, action=action, fields=fields, back=back
    )


# ---- the words --------------------------------------------------------------------------


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _count(n: int, unit: str) -> str:
    return f"{NUMBERS.get(n, str(n))}-{unit}"


def hold_words(seconds: int) -> str:
    """When an accepted delivery's payment is released: "after the one-day hold"."""
    if seconds <= 0:
        return "at once"
    for size, unit in ((86_400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            return f"after the {_count(seconds // size, unit)} hold"
    return f"after the {_count(seconds, 'second')} hold"


def publish(auction: Auction, zone: zoneinfo.ZoneInfo) -> Question:
    opens = (
        "Bidding opens at once"
        if auction.starts_at <= auction.server_time
        else f"Bidding opens {local_time(auction.starts_at, zone)}"
    )
    return Question(
        text=f"Publish “{auction.title}” for bids up to {money(auction.price_cap_cents)}?",
        yes="Yes, publish it",
        detail=f"{opens} and closes {local_time(auction.ends_at, zone)}. "
        "A published task can no longer be edited, only cancelled.",
    )


def cancel(auction: Auction) -> Question:
    bids = "Bidding stops, any bids are voided and the bidders are told."
    if auction.status == "draft":
        bids = "The draft will never be published."
    return Question(
        text=f"Cancel “{auction.title}”?",
        yes="Yes, cancel the auction",
        detail=f"{bids} This cannot be undone.",
        danger=True,
    )


def decline(title: str, amount_cents: int) -> Question:
    return Question(
        text=f"Decline the award of “{title}” for {money(amount_cents)}?",
        yes="Yes, decline the award",
        detail="You give up the work and its payment; the buyer can award it to the runner-up. "
        "This cannot be undone.",
        danger=True,
    )


async def reaward_question(pool: Pool, caller: Caller, auction: Auction) -> Question | None:
    """The re-award question with the runner-up it would choose now; None if none remains."""
    offer = await next_round.runner_up_offer(pool, caller, auction.id)
    if offer is None:
        return None
    runner_up = await accounts.get_user(pool, offer[0])
    return reaward(auction.title, runner_up.name, offer[1])


def reaward(title: str, runner_up: str, amount_cents: int) -> Question:
    return Question(
        text=f"Award “{title}” to the runner-up, {runner_up}, for {money(amount_cents)}?",
        yes="Yes, re-award the work",
        detail="The current award ends and cannot be given back; "
        f"{runner_up} is told and gets a new delivery deadline.",
    )


def accept(amount_cents: int, payee: str, hold_seconds: int) -> Question:
    return Question(
        text=f"Accept and release {money(amount_cents)} to {payee} {hold_words(hold_seconds)}?",
        yes="Yes, accept and release",
        detail=(
            "The payment order goes to the department's finance office at once."
            if hold_seconds <= 0
            else "The payment order goes to the department's finance office; "
            "the buyer and the vendor can dispute it until then."
        ),
    )


def reject(title: str, payee: str) -> Question:
    return Question(
        text=f"Reject the work {payee} delivered for “{title}”?",
        yes="Yes, reject the work",
        detail=f"{payee} is not paid for it; the buyer can award the work to the runner-up. "
        "This cannot be undone.",
        danger=True,
    )


def resolve(outcome: str, payment_id: int, amount_cents: int, payee: str) -> Question:
    if outcome == "release":
        return Question(
            text=f"Release {money(amount_cents)} to {payee} now?",
            yes="Yes, release the payment",
            detail="The dispute is closed and the payment order goes to finance at once.",
        )
    return Question(
        text=f"Cancel payment {payment_id} of {money(amount_cents)} to {payee}?",
        yes="Yes, cancel the payment",
        detail=f"The dispute is closed and {payee} will not be paid. This cannot be undone.",
        danger=True,
    )


def confirm_receipt(amount_cents: int, title: str | None) -> Question:
    task = f" for “{title}”" if title else ""
    return Question(
        text=f"Confirm that you received {money(amount_cents)}{task}?",
        yes="Yes, I received it",
        detail="This closes the payment; say so only once the money is in your account.",
    )


def record_payout(payment_id: int, amount_cents: int, payee: str) -> Question:
    return Question(
        text=f"Record payment {payment_id} of {money(amount_cents)} to {payee} as paid out?",
        yes="Yes, record the payout",
        detail=(
            f"It is recorded once, with the reference you gave, and cannot be changed; "
            f"{payee} is told and asked to confirm receipt."
        ),
    )


def verify_vendor(status: str, name: str, kind: str | None) -> Question:
    if status == "verified":
        return Question(
            text=f"Verify {name}{f' as {_article(kind)} {kind}' if kind else ''}?",
            yes="Yes, verify",
            detail=f"{name} can bid on auctions at once, and is told so with your reason.",
        )
    return Question(
        text=f"Reject the verification of {name}?",
        yes="Yes, reject",
        detail=f"{name} cannot bid and is told so with your reason.",
        danger=True,
    )
