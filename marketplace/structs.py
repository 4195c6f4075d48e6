"""Base Structs and shared Annotated types."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Annotated, Generic, Protocol, TypeVar

import msgspec

from marketplace.errors import BadRequest

# Money is integer cents. The upper bound is PostgreSQL's bigint.
Cents = Annotated[int, msgspec.Meta(ge=1, le=9_223_372_036_854_775_807)]
Id = Annotated[int, msgspec.Meta(ge=1, le=9_223_372_036_854_775_807)]
# Request timestamps must carry a zone (ISO 8601 with Z or an offset).
ZonedTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
# Control characters: C0 (CR, LF and TAB included), DEL, C1, and the Unicode line and
# paragraph separators. In a single-line field (a title, a name) they would break the lines
# the value is put on: a mail subject, a CSV cell, a log line. Multi-line text (a reason)
# may break lines and indent, and holds no other control character. The patterns end with
# ``$(?!\n)`` because ``$`` alone also matches before a final newline.
_CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
SINGLE_LINE_PATTERN = rf"^[^{_CONTROL}]*$(?!\n)"
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]*$(?!\n)"
_CONTROL_RUN = re.compile(f"[{_CONTROL}]+")


def one_line(text: str) -> str:
    """``text`` with each run of control characters made one space (for a mail subject)."""
    return _CONTROL_RUN.sub(" ", text)


def control_words(message: str) -> str | None:
    """For a msgspec message saying a value failed one of the two patterns above, what the
    value must be, in words; else None. The message quotes the pattern, escaped as the
    decoding path escapes it, so the test is on two escapes only these patterns hold: the
    line separator's, and (multi-line) the gap after CR."""
    if "matching regex" not in message or "u2028" not in message:
        return None
    if "x0e" in message:
        return "must be text without control characters other than line breaks and tabs"
    return "must be one line of text, without control characters (line breaks, tabs, escapes)"


def single_line(min_length: int, max_length: int) -> msgspec.Meta:
    """The constraint of a single-line text field of these lengths."""
    return msgspec.Meta(min_length=min_length, max_length=max_length, pattern=SINGLE_LINE_PATTERN)


Text = Annotated[str, single_line(1, 200)]
# A reason given for a decision: several lines allowed, no other control character.
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=MULTI_LINE_PATTERN)]
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
