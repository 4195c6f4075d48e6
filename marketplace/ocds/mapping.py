"""An auction's events as OCDS 1.1.5 releases (with the bids and techniques extensions).

Pure functions: ``releases(facts, events, context)`` folds the auction's outbox events, in
order, into one cumulative snapshot and emits a copy of it per event that changes what the
public may know. Each release is whole (it repeats everything known so far), so merging them
in date order (marketplace/ocds/merge.py, as ocdsmerge does) gives the last state.

Secrecy (DESIGN §4, §8): drafts publish nothing; a sealed auction emits no bid event before its
close, so its bids first appear in the release of ``bids.revealed``; a reverse auction's
bidders are parties ``bidder-N`` named "Bidder N" (their alias) until close, and only then
are businesses and winners named. Losing individuals and students stay "Bidder N", with no
identifier, in every release. Party ids stay ``bidder-N`` within an ocid so that a release
never has to take back a name it gave; the vendor behind a named party is its
``identifier`` (scheme ``X-MARKETPLACE-VENDOR``), stable across auctions.

New kinds of event map by adding a handler to ``HANDLERS`` (tag -> function returning the
release tags, or None for an event that changes nothing public).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from marketplace import events as ev

VENDOR_SCHEME = "X-MARKETPLACE-VENDOR"
DEPARTMENT_SCHEME = "X-MARKETPLACE-DEPARTMENT"
METHOD_DETAILS = {
    "reverse": "Micro-purchase reverse auction",
    "sealed": "Micro-purchase sealed-bid auction",
}


class Bidder(msgspec.Struct, frozen=True, kw_only=True):
    """A vendor who bid on the auction; loaded only once the auction has closed."""

    alias_number: int
    user_id: int
    name: str
    kind: str | None = None  # business, individual or student


class AuctionFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the auction row says about the task (fixed once published)."""

    auction_id: int
    department_id: int
    department_name: str
    title: str
    summary: str = ""
    description: str = ""
    acceptance: str = ""  # the acceptance criteria
    repo: str
    issue_number: int | None = None
    type: str = "reverse"
    price_cap_cents: int
    skills: tuple[str, ...] = ()
    previous_auction_id: int | None = None  # the task this one re-runs
    delivery_due_at: dt.datetime | None = None
    # Each award's delivery deadline (award id -> due), as stored at the award.
    award_due_at: dict[int, dt.datetime] = msgspec.field(default_factory=dict)
    bidders: tuple[Bidder, ...] = ()


class Context(msgspec.Struct, frozen=True, kw_only=True):
    prefix: str = "ocds-000000"
    currency: str = "USD"
    public_url: str = "http://127.0.0.1:8000"
    github_url: str = "https://github.com"


def ocid_of(prefix: str, auction_id: int) -> str:
    return f"{prefix}-{auction_id}"


def auction_id_of(prefix: str, ocid: str) -> int | None:
    """The auction id an ocid of this deployment names, or None."""
    head, sep, tail = ocid.rpartition("-")
    if not sep or head != prefix or not tail.isdigit() or tail.startswith("0"):
        return None
    return int(tail)


def iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def money(cents: int, currency: str) -> dict[str, Any]:
    return {"amount": cents / 100, "currency": currency}


def alias_number(alias: str) -> int:
    """3 from "Bidder 3"."""
    return int(alias.rsplit(" ", 1)[-1])


