"""How consumers read a stream entry: the typed event for a tag of the union, and an
UnknownEvent (tag, id, auction, raw JSON) for a tag no module of this code emits yet."""

from __future__ import annotations

import datetime as dt
import typing

import msgspec
import pytest

from marketplace import events as ev
from marketplace.streams.consumer import UnknownEvent, parse_entry, read_event


def test_a_known_tag_reads_as_its_struct() -> None:
    placed = ev.BidPlaced(
        event_id=12,
        auction_id=3,
        bid_id=5,
        amount_cents=100_00,
        bidder_alias="Bidder 1",
        ends_at=dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC),
    )
    raw = ev.encode_event(placed)
    event = parse_entry({b"type": b"bid.placed", b"data": raw})
    assert event.event == placed
    assert (event.event_id, event.type, event.raw, event.auction_id) == (12, "bid.placed", raw, 3)


def test_an_unknown_tag_keeps_its_tag_id_auction_and_raw_json() -> None:
    raw = b'{"type":"auction.later","event_id":9,"auction_id":4,"what":{"x":[1]}}'
    event = read_event("auction.later", raw)
    assert event.event == UnknownEvent(type="auction.later", event_id=9, auction_id=4, raw=raw)
    assert (event.event_id, event.auction_id, event.raw) == (9, 4, raw)
    odd = read_event("user.later", b'{"event_id":9,"auction_id":"4"}')
    assert odd.auction_id is None


@pytest.mark.parametrize(
    ("tag", "raw"),
    [
        ("auction.later", b'{"auction_id":4}'),
        ("auction.later", b"[1]"),
        ("bid.placed", b'{"type":"bid.placed","event_id":1}'),
    ],
)
def test_an_entry_that_is_not_an_event_is_refused(tag: str, raw: bytes) -> None:
    with pytest.raises((ValueError, msgspec.DecodeError)):
        read_event(tag, raw)


def test_every_event_with_an_auction_id_is_an_auction_event() -> None:

    for member in typing.get_args(ev.AnyEvent):
        assert ("auction_id" in member.__struct_fields__) == issubclass(member, ev.AuctionEvent)
