"""What each event does to an auction's OCDS state (marketplace/ocds/mapping.py's State):
one handler per event type, each returning the release tags the change earns."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketplace import events as ev
from marketplace.ocds.mapping import (
    DEPARTMENT_SCHEME,
    METHOD_DETAILS,
    AuctionFacts,
    Context,
    Handler,
    State,
    Tags,
    alias_number,
    iso,
    ocid_of,
)


def _published(state: State, event: ev.AuctionPublished) -> Tags:
    facts, ctx = state.facts, state.context
    state.published = True
    buyer = state.buyer_ref()
    party = state.add_roles(buyer["id"], "buyer", "procuringEntity", "payer")
    party["name"] = facts.department_name
    party["identifier"] = {
        "scheme": DEPARTMENT_SCHEME,
        "id": str(facts.department_id),
        "legalName": facts.department_name,
    }
    description = state.tender_description()
    url = f"{ctx.public_url}/auctions/{facts.auction_id}"
    techniques: dict[str, Any] = {"hasElectronicAuction": facts.type == "reverse"}
    if facts.type == "reverse":
        techniques["electronicAuction"] = {"url": url}
    tender: dict[str, Any] = {
        "id": str(facts.auction_id),
        "title": facts.title,
        "status": "active",
        "value": state.money(facts.price_cap_cents),
        "procuringEntity": buyer,
        "procurementMethod": "open",
        "procurementMethodDetails": METHOD_DETAILS.get(facts.type, METHOD_DETAILS["reverse"]),
        "awardCriteria": "priceOnly",
        "mainProcurementCategory": "services",
        "submissionMethod": ["electronicSubmission"],
        "tenderPeriod": {"startDate": iso(event.starts_at), "endDate": iso(event.ends_at)},
        "techniques": techniques,
        "items": [
            {
                "id": "1",
                "description": facts.title,
                "quantity": 1,
                "unit": {"name": "task", "value": state.money(facts.price_cap_cents)},
            }
        ],
    }
    if description:
        tender["description"] = description
    tender["documents"] = _task_documents(facts, ctx.github_url)
    state.release.update(
        {
            "ocid": ocid_of(ctx.prefix, facts.auction_id),
            "initiationType": "tender",
            "language": "en",
            "buyer": buyer,
            "tender": tender,
        }
    )
    if facts.previous_auction_id is not None:
        state.release["relatedProcesses"] = [_rerun_of(ctx, facts.previous_auction_id)]
    return ["tender"]


def _task_documents(facts: AuctionFacts, github_url: str) -> list[dict[str, Any]]:
    """Where the work is specified and delivered: the repository, and its issue if named."""
    documents = [
        {
            "id": "repository",
            "documentType": "technicalSpecifications",
            "title": f"GitHub repository {facts.repo}, where the work is delivered",
            "url": f"{github_url}/{facts.repo}",
            "format": "text/html",
        }
    ]
    if facts.issue_number is not None:
        documents.append(
            {
                "id": "issue",
                "documentType": "technicalSpecifications",
                "title": f"GitHub issue {facts.repo}#{facts.issue_number}",
                "url": f"{github_url}/{facts.repo}/issues/{facts.issue_number}",
                "format": "text/html",
            }
        )
    return documents


def _rerun_of(ctx: Context, previous_auction_id: int) -> dict[str, Any]:
    """The related process of a re-run: the earlier auction of the task."""
    previous = ocid_of(ctx.prefix, previous_auction_id)
    return {
        "id": "rerun-of",
        "relationship": ["unsuccessfulProcess"],
        "title": "The earlier auction of this task, which found no winner",
        "scheme": "ocid",
        "identifier": previous,
        "uri": f"{ctx.public_url}/api/ocds/records/{previous}",
    }


def _period_end(state: State, ends_at: dt.datetime) -> None:
    state.tender()["tenderPeriod"]["endDate"] = iso(ends_at)


def _opened(state: State, event: ev.AuctionOpened) -> Tags:
    _period_end(state, event.ends_at)
    return ["tenderUpdate"]


def _bid_placed(state: State, event: ev.BidPlaced) -> Tags:
    assert event.occurred_at is not None
    state.add_bid(
        event.bid_id, alias_number(event.bidder_alias), event.amount_cents, event.occurred_at
    )
    _period_end(state, event.ends_at)
    return ["tenderUpdate"]


def _extended(state: State, event: ev.AuctionExtended) -> Tags:
    _period_end(state, event.ends_at)
    return ["tenderUpdate"]


def _revealed(state: State, event: ev.BidsRevealed) -> Tags:
    state.closed = True
    for bid in event.bids:
        state.add_bid(bid.bid_id, alias_number(bid.bidder_alias), bid.amount_cents, bid.placed_at)
    state.name_parties()
    return ["tenderUpdate"]


def _awarded(state: State, event: ev.AuctionAwarded) -> Tags:
    assert event.occurred_at is not None
    if any(a["id"] == str(event.award_id) for a in state.release.get("awards", [])):
        return None  # a re-award announces its award twice; _reawarded mapped it
    number = state.bidder_by_user(event.winner_id)
    if number is None and event.winner_alias.startswith("Bidder "):
        number = alias_number(event.winner_alias)
    if number is None:
        return None
    state.closed = True
    state.tender()["status"] = "complete"
    state.tender()["awardPeriod"] = {
        "startDate": iso(event.occurred_at),
        "endDate": iso(event.occurred_at),
    }
    state.add_award(
        event.award_id, alias_number(event.winner_alias), event.amount_cents, event.occurred_at
    )
    state.name_parties()
    return ["award", "contract"]


def _closed_no_bids(state: State, event: ev.AuctionClosedNoBids) -> Tags:
    state.closed = True
    state.tender()["status"] = "unsuccessful"
    return ["tenderUpdate"]


def _cancelled(state: State, event: ev.AuctionCancelled) -> Tags:
    state.tender()["status"] = "cancelled"
    return ["tenderCancellation"]


def _end_award(state: State, award_id: str, contract_status: str) -> None:
    state.award(award_id)["status"] = "cancelled"
    contract = state.contract(award_id)
    contract["status"] = contract_status
    if state.milestone(award_id)["status"] == "scheduled":
        state.milestone(award_id)["status"] = "notMet"


def _declined(state: State, event: ev.AwardDeclined) -> Tags:
    _end_award(state, str(event.award_id), "cancelled")
    return ["awardCancellation", "contractTermination"]


def _reawarded(state: State, event: ev.AuctionReawarded) -> Tags:
    assert event.occurred_at is not None
    tags = ["award", "contract"]
    previous = str(event.previous_award_id)
    if state.award(previous)["status"] == "active":
        _end_award(state, previous, "terminated")
        tags = ["awardCancellation", "contractTermination", *tags]
    number = state.bidder_by_user(event.winner_id)
    if number is None:  # a bidder the facts do not know cannot be named: never guess
        return None
    state.add_award(event.award_id, number, event.amount_cents, event.occurred_at)
    state.name_parties()
    return tags


def _submitted(state: State, event: ev.DeliverySubmitted) -> Tags:
    # The pull request is the winner's work in progress; it becomes public when accepted.
    state.pull_requests[event.award_id] = event.pull_request_url
    return None


def _verified(state: State, event: ev.DeliveryVerified) -> Tags:
    state.pull_requests[event.award_id] = event.pull_request_url
    return None


def _reviewed(state: State, event: ev.ReviewDecided) -> Tags:
    assert event.occurred_at is not None
    award_id = str(event.award_id)
    milestone = state.milestone(award_id)
    milestone["dateModified"] = iso(event.occurred_at)
    if event.decision != "accept":
        milestone["status"] = "notMet"
        return ["implementationUpdate"]
    milestone["status"] = "met"
    milestone["dateMet"] = iso(event.occurred_at)
    url = state.pull_requests.get(event.award_id)
    accepted: dict[str, Any] = {
        "id": "delivery",
        "title": "Pull request accepted",
        "type": "delivery",
        "status": "met",
        "dateMet": iso(event.occurred_at),
    }
    if url:
        accepted["documents"] = [
            {
                "id": "pull-request",
                "documentType": "completionCertificate",
                "title": "The accepted pull request",
                "url": url,
                "datePublished": iso(event.occurred_at),
            }
        ]
    implementation = state.contract(award_id).setdefault("implementation", {})
    implementation["milestones"] = [accepted]
    return ["implementation"]


def _missed(state: State, event: ev.DeliveryMissed) -> Tags:
    assert event.occurred_at is not None
    milestone = state.milestone(str(event.award_id))
    milestone["status"] = "notMet"
    milestone["dueDate"] = iso(event.delivery_due_at)
    milestone["dateModified"] = iso(event.occurred_at)
    return ["implementationUpdate"]


def _deadline_extended(state: State, event: ev.DeliveryDeadlineExtended) -> Tags:
    assert event.occurred_at is not None
    milestone = state.milestone(str(event.award_id))
    milestone["dueDate"] = iso(event.delivery_due_at)
    milestone["dateModified"] = iso(event.occurred_at)
    if milestone["status"] == "notMet":
        milestone["status"] = "scheduled"
    return ["contractUpdate"]


def _released(state: State, event: ev.PaymentReleased) -> Tags:
    assert event.occurred_at is not None
    award_id = state.active_award_id()
    if award_id is None:
        return None
    payee = state.bidder_ref(state.award_winner[award_id])
    implementation = state.contract(award_id).setdefault("implementation", {})
    implementation.setdefault("transactions", []).append(
        {
            "id": f"payment-{event.payment_id}",
            "source": f"{state.context.public_url}/api/ocds/records/"
            f"{ocid_of(state.context.prefix, state.facts.auction_id)}",
            "date": iso(event.occurred_at),
            "value": state.money(event.amount_cents),
            "payer": state.buyer_ref(),
            "payee": payee,
        }
    )
    return ["implementation"]


def _confirmed(state: State, event: ev.PaymentConfirmed) -> Tags:
    award_id = state.active_award_id()
    if award_id is None:
        return None
    state.contract(award_id)["status"] = "terminated"
    return ["contractTermination"]


def _answered(state: State, event: ev.QuestionAnswered) -> Tags:
    """An answered question is public: a tender document of type clarifications, question
    and answer in its description (who asked is in no event)."""
    tender = state.tender()
    state.add_tender_document(
        f"question-{event.question_id}",
        "clarifications",
        f"Clarification question {event.question_id}",
        f"{state.context.public_url}/auctions/{event.auction_id}#question-{event.question_id}",
        event.answered_at,
    )
    tender["documents"][-1]["description"] = f"Question: {event.question}\n\nAnswer: {event.answer}"
    tender["hasEnquiries"] = True
    return ["tenderUpdate"]


_AMENDED_NAMES = {"description": "description", "acceptance": "acceptance criteria"}


def _amended(state: State, event: ev.AuctionAmended) -> Tags:
    """The buyer's amendment: the new texts, the moved close, and what changed why."""
    new = {"description": event.description, "acceptance": event.acceptance}
    for name in event.changed:
        text = new.get(name)
        if text is not None:
            state.texts[name] = text
    changed = " and ".join(_AMENDED_NAMES.get(name, name) for name in event.changed)
    state.amend_tender(
        f"amendment-{event.amendment_id}",
        event.amended_at,
        event.reason,
        f"The buyer amended the {changed}.",
    )
    amendment = state.tender()["amendments"][-1]
    if state.last_release_id is not None:
        amendment["amendsReleaseID"] = state.last_release_id
    amendment["releaseID"] = str(event.event_id)
    state.tender()["description"] = state.tender_description()
    _period_end(state, event.ends_at)
    return ["tenderAmendment"]


HANDLERS: dict[str, Handler] = {
    "auction.published": _published,
    "auction.opened": _opened,
    "bid.placed": _bid_placed,
    "auction.extended": _extended,
    "bids.revealed": _revealed,
    "auction.awarded": _awarded,
    "auction.closed_no_bids": _closed_no_bids,
    "auction.cancelled": _cancelled,
    "award.declined": _declined,
    "auction.reawarded": _reawarded,
    "delivery.submitted": _submitted,
    "delivery.verified": _verified,
    "review.decided": _reviewed,
    "auction.missed_delivery": _missed,
    "delivery.deadline_extended": _deadline_extended,
    "payment.released": _released,
    "payment.confirmed": _confirmed,
    "question.answered": _answered,
    "auction.amended": _amended,
}
