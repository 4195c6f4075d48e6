"""Query parameter types shared by routes, and the one parser of time parameters."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar.params import Parameter

from marketplace.errors import BadRequest

# A period: from (inclusive) and to (exclusive), each an ISO 8601 time with a zone.
From = Annotated[
    str | None,
    Parameter(query="from", max_length=64, description="ISO 8601 time with a zone; inclusive"),
]
To = Annotated[
    str | None,
    Parameter(query="to", max_length=64, description="ISO 8601 time with a zone; exclusive"),
]
AuctionFilter = Annotated[
    int | None, Parameter(ge=1, le=9_223_372_036_854_775_807, description="one auction's rows")
]
Limit = Annotated[int, Parameter(ge=1, le=200, description="page size, 1 to 200")]
Cursor = Annotated[
    str | None, Parameter(max_length=500, description="the `next` value of the previous page")
]
# A search text: the index answers any length, but a long q costs per candidate row.
SEARCH_MAX_LENGTH = 100
Search = Annotated[
    str | None,
    Parameter(
        max_length=SEARCH_MAX_LENGTH,
        description="text search: a case-insensitive substring of the title, summary or "
        f"description, at most {SEARCH_MAX_LENGTH} characters",
    ),
]

# The times a parameter may name, in UTC. Python holds years 1 to 9999 and PostgreSQL more;
# the margin of a year at each end keeps every local time and every calendar period
# (a month, a quarter, a year) around an accepted time representable too.
EARLIEST = dt.datetime(2, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9998, 1, 1, tzinfo=dt.UTC)


def parse_time(value: str | None, name: str) -> dt.datetime | None:
    """An ISO 8601 time that carries a zone (``Z`` or an offset), in UTC; anything else, or
    a time outside [EARLIEST, LATEST), is a 400 naming the parameter."""
    if value is None or value == "":
        return None
    candidates = [value]
    if " " in value[10:]:  # a '+' of the offset that the query string turned into a space
        candidates.append(value[:10] + value[10:].replace(" ", "+"))
    for candidate in candidates:
        try:
            parsed = dt.datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            continue
        # Compared before converting: 0001-01-01T00:00+14:00 has no UTC datetime.
        if not EARLIEST <= parsed < LATEST:
            raise BadRequest(
                "time_out_of_range",
                f"{name} must be from {EARLIEST.date()} to before {LATEST.date()} (UTC), "
                f"got {value!r}",
                field=name,
            )
        return parsed.astimezone(dt.UTC)
    raise BadRequest(
        "invalid_time",
        f"{name} must be an ISO 8601 time with a zone (Z or an offset), got {value!r}",
        field=name,
    )


def check_period(start: dt.datetime | None, end: dt.datetime | None) -> None:
    """A period whose end is not after its start is a 400 naming ``from``."""
    if start and end and start >= end:
        raise BadRequest("invalid_period", "from must be before to", field="from")


def parse_period(
    since: str | None, until: str | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The ``from`` and ``to`` parameters as UTC times, checked as a period."""
    start, end = parse_time(since, "from"), parse_time(until, "to")
    check_period(start, end)
    return start, end
