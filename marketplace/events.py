"""Every state change as a typed event: a tagged union with stable, past-tense tags.

An event's ``event_id`` is its outbox sequence number and ``occurred_at`` the database
time it was written; both are filled in when the event is read back from the outbox.
New fields get defaults; types never change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

# What a sealed auction's events may not say before its bids are revealed (DESIGN §4):
# these types are left out of its feeds and webhooks altogether (none are emitted for a
# sealed auction; this is a second lock), and these fields dropped from the others (a
# cancellation would tell how many sealed bids it voided).
SEALED_HIDDEN = frozenset({"bid.placed", "auction.extended"})
SEALED_STRIPPED = {"auction.cancelled": ("voided_bids",)}


def sealed_view(event_type: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """A sealed auction's event as anyone outside the auction may see it; None to leave it
    out. ``data`` is the event's JSON object, changed in place."""
    if event_type in SEALED_HIDDEN:
        return None
    for name in SEALED_STRIPPED.get(event_type, ()):
        data.pop(name, None)
    return data


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    event_id: int = 0
    occurred_at: dt.datetime | None = None


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


class AuctionCreated(Event, frozen=True, kw_only=True, tag="auction.created"):
    auction_id: int
    department_id: int


class AuctionUpdated(Event, frozen=True, kw_only=True, tag="auction.updated"):
    auction_id: int


class AuctionPublished(Event, frozen=True, kw_only=True, tag="auction.published"):
    auction_id: int
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime


class AuctionOpened(Event, frozen=True, kw_only=True, tag="auction.opened"):
    auction_id: int
    ends_at: dt.datetime


class AuctionCancelled(Event, frozen=True, kw_only=True, tag="auction.cancelled"):
    auction_id: int
    reason: str
    voided_bids: int = 0


class BidPlaced(Event, frozen=True, kw_only=True, tag="bid.placed"):
    auction_id: int
    bid_id: int
    amount_cents: int
    bidder_alias: str
    ends_at: dt.datetime


class AuctionExtended(Event, frozen=True, kw_only=True, tag="auction.extended"):
    auction_id: int
    ends_at: dt.datetime
    extensions: int


class RevealedBid(msgspec.Struct, frozen=True, kw_only=True):
    bid_id: int
    bidder_id: int
    bidder_alias: str
    amount_cents: int
    placed_at: dt.datetime


class BidsRevealed(Event, frozen=True, kw_only=True, tag="bids.revealed"):
    auction_id: int
    bids: list[RevealedBid]


class AuctionAwarded(Event, frozen=True, kw_only=True, tag="auction.awarded"):
    auction_id: int
    award_id: int
    winner_id: int
    winner_alias: str
    amount_cents: int
    runner_up_ids: list[int]


class AuctionClosedNoBids(Event, frozen=True, kw_only=True, tag="auction.closed_no_bids"):
    auction_id: int


class ReviewDecided(Event, frozen=True, kw_only=True, tag="review.decided"):
    auction_id: int
    award_id: int
    reviewer_id: int
    decision: str
    reason: str


class PaymentCreated(Event, frozen=True, kw_only=True, tag="payment.created"):
    auction_id: int
    payment_id: int
    payee_id: int
    amount_cents: int
    release_after: dt.datetime
    missing_details: bool = False


class PaymentReleased(Event, frozen=True, kw_only=True, tag="payment.released"):
    auction_id: int
    payment_id: int
    payee_id: int
    amount_cents: int
    provider_reference: str
    missing_details: bool = False


class PaymentFailed(Event, frozen=True, kw_only=True, tag="payment.failed"):
    auction_id: int
    payment_id: int
    error: str
    attempts: int


class PaymentConfirmed(Event, frozen=True, kw_only=True, tag="payment.confirmed"):
    auction_id: int
    payment_id: int


class PaymentExecuted(Event, frozen=True, kw_only=True, tag="payment.executed"):
    """Finance recorded that the released order was paid out (card payment or transfer)."""

    auction_id: int
    payment_id: int
    payee_id: int


class PaymentDetailsProvided(Event, frozen=True, kw_only=True, tag="payment.details_provided"):
    """The payee gave the payment details an order lacked."""

    auction_id: int
    payment_id: int


class PaymentDisputed(Event, frozen=True, kw_only=True, tag="payment.disputed"):
    auction_id: int
    payment_id: int
    dispute_id: int
    opened_by: int
    reason: str


class DisputeResolved(Event, frozen=True, kw_only=True, tag="payment.dispute_resolved"):
    auction_id: int
    payment_id: int
    dispute_id: int
    outcome: str
    reason: str


class PaymentCancelled(Event, frozen=True, kw_only=True, tag="payment.cancelled"):
    auction_id: int
    payment_id: int
    reason: str


