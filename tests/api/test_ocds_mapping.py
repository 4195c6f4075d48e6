"""Table tests of the pure OCDS mapping: events in, releases out (marketplace/ocds/mapping.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import msgspec
import pytest

from marketplace import events as ev
from marketplace.ocds import assemble, handlers, mapping
from marketplace.ocds.merge import compile_releases

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
CTX = mapping.Context(prefix="ocds-abc123", public_url="https://mp.example")
BIDDERS = (
    mapping.Bidder(alias_number=1, user_id=11, name="Ada Person", kind="individual"),
    mapping.Bidder(alias_number=2, user_id=12, name="Acme LLC", kind="business"),
    mapping.Bidder(alias_number=3, user_id=13, name="Sam Student", kind="student"),
)


def facts(kind: str = "reverse", **extra: Any) -> mapping.AuctionFacts:
    return mapping.AuctionFacts(
        auction_id=7,
        department_id=3,
        department_name="Parks",
        title="Fix the map",
        summary="Short",
        repo="parks/map",
        issue_number=12,
        type=kind,
        price_cap_cents=350_000,
        bidders=BIDDERS,
        **extra,
    )


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def stamp(events: list[ev.Event]) -> list[ev.Event]:
    return [
        msgspec.structs.replace(e, event_id=100 + i, occurred_at=at(i))
        for i, e in enumerate(events)
    ]


PUBLISH = [
    ev.AuctionCreated(auction_id=7, department_id=3),
    ev.AuctionUpdated(auction_id=7),
    ev.AuctionPublished(auction_id=7, status="scheduled", starts_at=at(5), ends_at=at(120)),
    ev.AuctionOpened(auction_id=7, ends_at=at(120)),
]
REVERSE_BIDS = [
    ev.BidPlaced(
        auction_id=7, bid_id=901, amount_cents=300_000, bidder_alias="Bidder 1", ends_at=at(120)
    ),
    ev.BidPlaced(
        auction_id=7, bid_id=902, amount_cents=290_000, bidder_alias="Bidder 2", ends_at=at(120)
    ),
    ev.BidPlaced(
        auction_id=7, bid_id=903, amount_cents=280_000, bidder_alias="Bidder 3", ends_at=at(124)
    ),
    ev.AuctionExtended(auction_id=7, ends_at=at(124), extensions=1),
]
AWARD_TO_3 = ev.AuctionAwarded(
    auction_id=7,
    award_id=50,
    winner_id=13,
    winner_alias="Bidder 3",
    amount_cents=280_000,
    runner_up_ids=[12, 11],
)


def names(release: dict[str, Any]) -> dict[str, str]:
    return {p["id"]: p["name"] for p in release["parties"]}


def test_a_draft_publishes_nothing() -> None:
    assert assemble.releases(facts(), stamp(PUBLISH[:2]), CTX) == []


def test_tender_release_fields() -> None:
    first = assemble.releases(facts(), stamp(PUBLISH), CTX)[0]
    assert first["ocid"] == "ocds-abc123-7" and first["id"] == "102"
    assert first["tag"] == ["tender"] and first["initiationType"] == "tender"
    tender = first["tender"]
    assert tender["value"] == {"amount": 3500.0, "currency": "USD"}
    assert tender["procurementMethodDetails"] == "Micro-purchase reverse auction"
    assert tender["techniques"] == {
        "hasElectronicAuction": True,
        "electronicAuction": {"url": "https://mp.example/auctions/7"},
    }
    assert [d["url"] for d in tender["documents"]] == [
        "https://github.com/parks/map",
        "https://github.com/parks/map/issues/12",
    ]
    assert {tuple(p["roles"]) for p in first["parties"]} == {("buyer", "procuringEntity", "payer")}
    assert "bids" not in first


@pytest.mark.parametrize(
    ("closing", "named"),
    [
        # Open: aliases only, even though the facts hold the bidders.
        ([], {"bidder-1": "Bidder 1", "bidder-2": "Bidder 2", "bidder-3": "Bidder 3"}),
        # Cancelled before close: still aliases.
        (
            [ev.AuctionCancelled(auction_id=7, reason="no budget", voided_bids=3)],
            {"bidder-1": "Bidder 1", "bidder-2": "Bidder 2", "bidder-3": "Bidder 3"},
        ),
        # Awarded to a student: the winner and the business by name; the losing
        # individual stays an alias.
        ([AWARD_TO_3], {"bidder-1": "Bidder 1", "bidder-2": "Acme LLC", "bidder-3": "Sam Student"}),
    ],
)
def test_reverse_bidders_by_alias_until_close(
    closing: list[ev.Event], named: dict[str, str]
) -> None:
    out = assemble.releases(facts(), stamp(PUBLISH + REVERSE_BIDS + closing), CTX)
    last = out[-1]
    assert {k: v for k, v in names(last).items() if k.startswith("bidder")} == named
    for release in out:
        for party in release["parties"]:
            if party["name"].startswith("Bidder "):
                assert "identifier" not in party
    # Releases dated before close never carry a name.
    for release in out[:-1] if closing else out:
        assert all(
            n.startswith("Bidder") for k, n in names(release).items() if k.startswith("bidder")
        )
    assert last["tender"]["tenderPeriod"]["endDate"] == "2026-03-02T11:04:00Z"


def test_award_release() -> None:
    out = assemble.releases(facts(), stamp(PUBLISH + REVERSE_BIDS + [AWARD_TO_3]), CTX)
    last = out[-1]
    assert last["tag"] == ["award", "contract"]
    assert last["tender"]["status"] == "complete"
    award = last["awards"][0]
    assert award["relatedBid"] == "903" and award["status"] == "active"
    assert award["suppliers"] == [{"id": "bidder-3", "name": "Sam Student"}]
    stats = {s["measure"]: s["value"] for s in last["bids"]["statistics"]}
    assert stats == {
        "bids": 3,
        "validBids": 3,
        "lowestValidBidValue": 2800.0,
        "highestValidBidValue": 3000.0,
        "bidders": 3,
    }
    winner = next(p for p in last["parties"] if p["id"] == "bidder-3")
    assert winner["identifier"]["id"] == "vendor-13"
    assert set(winner["roles"]) == {"tenderer", "supplier", "payee"}


def test_sealed_bids_only_from_the_close() -> None:
    revealed = ev.BidsRevealed(
        auction_id=7,
        bids=[
            ev.RevealedBid(
                bid_id=1,
                bidder_id=11,
                bidder_alias="Bidder 1",
                amount_cents=200_000,
                placed_at=at(10),
            ),
            ev.RevealedBid(
                bid_id=2,
                bidder_id=12,
                bidder_alias="Bidder 2",
                amount_cents=250_000,
                placed_at=at(11),
            ),
        ],
    )
    award = ev.AuctionAwarded(
        auction_id=7,
        award_id=51,
        winner_id=11,
        winner_alias="Bidder 1",
        amount_cents=200_000,
        runner_up_ids=[12],
    )
    out = assemble.releases(facts("sealed"), stamp([*PUBLISH, revealed, award]), CTX)
    close = at(4)
    for release in out:
        if "bids" in release:
            assert dt.datetime.fromisoformat(release["date"]) >= close
    assert [r["tag"] for r in out] == [
        ["tender"],
        ["tenderUpdate"],
        ["tenderUpdate"],
        ["award", "contract"],
    ]
    assert "bids" not in out[1]
    assert out[0]["tender"]["techniques"] == {"hasElectronicAuction": False}
    assert names(out[-1])["bidder-1"] == "Ada Person"  # an individual winner by name


def delivery(award_id: int, url: str) -> list[ev.Event]:
    return [
        ev.DeliverySubmitted(
            auction_id=7,
            award_id=award_id,
            delivery_id=1,
            winner_id=13,
            pull_request_url=url,
            repo="parks/map",
            pr_number=4,
        ),
        ev.DeliveryVerified(
            auction_id=7, award_id=award_id, delivery_id=1, verification_id=1, pull_request_url=url
        ),
    ]


def test_delivery_review_payment() -> None:
    url = "https://github.com/parks/map/pull/4"
    tail = [
        *delivery(50, url),
        ev.ReviewDecided(auction_id=7, award_id=50, reviewer_id=5, decision="accept", reason="ok"),
        ev.PaymentReleased(
            auction_id=7, payment_id=70, payee_id=13, amount_cents=280000, provider_reference="L-1"
        ),
        ev.PaymentConfirmed(auction_id=7, payment_id=70),
    ]
    out = assemble.releases(facts(), stamp(PUBLISH + REVERSE_BIDS + [AWARD_TO_3] + tail), CTX)
    assert [r["tag"] for r in out[-3:]] == [
        ["implementation"],
        ["implementation"],
        ["contractTermination"],
    ]
    contract = out[-1]["contracts"][0]
    assert contract["milestones"][0]["status"] == "met"
    document = contract["implementation"]["milestones"][0]["documents"][0]
    assert document == {**document, "documentType": "completionCertificate", "url": url}
    tx = contract["implementation"]["transactions"][0]
    assert tx["id"] == "payment-70" and tx["payee"] == {"id": "bidder-3", "name": "Sam Student"}
    assert tx["payer"]["id"] == "department-3" and contract["status"] == "terminated"
    # The pull request is not public before acceptance.
    assert all(url not in json.dumps(r) for r in out[:-3])


def test_missed_delivery_then_reaward() -> None:
    tail = [
        ev.DeliveryMissed(auction_id=7, award_id=50, delivery_due_at=at(60)),
        ev.AuctionReawarded(
            auction_id=7,
            award_id=52,
            round=2,
            winner_id=12,
            amount_cents=290_000,
            previous_award_id=50,
        ),
    ]
    out = assemble.releases(facts(), stamp(PUBLISH + REVERSE_BIDS + [AWARD_TO_3] + tail), CTX)
    missed, reawarded = out[-2:]
    assert missed["tag"] == ["implementationUpdate"]
    assert missed["contracts"][0]["milestones"][0]["status"] == "notMet"
    assert reawarded["tag"] == ["awardCancellation", "contractTermination", "award", "contract"]
    assert [(a["id"], a["status"]) for a in reawarded["awards"]] == [
        ("50", "cancelled"),
        ("52", "active"),
    ]
    assert reawarded["awards"][1]["relatedBid"] == "902"
    assert [c["status"] for c in reawarded["contracts"]] == ["terminated", "active"]


def test_declined_award_is_cancelled() -> None:
    tail = [ev.AwardDeclined(auction_id=7, award_id=50, winner_id=13, reason="busy")]
    out = assemble.releases(facts(), stamp(PUBLISH + REVERSE_BIDS + [AWARD_TO_3] + tail), CTX)
    assert out[-1]["tag"] == ["awardCancellation", "contractTermination"]
    assert out[-1]["awards"][0]["status"] == "cancelled"
    assert out[-1]["contracts"][0]["status"] == "cancelled"


def test_no_bids_then_rerun_links_the_processes() -> None:
    out = assemble.releases(facts(), stamp([*PUBLISH, ev.AuctionClosedNoBids(auction_id=7)]), CTX)
    assert out[-1]["tender"]["status"] == "unsuccessful"
    rerun = assemble.releases(facts(previous_auction_id=7), stamp(PUBLISH), CTX)
    related = rerun[0]["relatedProcesses"][0]
    assert related["relationship"] == ["unsuccessfulProcess"]
    assert related["identifier"] == "ocds-abc123-7" and related["scheme"] == "ocid"


def test_compiled_equals_ocdsmerge() -> None:
    ocdsmerge = pytest.importorskip("ocdsmerge")
    tail = [
        ev.DeliveryMissed(auction_id=7, award_id=50, delivery_due_at=at(60)),
        ev.AuctionReawarded(
            auction_id=7,
            award_id=52,
            round=2,
            winner_id=12,
            amount_cents=290_000,
            previous_award_id=50,
        ),
    ]
    out = assemble.releases(facts(), stamp(PUBLISH + REVERSE_BIDS + [AWARD_TO_3] + tail), CTX)
    from tests.ocds_offline import extended_schema

    merger = ocdsmerge.Merger(extended_schema())
    assert compile_releases(out) == merger.create_compiled_release(out)


@pytest.mark.parametrize(
    ("ocid", "expected"),
    [
        ("ocds-abc123-7", 7),
        ("ocds-abc123-07", None),
        ("ocds-other-7", None),
        ("ocds-abc123-", None),
        ("7", None),
        ("ocds-abc123-x", None),
    ],
)
def test_ocid_parsing(ocid: str, expected: int | None) -> None:
    assert mapping.auction_id_of("ocds-abc123", ocid) == expected


class Amended(ev.Event, frozen=True, kw_only=True, tag="test.amended"):
    """An amendment event as another module might define it."""

    auction_id: int
    ends_at: dt.datetime
    reason: str
    answers_url: str


def _amended(state: mapping.State, event: Amended) -> list[str]:
    assert event.occurred_at is not None
    state.amend_tender(f"amendment-{event.event_id}", event.occurred_at, event.reason)
    state.tender()["tenderPeriod"]["endDate"] = mapping.iso(event.ends_at)
    state.add_tender_document(
        "clarifications",
        "clarifications",
        "Questions and answers",
        event.answers_url,
        event.occurred_at,
    )
    return ["tenderAmendment"]


def test_a_new_event_maps_through_a_handler_table() -> None:
    amended = Amended(
        auction_id=7,
        ends_at=at(300),
        reason="Acceptance criteria clarified",
        answers_url="https://mp.example/auctions/7#questions",
    )
    table = {**handlers.HANDLERS, "test.amended": _amended}
    out = assemble.releases(facts(), stamp([*PUBLISH, amended]), CTX, handlers=table)
    last = out[-1]
    assert last["tag"] == ["tenderAmendment"]
    assert last["tender"]["amendments"] == [
        {
            "id": "amendment-104",
            "date": "2026-03-02T09:04:00Z",
            "rationale": "Acceptance criteria clarified",
        }
    ]
    assert last["tender"]["tenderPeriod"]["endDate"] == "2026-03-02T14:00:00Z"
    assert last["tender"]["documents"][-1]["documentType"] == "clarifications"
    from marketplace.ocds.service import EXTENSIONS
    from tests.ocds_offline import problems, validate

    package = {
        "uri": "https://mp.example/api/ocds/releases",
        "version": "1.1",
        "publishedDate": last["date"],
        "publisher": {"name": "Test"},
        "extensions": EXTENSIONS,
        "releases": out,
    }
    assert not any(problems(validate(package)).values())
    # Without the handler the event changes nothing public.
    assert len(assemble.releases(facts(), stamp([*PUBLISH, amended]), CTX)) == len(out) - 1


def _amendment(n: int, changed: list[str], **texts: str) -> ev.AuctionAmended:
    return ev.AuctionAmended(
        auction_id=7,
        amendment_id=n,
        reason=f"reason {n}",
        amended_at=at(10 + n),
        changed=changed,
        ends_at=at(200),
        previous_ends_at=at(120),
        **texts,
    )


@pytest.mark.parametrize(
    ("amendments", "published", "latest"),
    [
        ([], ("Now", "Works"), ("Now", "Works")),
        (
            [_amendment(1, ["description"], description="Now", previous_description="First")],
            ("First", "Works"),
            ("Now", "Works"),
        ),
        (
            [
                _amendment(1, ["description"], description="Mid", previous_description="First"),
                _amendment(
                    2,
                    ["description", "acceptance"],
                    description="Now",
                    previous_description="Mid",
                    acceptance="Works",
                    previous_acceptance="Old tests",
                ),
            ],
            ("First", "Old tests"),
            ("Now", "Works"),
        ),
    ],
)
def test_the_tender_keeps_the_text_first_published_and_amendments_move_it(
    amendments: list[ev.AuctionAmended], published: tuple[str, str], latest: tuple[str, str]
) -> None:
    out = assemble.releases(
        facts(description="Now", acceptance="Works"), stamp([*PUBLISH, *amendments]), CTX
    )
    first, last = out[0]["tender"]["description"], out[-1]["tender"]["description"]
    assert first == f"Short\n\n{published[0]}\n\nAcceptance criteria:\n{published[1]}"
    assert last == f"Short\n\n{latest[0]}\n\nAcceptance criteria:\n{latest[1]}"
    assert [r["tag"] for r in out[2:]] == [["tenderAmendment"]] * len(amendments)
    ids = [a["id"] for a in out[-1]["tender"].get("amendments", [])]
    assert ids == [f"amendment-{a.amendment_id}" for a in amendments]
    for before, release in itertools.pairwise(out[1:]):
        assert release["tender"]["amendments"][-1]["amendsReleaseID"] == before["id"]
