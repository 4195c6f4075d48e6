"""One refusal vocabulary (issue 26): every code the bid SQL can return maps to one client
error, and the auction detail's `position.reason` speaks the same codes as a refused bid."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from marketplace.auctions import presentation
from marketplace.bids.service import _refusal
from marketplace.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Unauthorized,
    Unprocessable,
)

SQL = Path(__file__).resolve().parents[2] / "sql" / "functions"
# Code -> the error a client gets for it.
REFUSALS: dict[str, type[DomainError]] = {
    "invalid_token": Unauthorized,
    "role_required": Forbidden,
    "auction_not_found": NotFound,
    "vendor_not_verified": Forbidden,
    "conflict_of_interest": Forbidden,
    "auction_not_open": Conflict,
    "auction_closed": Conflict,
    "already_low_bidder": Conflict,
    "amount_too_high": Unprocessable,
    "already_bid": Conflict,
}


def sql_codes() -> set[str]:
    """Every refusal code the SQL names: returned directly, assigned, or decided."""
    text = (SQL / "place_bid.sql").read_text() + (SQL / "bid_refusal.sql").read_text()
    found = set(re.findall(r"RETURN QUERY SELECT '([a-z_]+)'", text))
    found |= set(re.findall(r"v_code := '([a-z_]+)'", text))
    found |= set(re.findall(r"THEN '([a-z_]+)'", text))
    return found - {"accepted"}


def test_every_code_the_sql_returns_is_in_the_table() -> None:
    assert sql_codes() == set(REFUSALS)


@pytest.mark.parametrize(("code", "error"), sorted(REFUSALS.items()))
def test_each_code_maps_to_one_client_error(code: str, error: type[DomainError]) -> None:
    row = {"outcome": code, "detail": "d", "max_allowed_cents": 100, "auction_status": "open"}
    refusal = _refusal(row)
    assert type(refusal) is error and refusal.code == code


def test_position_reasons_are_bid_refusal_codes() -> None:
    source = inspect.getsource(presentation._position)
    reasons = set(re.findall(r'reason="([a-z_]+)"', source))
    assert reasons and reasons <= set(REFUSALS), reasons - set(REFUSALS)