class State:
    """The snapshot being folded, plus what the fold remembers but does not publish."""

    def __init__(
        self, facts: AuctionFacts, context: Context, texts: dict[str, str] | None = None
    ) -> None:
        self.facts = facts
        self.context = context
        self.release: dict[str, Any] = {}
        self.published = False
        self.closed = False
        self.winners: set[int] = set()  # alias numbers of every winner so far
        self.award_winner: dict[str, int] = {}  # award id -> alias number
        self.pull_requests: dict[int, str] = {}  # award id -> latest submitted PR URL
        # The texts as first published (the facts hold the latest, after any amendment);
        # each amendment's handler moves them on.
        self.texts = texts or {"description": facts.description, "acceptance": facts.acceptance}
        self.last_release_id: str | None = None

    # -- pieces -----------------------------------------------------------------------
    def money(self, cents: int) -> dict[str, Any]:
        return money(cents, self.context.currency)

    def buyer_ref(self) -> dict[str, Any]:
        return {"id": f"department-{self.facts.department_id}", "name": self.facts.department_name}

    def party(self, party_id: str) -> dict[str, Any]:
        parties: list[dict[str, Any]] = self.release.setdefault("parties", [])
        for party in parties:
            if party["id"] == party_id:
                return party
        party = {"id": party_id, "roles": []}
        parties.append(party)
        return party

    def add_roles(self, party_id: str, *roles: str) -> dict[str, Any]:
        party = self.party(party_id)
        for role in roles:
            if role not in party["roles"]:
                party["roles"].append(role)
        return party

    def bidder_ref(self, number: int) -> dict[str, Any]:
        party_id = f"bidder-{number}"
        party = self.add_roles(party_id, "tenderer")
        party.setdefault("name", f"Bidder {number}")
        return {"id": party_id, "name": party["name"]}

    def bidder_by_user(self, user_id: int) -> int | None:
        for bidder in self.facts.bidders:
            if bidder.user_id == user_id:
                return bidder.alias_number
        return None

    def name_parties(self) -> None:
        """After close: businesses and winners by name (with their vendor id), everyone
        else stays their alias; references in bids, awards and payments follow."""
        if not self.closed:
            return
        names: dict[str, str] = {}
        for bidder in self.facts.bidders:
            if bidder.kind != "business" and bidder.alias_number not in self.winners:
                continue
            party_id = f"bidder-{bidder.alias_number}"
            party = self.add_roles(party_id, "tenderer")
            party["name"] = bidder.name
            party["identifier"] = {
                "scheme": VENDOR_SCHEME,
                "id": f"vendor-{bidder.user_id}",
                "legalName": bidder.name,
            }
            names[party_id] = bidder.name
        for ref in self._references():
            if ref.get("id") in names:
                ref["name"] = names[ref["id"]]

    def _references(self) -> Iterable[dict[str, Any]]:
        for bid in self.release.get("bids", {}).get("details", []):
            yield from bid["tenderers"]
        for award in self.release.get("awards", []):
            yield from award.get("suppliers", [])
        for contract in self.release.get("contracts", []):
            for tx in contract.get("implementation", {}).get("transactions", []):
                yield tx["payee"]

    def tender_description(self) -> str:
        """Summary, description and acceptance criteria, as the tender's one description."""
        texts = self.texts
        acceptance = f"Acceptance criteria:\n{texts['acceptance']}" if texts["acceptance"] else ""
        return "\n\n".join(p for p in (self.facts.summary, texts["description"], acceptance) if p)

    def tender(self) -> dict[str, Any]:
        tender: dict[str, Any] = self.release["tender"]
        return tender

    def details(self) -> list[dict[str, Any]]:
        bids: dict[str, Any] = self.release.setdefault("bids", {})
        details: list[dict[str, Any]] = bids.setdefault("details", [])
        return details

    def add_bid(self, bid_id: int, number: int, cents: int, at: dt.datetime) -> None:
        details = self.details()
        if any(d["id"] == str(bid_id) for d in details):
            return
        details.append(
            {
                "id": str(bid_id),
                "date": iso(at),
                "status": "valid",
                "tenderers": [self.bidder_ref(number)],
                "value": self.money(cents),
            }
        )
        self._statistics(at)

    def _statistics(self, at: dt.datetime) -> None:
        details = self.details()
        amounts = [round(d["value"]["amount"] * 100) for d in details]
        bidders = {d["tenderers"][0]["id"] for d in details}
        date = iso(at)
        currency = self.context.currency
        self.release["bids"]["statistics"] = [
            {"id": "bids", "measure": "bids", "value": len(details), "date": date},
            {"id": "validBids", "measure": "validBids", "value": len(details), "date": date},
            {
                "id": "lowestValidBidValue",
                "measure": "lowestValidBidValue",
                "value": min(amounts) / 100,
                "currency": currency,
                "date": date,
            },
            {
                "id": "highestValidBidValue",
                "measure": "highestValidBidValue",
                "value": max(amounts) / 100,
                "currency": currency,
                "date": date,
            },
            {"id": "bidders", "measure": "bidders", "value": len(bidders), "date": date},
        ]
        self.tender()["numberOfTenderers"] = len(bidders)

    def winning_bid(self, number: int) -> dict[str, Any] | None:
        """The bidder's lowest bid (the earliest of equal ones): the one an award is for."""
        mine = [d for d in self.details() if d["tenderers"][0]["id"] == f"bidder-{number}"]
        return min(mine, key=lambda d: (d["value"]["amount"], d["date"]), default=None)

    def contract(self, award_id: str) -> dict[str, Any]:
        for contract in self.release.get("contracts", []):
            if contract["awardID"] == award_id:
                found: dict[str, Any] = contract
                return found
        raise KeyError(award_id)

    def award(self, award_id: str) -> dict[str, Any]:
        for award in self.release.get("awards", []):
            if award["id"] == award_id:
                found: dict[str, Any] = award
                return found
        raise KeyError(award_id)

    def active_award_id(self) -> str | None:
        for award in self.release.get("awards", []):
            if award["status"] == "active":
                found: str = award["id"]
                return found
        return None

    def add_award(self, award_id: int, number: int, cents: int, at: dt.datetime) -> None:
        self.winners.add(number)
        self.award_winner[str(award_id)] = number
        supplier = self.bidder_ref(number)
        self.add_roles(supplier["id"], "supplier", "payee")
        award: dict[str, Any] = {
            "id": str(award_id),
            "title": self.facts.title,
            "status": "active",
            "date": iso(at),
            "value": self.money(cents),
            "suppliers": [supplier],
        }
        bid = self.winning_bid(number)
        if bid is not None:
            award["relatedBid"] = bid["id"]
        self.release.setdefault("awards", []).append(award)
        milestone: dict[str, Any] = {
            "id": "delivery",
            "title": "Merged pull request delivered",
            "type": "delivery",
            "status": "scheduled",
        }
        due = self.facts.award_due_at.get(award_id, self.facts.delivery_due_at)
        if due is not None:
            milestone["dueDate"] = iso(due)
        self.release.setdefault("contracts", []).append(
            {
                "id": str(award_id),
                "awardID": str(award_id),
                "title": self.facts.title,
                "status": "active",
                "value": self.money(cents),
                "dateSigned": iso(at),
                "milestones": [milestone],
            }
        )

    def amend_tender(
        self, amendment_id: str, at: dt.datetime, rationale: str, description: str | None = None
    ) -> None:
        """Record a change to a published tender (tender.amendments[]); its handler tags the
        release ``tenderAmendment``. The fields it changed are set by that handler."""
        amendment: dict[str, Any] = {"id": amendment_id, "date": iso(at), "rationale": rationale}
        if description:
            amendment["description"] = description
        self.tender().setdefault("amendments", []).append(amendment)

    def add_tender_document(
        self, document_id: str, document_type: str, title: str, url: str, at: dt.datetime
    ) -> None:
        """Publish a document of the tender, e.g. answered questions (``clarifications``)."""
        documents: list[dict[str, Any]] = self.tender().setdefault("documents", [])
        documents[:] = [d for d in documents if d["id"] != document_id]
        documents.append(
            {
                "id": document_id,
                "documentType": document_type,
                "title": title,
                "url": url,
                "datePublished": iso(at),
            }
        )

    def milestone(self, award_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.contract(award_id)["milestones"][0]
        return found


# -- handlers -------------------------------------------------------------------------
Tags = list[str] | None
Handler = Callable[[State, Any], Tags]


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


def as_published(facts: AuctionFacts, events: Iterable[ev.Event]) -> dict[str, str]:
    """The description and acceptance criteria as first published: what the first
    amendment changing each replaced, or the facts' (latest) text when none did."""
    first: dict[str, str] = {}
    for event in events:
        if isinstance(event, ev.AuctionAmended):
            replaced = {
                "description": event.previous_description,
                "acceptance": event.previous_acceptance,
            }
            for name, text in replaced.items():
                if text is not None and name in event.changed:
                    first.setdefault(name, text)
    return {"description": facts.description, "acceptance": facts.acceptance, **first}


def tag_of(event: ev.Event) -> str:
    tag: str = type(event).__struct_config__.tag  # type: ignore[assignment]
    return tag


def releases(
    facts: AuctionFacts,
    events: Iterable[ev.Event],
    context: Context,
    handlers: dict[str, Handler] | None = None,
) -> list[dict[str, Any]]:
    """The auction's releases, one per event that changes what the public may know, in
    event order. Nothing before ``auction.published``: a draft is its department's."""
    events = list(events)
    state = State(facts, context, as_published(facts, events))
    table = HANDLERS if handlers is None else handlers
    out: list[dict[str, Any]] = []
    for event in events:
        handler = table.get(tag_of(event))
        if handler is None or (not state.published and tag_of(event) != "auction.published"):
            continue
        tags = handler(state, event)
        if tags is None:
            continue
        assert event.occurred_at is not None
        release = _copy(state.release)
        release["id"] = str(event.event_id)
        release["date"] = iso(event.occurred_at)
        release["tag"] = tags
        state.last_release_id = release["id"]
        out.append(_ordered(release))
    return out


_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def _copy(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON-shaped snapshot (through msgspec: many times copy.deepcopy's
    speed, which matters at one copy per release)."""
    copied: dict[str, Any] = _json_decoder.decode(_json_encoder.encode(snapshot))
    return copied


_ORDER = (
    "ocid",
    "id",
    "date",
    "tag",
    "initiationType",
    "language",
    "parties",
    "buyer",
    "tender",
    "bids",
    "awards",
    "contracts",
    "relatedProcesses",
)


def _ordered(release: dict[str, Any]) -> dict[str, Any]:
    return {k: release[k] for k in _ORDER if k in release}
