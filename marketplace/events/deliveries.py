"""After the award: the winner's delivery, its verification on GitHub, the review, and
what happens when a winner declines or misses the deadline."""

from __future__ import annotations

import datetime as dt

from marketplace.events.base import AuctionEvent


class DeliverySubmitted(AuctionEvent, frozen=True, kw_only=True, tag="delivery.submitted"):
    award_id: int
    delivery_id: int
    winner_id: int
    pull_request_url: str
    repo: str
    pr_number: int
    resubmission: bool = False


class DeliveryVerified(AuctionEvent, frozen=True, kw_only=True, tag="delivery.verified"):
    award_id: int
    delivery_id: int
    verification_id: int
    pull_request_url: str
    merged_at: dt.datetime | None = None


class DeliveryVerificationFailed(
    AuctionEvent, frozen=True, kw_only=True, tag="delivery.verification_failed"
):
    award_id: int
    delivery_id: int
    verification_id: int
    failed_checks: list[str]
    reasons: list[str]


class GithubAccessLost(AuctionEvent, frozen=True, kw_only=True, tag="auction.github_access_lost"):
    """GitHub App mode: the App cannot read the auction's repository, so deliveries on it
    cannot be verified. ``reason``: 'not_installed' (seen when the auction was published or
    checked) or 'removed' (the repository left the installation, or the App was uninstalled
    or suspended)."""

    repo: str
    reason: str
    detail: str


class ReviewDecided(AuctionEvent, frozen=True, kw_only=True, tag="review.decided"):
    award_id: int
    reviewer_id: int
    decision: str
    reason: str


class AwardDeclined(AuctionEvent, frozen=True, kw_only=True, tag="award.declined"):
    award_id: int
    winner_id: int
    reason: str


class AuctionReawarded(AuctionEvent, frozen=True, kw_only=True, tag="auction.reawarded"):
    award_id: int
    round: int
    winner_id: int
    amount_cents: int
    previous_award_id: int


class DeliveryMissed(AuctionEvent, frozen=True, kw_only=True, tag="auction.missed_delivery"):
    award_id: int
    delivery_due_at: dt.datetime


class DeliveryDeadlineExtended(
    AuctionEvent, frozen=True, kw_only=True, tag="delivery.deadline_extended"
):
    award_id: int
    delivery_due_at: dt.datetime
    reason: str
