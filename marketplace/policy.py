"""Separation of duties (DESIGN §2, §6): nobody decides on something they are a party to.

One table, ``CONFLICTS``, says for each decision which relations to its object bar a
user from taking it, whatever roles they hold: the payee and the dispute's opener cannot
resolve a dispute; the payee cannot record that their own payment was made; the winner,
the department's buyers and anyone who bid cannot review a delivery. Services work out the
caller's relations to the object (``Parties``) and call ``refuse_conflicts``; pages call
``allows`` with the same relations to decide whether to offer the form at all.

Bidding has the same rule (the buying department cannot bid on its auctions), judged in
SQL by ``place_bid()`` under the same code, ``conflict_of_interest``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from marketplace.errors import Forbidden

if TYPE_CHECKING:
    from marketplace.auth import Caller


class Relation(StrEnum):
    """How a user stands to the object of a decision."""

    PAYEE = "payee"
    DISPUTE_OPENER = "dispute_opener"
    WINNER = "winner"
    DEPARTMENT_BUYER = "department_buyer"
    BIDDER = "bidder"


class Decision(StrEnum):
    RESOLVE_DISPUTE = "resolve_dispute"
    RECORD_EXECUTION = "record_execution"
    REVIEW = "review"


# Each decision, and in order the relations that bar it, with the refusal's sentence.
CONFLICTS: dict[Decision, dict[Relation, str]] = {
    Decision.RESOLVE_DISPUTE: {
        Relation.PAYEE: "you are the payee of this payment, so you cannot resolve its dispute",
        Relation.DISPUTE_OPENER: "you opened this dispute, so someone else must resolve it",
    },
    Decision.RECORD_EXECUTION: {
        Relation.PAYEE: "you are the payee of this payment, so you cannot record its execution",
    },
    Decision.REVIEW: {
        Relation.WINNER: "you cannot review your own delivery",
        Relation.DEPARTMENT_BUYER: "the auction's buyers cannot review it",
        Relation.BIDDER: "you bid on this auction",
    },
}

Parties = frozenset[Relation]


def relations(
    *,
    payee: bool = False,
    dispute_opener: bool = False,
    winner: bool = False,
    department_buyer: bool = False,
    bidder: bool = False,
) -> Parties:
    """The caller's relations to one object, from facts the service has read."""
    held = {
        Relation.PAYEE: payee,
        Relation.DISPUTE_OPENER: dispute_opener,
        Relation.WINNER: winner,
        Relation.DEPARTMENT_BUYER: department_buyer,
        Relation.BIDDER: bidder,
    }
    return frozenset(relation for relation, holds in held.items() if holds)


def conflict(decision: Decision, parties: Parties) -> Relation | None:
    """The first relation that bars the decision, or None."""
    return next((r for r in CONFLICTS[decision] if r in parties), None)


def allows(decision: Decision, parties: Parties) -> bool:
    return conflict(decision, parties) is None


def refuse_conflicts(decision: Decision, parties: Parties) -> None:
    """403 ``conflict_of_interest``, naming the relation in ``conflict``, when one bars it."""
    found = conflict(decision, parties)
    if found is not None:
        raise Forbidden("conflict_of_interest", CONFLICTS[decision][found], conflict=found.value)


def buys_for(caller: Caller | None, department_id: int | None) -> bool:
    """Whether the caller is a buyer of this department (who runs its auctions)."""
    return (
        caller is not None
        and caller.has("buyer")
        and department_id is not None
        and caller.department_id == department_id
    )


def in_scope(caller: Caller, department_id: int) -> bool:
    """Finance and reviewers with a department work on its auctions only; without, on all."""
    return caller.department_id is None or caller.department_id == department_id


def reads_delivery(caller: Caller, department_id: int, winner_id: int | None) -> bool:
    """Who reads an auction's delivery and its verification: its department's buyers,
    reviewers in scope, the winner, auditors and admins."""
    return (
        caller.has("admin")
        or caller.has("auditor")
        or buys_for(caller, department_id)
        or (caller.has("reviewer") and in_scope(caller, department_id))
        or (winner_id is not None and winner_id == caller.id)
    )
