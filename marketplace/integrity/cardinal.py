"""Eight of the Open Contracting Partnership's cardinal red-flag indicators, as cardinal
(cardinal-rs) computes them from compiled releases: R003, R018, R024, R028, R030, R035,
R036 and R058. Pure functions; ``indicators()`` returns what ``cardinal indicators`` prints:
``{"OCID": {ocid: {indicator: value}}, "Tenderer": {id: {indicator: value}}}``.

The rules follow cardinal's source closely (its fixtures are the tests), including its
quirks: a bid date is compared with the tender period's end as text (R030), and the
quartiles of R024/R058 are statrs' (the R-8 estimate).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from marketplace.integrity import release_reading as read

ALL = ("R003", "R018", "R024", "R028", "R030", "R035", "R036", "R058")


class Options(msgspec.Struct, frozen=True, kw_only=True):
    """The settings cardinal reads for these indicators (its defaults)."""

    enabled: frozenset[str] = frozenset(ALL)
    r003_threshold_days: int = 15
    r003_procurement_methods: frozenset[str] = frozenset()
    r018_procurement_methods: frozenset[str] = frozenset({"open", "selective"})
    r024_threshold: float | None = None
    r035_threshold: int = 1
    r058_threshold: float | None = None
    currency: str | None = None
    # procurementMethodDetails values whose bids are not compared by price (R024, R028,
    # R036, R058), and whose processes are left out altogether.
    no_price_comparison: frozenset[str] = frozenset()
    price_comparison: frozenset[str] = frozenset()
    excluded_method_details: frozenset[str] = frozenset()


class _Run:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.results: dict[str, dict[str, dict[str, float]]] = {"OCID": {}, "Tenderer": {}}
        self.currency: str | None = None
        self.ratios: dict[str, float] = {}
        self.pairs: dict[str, tuple[str, str]] = {}
        self.fences: dict[str, float] = {}  # R024's lower and R058's upper fence

    def set(self, group: str, key: str, indicator: str, value: float) -> None:
        self.results.setdefault(group, {}).setdefault(key, {})[indicator] = value

    def same_currency(self, currency: str) -> bool:
        if self.currency is None:
            self.currency = self.o.currency if self.o.currency is not None else currency
        return currency == self.currency


def _price_compared(run: _Run, release: dict[str, Any]) -> bool:
    return read.details_match(release, run.o.price_comparison, run.o.no_price_comparison)


def _second_lowest(run: _Run, release: dict[str, Any], ocid: str) -> None:
    if not _price_compared(run, release):
        return
    found = read.final_awards_and_bids(release)
    if found is None or len(found[0]) != 1:
        return
    complete, details = found
    suppliers = complete[0].get("suppliers")
    if not isinstance(suppliers, list) or len(suppliers) != 1:
        return
    supplier = suppliers[0].get("id") if isinstance(suppliers[0], dict) else None
    if not isinstance(supplier, str):
        return
    winner = loser = None
    winner_amount = loser_amount = 0.0
    for bid in details:
        if not isinstance(bid, dict) or bid.get("status") != "valid":
            continue
        priced, tenderers = read.amount(bid), bid.get("tenderers")
        if priced is None or not isinstance(tenderers, list) or len(tenderers) != 1:
            continue
        tenderer = tenderers[0].get("id") if isinstance(tenderers[0], dict) else None
        if not isinstance(tenderer, str):
            continue
        amount, currency = priced
        if not run.same_currency(currency):
            continue
        if tenderer == supplier:
            if winner is None or amount < winner_amount:
                winner, winner_amount = tenderer, amount
        elif loser is None or amount < loser_amount:
            loser, loser_amount = tenderer, amount
    if winner is not None and loser is not None and loser_amount >= winner_amount:
        if winner_amount == 0:
            return
        run.ratios[ocid] = (loser_amount - winner_amount) / winner_amount
        run.pairs[ocid] = (winner, loser)


def _r003(run: _Run, release: dict[str, Any], ocid: str) -> None:
    tender = release.get("tender")
    if not isinstance(tender, dict) or not read.method_matches(
        tender, run.o.r003_procurement_methods
    ):
        return
    period = tender.get("tenderPeriod")
    if not isinstance(period, dict):
        return
    start, end = read.rfc3339(period.get("startDate")), read.rfc3339(period.get("endDate"))
    if start is None or end is None:
        return
    seconds = (end - start).total_seconds()
    days = int(seconds / 86_400)  # whole days, toward zero (chrono's num_days)
    if days < run.o.r003_threshold_days:
        run.set("OCID", ocid, "R003", 1.0)


def _r018(run: _Run, release: dict[str, Any], ocid: str) -> None:
    tender = release.get("tender")
    if not isinstance(tender, dict) or not read.method_matches(
        tender, run.o.r018_procurement_methods
    ):
        return
    count = tender.get("numberOfTenderers")
    if isinstance(count, int) and not isinstance(count, bool) and count == 1:
        run.set("OCID", ocid, "R018", 1.0)


def _r028(run: _Run, release: dict[str, Any], ocid: str) -> None:
    if not _price_compared(run, release):
        return
    prices: dict[tuple[float, str], set[str]] = {}
    for bid in read.submitted_bids(release):
        priced, tenderers = read.amount(bid), bid.get("tenderers")
        if priced is None or not isinstance(tenderers, list):
            continue
        ids = set(read.ids(tenderers))
        if not ids:
            continue
        other = prices.get(priced)
        if other is not None and ids != other:
            run.set("OCID", ocid, "R028", 1.0)
            for tenderer in ids | other:
                run.set("Tenderer", tenderer, "R028", 1.0)
        prices[priced] = ids


def _r030(run: _Run, release: dict[str, Any], ocid: str) -> None:
    tender, awards, bids = release.get("tender"), release.get("awards"), release.get("bids")
    period = tender.get("tenderPeriod") if isinstance(tender, dict) else None
    end = period.get("endDate") if isinstance(period, dict) else None
    details = bids.get("details") if isinstance(bids, dict) else None
    if not isinstance(end, str) or not isinstance(awards, list) or not isinstance(details, list):
        return
    suppliers: set[str] = set()
    for award in awards:
        if isinstance(award, dict) and award.get("status") == "active":
            suppliers.update(read.ids(award.get("suppliers")))
    for bid in details:
        if not isinstance(bid, dict):
            continue
        date, tenderers = bid.get("date"), bid.get("tenderers")
        if bid.get("status") != "valid" or not isinstance(date, str):
            continue
        if not isinstance(tenderers, list) or not date > end:
            continue
        for tenderer in read.ids(tenderers):
            if tenderer in suppliers:
                run.set("OCID", ocid, "R030", 1.0)
                run.set("Tenderer", tenderer, "R030", 1.0)


def _r035(run: _Run, release: dict[str, Any], ocid: str) -> None:
    found = read.final_awards_and_bids(release)
    if found is None:
        return
    complete, details = found
    suppliers = {i for award in complete for i in read.ids(award.get("suppliers"))}
    valid: set[str] = set()
    disqualified: set[str] = set()
    for bid in details:
        if not isinstance(bid, dict) or not isinstance(bid.get("tenderers"), list):
            continue
        target = {"valid": valid, "disqualified": disqualified}.get(bid.get("status"))  # type: ignore[arg-type]
        if target is not None:
            target.update(read.ids(bid["tenderers"]))
    difference = len(disqualified - valid)
    if len(valid) == 1 and valid == suppliers and difference >= max(run.o.r035_threshold, 1):
        run.set("OCID", ocid, "R035", float(difference))
        run.set("Tenderer", next(iter(valid)), "R035", 0.0)


def _r036(run: _Run, release: dict[str, Any], ocid: str) -> None:
    if not _price_compared(run, release):
        return
    awards = release.get("awards")
    if not isinstance(awards, list) or not any(
        isinstance(a, dict) and a.get("status") == "active" for a in awards
    ):
        return
    lowest: float | None = None
    lowest_disqualified = has_valid = False
    for bid in read.submitted_bids(release):
        priced = read.amount(bid)
        if priced is None:
            continue
        amount, currency = priced
        if not run.same_currency(currency):
            continue
        if lowest is None or amount < lowest:
            lowest, lowest_disqualified = amount, bid["status"] == "disqualified"
        if bid["status"] == "valid":
            has_valid = True
    if has_valid and lowest_disqualified:
        run.set("OCID", ocid, "R036", 1.0)


def _finalize(run: _Run) -> None:
    values = list(run.ratios.values())
    q1, q3 = read.quantile(values, 0.25), read.quantile(values, 0.75)
    if "R024" in run.o.enabled:
        if run.o.r024_threshold is not None:
            fence, gate = run.o.r024_threshold, 1.0
        else:
            fence, gate = q1 - 1.5 * (q3 - q1), q1
        run.fences["R024"] = fence
        if gate > 0.0 and fence > 0.0:
            for ocid, ratio in run.ratios.items():
                if ratio <= fence:
                    run.set("OCID", ocid, "R024", ratio)
                    for tenderer in run.pairs[ocid]:
                        run.set("Tenderer", tenderer, "R024", 0.0)
    if "R058" in run.o.enabled:
        fence = run.o.r058_threshold if run.o.r058_threshold is not None else (q3 + 1.5 * (q3 - q1))
        run.fences["R058"] = fence
        if fence > 0.0:
            for ocid, ratio in run.ratios.items():
                if ratio >= fence:
                    run.set("OCID", ocid, "R058", ratio)
                    run.set("Tenderer", run.pairs[ocid][0], "R058", 0.0)


_FOLDS = (
    ("R003", _r003),
    ("R018", _r018),
    ("R028", _r028),
    ("R030", _r030),
    ("R035", _r035),
    ("R036", _r036),
)


def indicators(
    releases: Iterable[dict[str, Any]], options: Options | None = None
) -> dict[str, dict[str, dict[str, float]]]:
    """cardinal's results for these compiled releases (one per ocid)."""
    return evaluate(releases, options)[0]


def evaluate(
    releases: Iterable[dict[str, Any]], options: Options | None = None
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, float]]:
    """cardinal's results, and the fences R024 and R058 compared the ratios with."""
    run = _Run(options or Options())
    ratio_needed = bool({"R024", "R058"} & run.o.enabled)
    for release in releases:
        ocid = release.get("ocid") if isinstance(release, dict) else None
        if not isinstance(ocid, str):
            continue
        tender = release.get("tender")
        if isinstance(tender, dict) and tender.get("status") == "cancelled":
            continue
        if not read.details_match(release, frozenset(), run.o.excluded_method_details):
            continue
        if ratio_needed:
            _second_lowest(run, release, ocid)
        for name, fold in _FOLDS:
            if name in run.o.enabled:
                fold(run, release, ocid)
    _finalize(run)
    return {group: found for group, found in run.results.items() if found}, run.fences
