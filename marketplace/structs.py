"""Base Structs and shared Annotated types."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Generic, Protocol, TypeVar

import msgspec

from marketplace.errors import BadRequest

# Money is integer cents. The upper bound is PostgreSQL's bigint.
Cents = Annotated[int, msgspec.Meta(ge=1, le=9_223_372_036_854_775_807)]
Id = Annotated[int, msgspec.Meta(ge=1, le=9_223_372_036_854_775_807)]
# Request timestamps must carry a zone (ISO 8601 with Z or an offset).
ZonedTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=20_000)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused."""


class Response(msgspec.Struct, frozen=True, kw_only=True):
    """Base of response bodies."""


T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a list: the items and the cursor of the next page, or null."""

    items: list[T]
    next: str | None


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


H = TypeVar("H", bound=_HasId)


def page_by_id(items: list[H], limit: int) -> Page[H]:
    """A page from ``limit + 1`` fetched items: the first ``limit``, and when there were
    more, the cursor of the next page (the last item's id)."""
    shown = items[:limit]
    return Page(items=shown, next=encode_cursor(shown[-1].id) if len(items) > limit else None)


def encode_cursor(*parts: object) -> str:
    raw = msgspec.json.encode(list(parts))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, shape: type[T]) -> T | None:
    """Decode an opaque cursor; a malformed one is a 400."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=shape)
    except (ValueError, msgspec.DecodeError):
        raise BadRequest("invalid_cursor", "the cursor is not one this service issued") from None
