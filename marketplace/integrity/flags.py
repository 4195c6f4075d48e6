"""Red flags from compiled releases: cardinal's eight indicators, and three that matter for
micro-purchases (a purchase split to stay under the threshold, one vendor winning most of a
department's awards, an award at the price cap with little competition). Pure functions.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from marketplace.integrity import cardinal
from marketplace.ocds.mapping import auction_id_of

SPLIT_DAYS = 30
CONCENTRATION_SHARE = 0.5
CONCENTRATION_MIN_AWARDS = 4
CAP_MARGIN = 0.02
INDICATORS = (*cardinal.ALL, "split_purchase", "winner_concentration", "price_at_cap")


class Flag(msgspec.Struct, frozen=True, kw_only=True):
    ocid: str
    auction_id: int
    department_id: int | None
    indicator: str
    value: float
    threshold: float | None
    explanation: str


class Award(msgspec.Struct, frozen=True, kw_only=True):
    """An in-force award as the custom indicators see it."""

    ocid: str
    department: str
    department_name: str
    vendor: str
    vendor_name: str
    repo: str | None
    date: dt.datetime
    amount: float
    cap: float | None
    bidders: int | None


def _department(release: dict[str, Any]) -> tuple[str, str]:
    buyer = release.get("buyer") or {}
    return str(buyer.get("id", "")), str(buyer.get("name", ""))


def _department_id(release: dict[str, Any]) -> int | None:
    party_id = _department(release)[0]
    tail = party_id.removeprefix("department-")
    return int(tail) if tail.isdigit() else None


def _awards(release: dict[str, Any]) -> list[Award]:
    parties = {p.get("id"): p for p in release.get("parties", [])}
    tender = release.get("tender") or {}
    repo = next(
        (d.get("url") for d in tender.get("documents", []) if d.get("id") == "repository"), None
    )
    department, department_name = _department(release)
    found = []
    for award in release.get("awards", []):
        suppliers = award.get("suppliers") or []
        if award.get("status") != "active" or len(suppliers) != 1 or "date" not in award:
            continue
        party = parties.get(suppliers[0].get("id"), {})
        vendor = (party.get("identifier") or {}).get("id") or f"{release['ocid']}/{party.get('id')}"
        found.append(
            Award(
                ocid=release["ocid"],
                department=department,
                department_name=department_name,
                vendor=vendor,
                vendor_name=str(party.get("name", "")),
                repo=repo,
                date=dt.datetime.fromisoformat(award["date"]),
                amount=float(award["value"]["amount"]),
                cap=(tender.get("value") or {}).get("amount"),
                bidders=tender.get("numberOfTenderers"),
            )
        )
    return found


def _split(awards: list[Award], threshold: float) -> list[tuple[Award, float, str]]:
    """Each award in a 30-day run of one department's awards to one vendor (or in one
    repository) whose sum exceeds the threshold, with that sum and what they share."""
    out: dict[tuple[str, str], tuple[Award, float, str]] = {}
    groups: dict[tuple[str, str, str], list[Award]] = defaultdict(list)
    for a in awards:
        groups[(a.department, "vendor", a.vendor)].append(a)
        if a.repo:
            groups[(a.department, "repository", a.repo)].append(a)
    for (_, kind, _key), group in groups.items():
        group.sort(key=lambda a: a.date)
        start, total = 0, 0.0
        for end, award in enumerate(group):
            total += award.amount
            while award.date - group[start].date > dt.timedelta(days=SPLIT_DAYS):
                total -= group[start].amount
                start += 1
            if end > start and total > threshold:
                label = (
                    f"the same vendor ({award.vendor_name})"
                    if kind == "vendor"
                    else f"the same repository ({award.repo})"
                )
                for member in group[start : end + 1]:
                    previous = out.get((member.ocid, kind))
                    if previous is None or previous[1] < total:
                        out[(member.ocid, kind)] = (member, total, f"{end - start + 1}|{label}")
    return list(out.values())


def _quarter(at: dt.datetime) -> str:
    return f"{at.year} Q{(at.month - 1) // 3 + 1}"


# One raised flag before it is tied to its auction: ocid, indicator, value, threshold, why.
Found = tuple[str, str, float, float | None, str]


def evaluate(
    compiled: Iterable[dict[str, Any]], prefix: str, threshold_cents: int, min_window_days: int
) -> list[Flag]:
    """Every flag of these compiled releases (one per ocid), in ocid and indicator order."""
    releases = list(compiled)
    by_ocid = {r["ocid"]: r for r in releases if isinstance(r.get("ocid"), str)}
    awards = [a for r in releases for a in _awards(r)]
    found = [
        *_cardinal_flags(releases, by_ocid, min_window_days),
        *_split_flags(awards, threshold_cents / 100),
        *_concentration_flags(awards),
        *_price_at_cap_flags(awards),
    ]
    flags = [
        Flag(
            ocid=ocid,
            auction_id=auction_id,
            department_id=_department_id(by_ocid[ocid]),
            indicator=indicator,
            value=value,
            threshold=threshold,
            explanation=why,
        )
        for ocid, indicator, value, threshold, why in found
        if (auction_id := auction_id_of(prefix, ocid)) is not None
    ]
    flags.sort(key=lambda f: (f.auction_id, INDICATORS.index(f.indicator)))
    return flags


def _cardinal_flags(
    releases: list[dict[str, Any]], by_ocid: dict[str, Any], min_window_days: int
) -> Iterator[Found]:
    """The cardinal red-flag indicators (integrity/cardinal.py, as cardinal computes them)."""
    options = cardinal.Options(r003_threshold_days=min_window_days)
    results, fences = cardinal.evaluate(releases, options)
    for ocid, found in results.get("OCID", {}).items():
        for indicator, value in found.items():
            threshold, why = _cardinal_explanation(
                by_ocid[ocid], indicator, value, fences, min_window_days
            )
            yield ocid, indicator, value, threshold, why


def _split_flags(awards: list[Award], limit: float) -> Iterator[Found]:
    for award, total, label in _split(awards, limit):
        count, shared = label.split("|", 1)
        yield (
            award.ocid,
            "split_purchase",
            total,
            limit,
            f"{award.department_name} awarded {count} auctions to {shared} within "
            f"{SPLIT_DAYS} days, together {total:,.2f}, above the micro-purchase threshold "
            f"of {limit:,.2f}: a purchase may have been split to stay under it.",
        )


def _concentration_flags(awards: list[Award]) -> Iterator[Found]:
    """A vendor winning more than half of a department's awards in a quarter."""
    quarters: dict[tuple[str, str], list[Award]] = defaultdict(list)
    for a in awards:
        quarters[(a.department, _quarter(a.date))].append(a)
    for (_, quarter), group in quarters.items():
        if len(group) < CONCENTRATION_MIN_AWARDS:
            continue
        wins: dict[str, list[Award]] = defaultdict(list)
        for a in group:
            wins[a.vendor].append(a)
        for won in wins.values():
            share = len(won) / len(group)
            if share <= CONCENTRATION_SHARE:
                continue
            for a in won:
                yield (
                    a.ocid,
                    "winner_concentration",
                    share,
                    CONCENTRATION_SHARE,
                    f"{a.vendor_name} won {len(won)} of the {len(group)} awards of "
                    f"{a.department_name} in {quarter}, more than half.",
                )


