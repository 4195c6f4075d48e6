"""The baseline of bench/bids.py: a bare Litestar app with one msgspec Struct POST handler.

Served exactly like `marketplace serve` (one uvicorn process, no access log), so the ratio
bench/bids.py prints is the cost of the bid rules, PostgreSQL, the outbox and the audit row
over the framework's own floor. Run: python bench/baseline.py --port N
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Annotated

import msgspec
from litestar import Litestar, get, post


class BidCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    amount_cents: Annotated[int, msgspec.Meta(ge=1)]


class Bid(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    auction_id: int
    amount_cents: int
    bidder_alias: str
    placed_at: dt.datetime


@post("/api/auctions/{auction_id:int}/bids", status_code=201)
async def place_bid(auction_id: int, data: BidCreate) -> Bid:
    return Bid(
        id=1,
        auction_id=auction_id,
        amount_cents=data.amount_cents,
        bidder_alias="Bidder 1",
        placed_at=dt.datetime.now(dt.UTC),
    )


@get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar(route_handlers=[place_bid, live], debug=False)


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