class AuctionReawarded(Event, frozen=True, kw_only=True, tag="auction.reawarded"):
    auction_id: int
    award_id: int
    round: int
    winner_id: int
    amount_cents: int
    previous_award_id: int


class AwardDeclined(Event, frozen=True, kw_only=True, tag="award.declined"):
    auction_id: int
    award_id: int
    winner_id: int
    reason: str


class DeliveryMissed(Event, frozen=True, kw_only=True, tag="auction.missed_delivery"):
    auction_id: int
    award_id: int
    delivery_due_at: dt.datetime


class DeliveryDeadlineExtended(Event, frozen=True, kw_only=True, tag="delivery.deadline_extended"):
    auction_id: int
    award_id: int
    delivery_due_at: dt.datetime
    reason: str


class AuctionRerun(Event, frozen=True, kw_only=True, tag="auction.rerun"):
    auction_id: int
    new_auction_id: int


class DeliverySubmitted(Event, frozen=True, kw_only=True, tag="delivery.submitted"):
    auction_id: int
    award_id: int
    delivery_id: int
    winner_id: int
    pull_request_url: str
    repo: str
    pr_number: int
    resubmission: bool = False


class DeliveryVerified(Event, frozen=True, kw_only=True, tag="delivery.verified"):
    auction_id: int
    award_id: int
    delivery_id: int
    verification_id: int
    pull_request_url: str
    merged_at: dt.datetime | None = None


class DeliveryVerificationFailed(
    Event, frozen=True, kw_only=True, tag="delivery.verification_failed"
):
    auction_id: int
    award_id: int
    delivery_id: int
    verification_id: int
    failed_checks: list[str]
    reasons: list[str]


class QuestionAsked(Event, frozen=True, kw_only=True, tag="question.asked"):
    """A vendor asked a clarification question. Relayed to the global stream only (the
    department's buyers are told): until answered, a question is not public, and nothing
    here names who asked."""

    auction_id: int
    question_id: int


class QuestionAnswered(Event, frozen=True, kw_only=True, tag="question.answered"):
    """The department's buyer answered a question, for every bidder to read; on the
    auction's stream. Never names who asked."""

    auction_id: int
    question_id: int
    question: str
    answer: str
    asked_at: dt.datetime
    answered_at: dt.datetime


class AuctionAmended(Event, frozen=True, kw_only=True, tag="auction.amended"):
    """The buyer amended a scheduled or open auction's description or acceptance criteria.
    Each changed text comes with the one it replaced (null when that text is unchanged);
    ``ends_at`` moved later when too little bidding time was left."""

    auction_id: int
    amendment_id: int
    reason: str
    amended_at: dt.datetime
    changed: list[str]
    description: str | None = None
    previous_description: str | None = None
    acceptance: str | None = None
    previous_acceptance: str | None = None
    ends_at: dt.datetime
    previous_ends_at: dt.datetime
    questions_close_at: dt.datetime | None = None


class GithubAccessLost(Event, frozen=True, kw_only=True, tag="auction.github_access_lost"):
    """GitHub App mode: the App cannot read the auction's repository, so deliveries on it
    cannot be verified. ``reason``: 'not_installed' (seen when the auction was published or
    checked) or 'removed' (the repository left the installation, or the App was uninstalled
    or suspended)."""

    auction_id: int
    repo: str
    reason: str
    detail: str


AnyEvent = (
    DepartmentCreated
    | DepartmentUpdated
    | UserCreated
    | UserRolesChanged
    | VerificationRequested
    | VerificationDecided
    | GithubAccountLinked
    | TokenIssuedForUser
    | EmailConfirmationSent
    | AuctionCreated
    | AuctionUpdated
    | AuctionPublished
    | AuctionOpened
    | AuctionCancelled
    | BidPlaced
    | AuctionExtended
    | BidsRevealed
    | AuctionAwarded
    | AuctionClosedNoBids
    | ReviewDecided
    | PaymentCreated
    | PaymentReleased
    | PaymentFailed
    | PaymentConfirmed
    | PaymentExecuted
    | PaymentDetailsProvided
    | PaymentDisputed
    | DisputeResolved
    | PaymentCancelled
    | DeliverySubmitted
    | DeliveryVerified
    | DeliveryVerificationFailed
    | AuctionReawarded
    | AwardDeclined
    | DeliveryMissed
    | DeliveryDeadlineExtended
    | AuctionRerun
    | QuestionAsked
    | QuestionAnswered
    | AuctionAmended
    | GithubAccessLost
)

_decoder = msgspec.json.Decoder(AnyEvent)
_encoder = msgspec.json.Encoder()


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(raw: bytes) -> AnyEvent:
    event: AnyEvent = _decoder.decode(raw)
    return event