def _price_at_cap_flags(awards: list[Award]) -> Iterator[Found]:
    """Awarded near the price cap with one or two bidders."""
    for a in awards:
        if a.cap and a.bidders in (1, 2) and a.amount >= a.cap * (1 - CAP_MARGIN):
            ratio = a.amount / a.cap
            yield (
                a.ocid,
                "price_at_cap",
                ratio,
                1 - CAP_MARGIN,
                f"Awarded at {ratio:.1%} of the price cap with only {a.bidders} "
                f"bidder{'s' if a.bidders != 1 else ''}: little competition pushed the price down.",
            )


def _cardinal_explanation(
    release: dict[str, Any],
    indicator: str,
    value: float,
    fences: dict[str, float],
    min_window_days: int,
) -> tuple[float | None, str]:
    if indicator == "R003":
        period = (release.get("tender") or {}).get("tenderPeriod") or {}
        start = dt.datetime.fromisoformat(period["startDate"])
        end = dt.datetime.fromisoformat(period["endDate"])
        hours = (end - start).total_seconds() / 3600
        return float(min_window_days), (
            f"The bidding window was {hours:.1f} hours, shorter than {min_window_days} whole "
            "days: too short for vendors who did not know in advance to bid (cardinal R003)."
        )
    if indicator == "R024":
        return fences.get("R024"), (
            f"The runner-up bid only {value:.1%} above the winning bid, an unusually small gap "
            "compared with the other auctions: a sign of bids placed to lose (cardinal R024)."
        )
    if indicator == "R058":
        return fences.get("R058"), (
            f"The runner-up bid {value:.1%} above the winning bid: the winner bid unusually far "
            "below the others, which may not be deliverable at that price (cardinal R058)."
        )
    fixed = {
        "R018": (1.0, "Only one vendor bid in this open auction (cardinal R018)."),
        "R028": (None, "Different vendors bid exactly the same price (cardinal R028)."),
        "R030": (None, "The winning bid is dated after the bidding window closed (cardinal R030)."),
        "R035": (1.0, "Every bid but the winner's was disqualified (cardinal R035)."),
        "R036": (None, "The lowest bid was disqualified, yet an award was made (cardinal R036)."),
    }
    return fixed[indicator]
