"""Every state change as a typed event: a tagged union with stable, past-tense tags.

The events are defined by concept in this package's modules; the union, ``AnyEvent``, and
its codec are here, and every event is imported from here.

An event's ``event_id`` is its outbox sequence number and ``occurred_at`` the database
time it was written; both are filled in when the event is read back from the outbox.
New fields get defaults; types never change.
"""

from __future__ import annotations

import typing

import msgspec

from marketplace.events.accounts import (
    DepartmentCreated,
    DepartmentUpdated,
    EmailConfirmationSent,
    GithubAccountLinked,
    TokenIssuedForUser,
    UserCreated,
    UserRolesChanged,
    VerificationDecided,
    VerificationRequested,
)
from marketplace.events.auctions import (
    AuctionAwarded,
    AuctionCancelled,
    AuctionClosedNoBids,
    AuctionCreated,
    AuctionExtended,
    AuctionOpened,
    AuctionPublished,
    AuctionRerun,
    AuctionUpdated,
    BidPlaced,
    BidsRevealed,
    RevealedBid,
)
from marketplace.events.base import AuctionEvent, Event
from marketplace.events.clarifications import (
    AuctionAmended,
    QuestionAnswered,
    QuestionAsked,
)
from marketplace.events.deliveries import (
    AuctionReawarded,
    AwardDeclined,
    DeliveryDeadlineExtended,
    DeliveryMissed,
    DeliverySubmitted,
    DeliveryVerificationFailed,
    DeliveryVerified,
    GithubAccessLost,
    ReviewDecided,
)
from marketplace.events.payments import (
    DisputeResolved,
    PaymentCancelled,
    PaymentConfirmed,
    PaymentCreated,
    PaymentDetailsProvided,
    PaymentDisputed,
    PaymentExecuted,
    PaymentFailed,
    PaymentReleased,
)
from marketplace.events.sealed import SEALED_HIDDEN, SEALED_STRIPPED, sealed_view

__all__ = [
    "SEALED_HIDDEN",
    "SEALED_STRIPPED",
    "TAGS",
    "AnyEvent",
    "AuctionAmended",
    "AuctionAwarded",
    "AuctionCancelled",
    "AuctionClosedNoBids",
    "AuctionCreated",
    "AuctionEvent",
    "AuctionExtended",
    "AuctionOpened",
    "AuctionPublished",
    "AuctionReawarded",
    "AuctionRerun",
    "AuctionUpdated",
    "AwardDeclined",
    "BidPlaced",
    "BidsRevealed",
    "DeliveryDeadlineExtended",
    "DeliveryMissed",
    "DeliverySubmitted",
    "DeliveryVerificationFailed",
    "DeliveryVerified",
    "DepartmentCreated",
    "DepartmentUpdated",
    "DisputeResolved",
    "EmailConfirmationSent",
    "Event",
    "GithubAccessLost",
    "GithubAccountLinked",
    "PaymentCancelled",
    "PaymentConfirmed",
    "PaymentCreated",
    "PaymentDetailsProvided",
    "PaymentDisputed",
    "PaymentExecuted",
    "PaymentFailed",
    "PaymentReleased",
    "QuestionAnswered",
    "QuestionAsked",
    "RevealedBid",
    "ReviewDecided",
    "TokenIssuedForUser",
    "UserCreated",
    "UserRolesChanged",
    "VerificationDecided",
    "VerificationRequested",
    "decode_event",
    "encode_event",
    "sealed_view",
]

AnyEvent = (
    DepartmentCreated
    | DepartmentUpdated
    | UserCreated
    | UserRolesChanged
    | VerificationRequested
    | VerificationDecided
    | GithubAccountLinked
    | TokenIssuedForUser
    | EmailConfirmationSent
    | AuctionCreated
    | AuctionUpdated
    | AuctionPublished
    | AuctionOpened
    | AuctionCancelled
    | BidPlaced
    | AuctionExtended
    | BidsRevealed
    | AuctionAwarded
    | AuctionClosedNoBids
    | ReviewDecided
    | PaymentCreated
    | PaymentReleased
    | PaymentFailed
    | PaymentConfirmed
    | PaymentExecuted
    | PaymentDetailsProvided
    | PaymentDisputed
    | DisputeResolved
    | PaymentCancelled
    | DeliverySubmitted
    | DeliveryVerified
    | DeliveryVerificationFailed
    | AuctionReawarded
    | AwardDeclined
    | DeliveryMissed
    | DeliveryDeadlineExtended
    | AuctionRerun
    | QuestionAsked
    | QuestionAnswered
    | AuctionAmended
    | GithubAccessLost
)

# Every tag of the union: a stream entry with another tag is an event this code does not know.
TAGS: frozenset[str] = frozenset(
    str(member.__struct_config__.tag) for member in typing.get_args(AnyEvent)
)

_decoder = msgspec.json.Decoder(AnyEvent)
_encoder = msgspec.json.Encoder()


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(raw: bytes) -> AnyEvent:
    event: AnyEvent = _decoder.decode(raw)
    return event
