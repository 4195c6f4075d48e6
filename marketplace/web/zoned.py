"""Zoned form fields: date-and-time inputs shown and read in one named zone.

A form with such fields carries a hidden ``tz`` input naming the zone its values are in,
and each field carries the instant it shows (``data-instant``, UTC). The server renders the
values in the deployment's zone (``MARKETPLACE_TIMEZONE``); the page's script
(``zonedForms`` in static/app.js) re-shows every field of the form in the browser's zone
and sets ``tz`` to match, so both directions always use the zone the form names: the
browser's with script, the deployment's without.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping

ZONE_NAME_MAX = 64


def zone_named(name: str | None, default: zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo | None:
    """The zone a form names in ``tz`` (``default`` when it names none); None when it names
    a zone this server does not know, so the caller can say so instead of misreading."""
    name = (name or "").strip()
    if not name:
        return default
    if len(name) > ZONE_NAME_MAX:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def unknown_zone_message(name: str | None, default: zoneinfo.ZoneInfo) -> str:
    shown = (name or "").strip()[:ZONE_NAME_MAX]
    return (
        f"This server does not know your browser's time zone “{shown}”: the times are "
        f"shown again in {default.key}; check them and send the form again."
    )


def to_input(value: dt.datetime | None, zone: zoneinfo.ZoneInfo) -> str:
    """An instant as a date-and-time input's value in ``zone`` (seconds only when set)."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")


def from_input(text: str, zone: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """A date-and-time input's value, read in ``zone``, as a UTC instant; None when it is
    not one. A value that names its own offset keeps it."""
    text = text.strip()
    if not text or len(text) > 40:
        return None
    try:
        local = dt.datetime.fromisoformat(text)
        if local.tzinfo is None:
            local = local.replace(tzinfo=zone)
        return local.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # not a time; or one the zone moves out of range
        return None


def instants(
    values: Mapping[str, str], names: Iterable[str], zone: zoneinfo.ZoneInfo
) -> dict[str, str]:
    """For each named field, the instant its value shows in ``zone`` (UTC ISO 8601), for the
    field's ``data-instant``; a value that is not a time gets none and is left as typed."""
    found = {}
    for name in names:
        at = from_input(values.get(name, ""), zone)
        if at is not None:
            found[name] = at.isoformat().replace("+00:00", "Z")
    return found
