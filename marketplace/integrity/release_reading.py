"""What cardinal's indicators read from a compiled release, read as cardinal reads it: a
field of the wrong type counts as absent, never as an error (marketplace/integrity/cardinal.py
uses these)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def rfc3339(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) < 20 or "T" not in value.upper():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def quantile(values: list[float], tau: float) -> float:
    """statrs' ``Data::quantile`` (R-8: h = (n + 1/3) tau + 1/3)."""
    data = sorted(values)
    n = len(data)
    if n == 0 or not 0.0 <= tau <= 1.0:
        return math.nan
    h = (n + 1.0 / 3.0) * tau + 1.0 / 3.0
    hf = int(h)
    if hf <= 0 or tau == 0.0:
        return data[0]
    if hf >= n or tau == 1.0:
        return data[-1]
    a, b = data[hf - 1], data[hf]
    return a + (h - hf) * (b - a)


def method_matches(tender: dict[str, Any], methods: frozenset[str]) -> bool:
    if not methods:
        return True
    method = tender.get("procurementMethod")
    return isinstance(method, str) and method in methods


def details_match(
    release: dict[str, Any], include: frozenset[str], exclude: frozenset[str]
) -> bool:
    tender = release.get("tender")
    details = tender.get("procurementMethodDetails") if isinstance(tender, dict) else None
    if isinstance(details, str):
        return details in include if include else details not in exclude
    return not include


def submitted_bids(release: dict[str, Any]) -> list[dict[str, Any]]:
    bids = release.get("bids")
    details = bids.get("details") if isinstance(bids, dict) else None
    if not isinstance(details, list):
        return []
    return [
        b
        for b in details
        if isinstance(b, dict)
        and isinstance(b.get("status"), str)
        and b["status"] not in ("invited", "withdrawn")
    ]


def final_awards_and_bids(
    release: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[Any]] | None:
    """The active awards and the bid details, if every award with a status is final."""
    awards, bids = release.get("awards"), release.get("bids")
    details = bids.get("details") if isinstance(bids, dict) else None
    if not isinstance(awards, list) or not isinstance(details, list):
        return None
    complete = []
    for award in awards:
        status = award.get("status") if isinstance(award, dict) else None
        if not isinstance(status, str):
            continue
        if status == "active":
            complete.append(award)
        elif status not in ("cancelled", "unsuccessful"):
            return None
    return complete, details


def ids(parties: Any) -> list[str]:
    if not isinstance(parties, list):
        return []
    return [p["id"] for p in parties if isinstance(p, dict) and isinstance(p.get("id"), str)]


def amount(bid: dict[str, Any]) -> tuple[float, str] | None:
    value = bid.get("value")
    if not isinstance(value, dict):
        return None
    amount, currency = value.get("amount"), value.get("currency")
    if not isinstance(amount, int | float) or isinstance(amount, bool):
        return None
    if not isinstance(currency, str):
        return None
    return float(amount), currency
