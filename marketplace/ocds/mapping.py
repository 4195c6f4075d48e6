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
