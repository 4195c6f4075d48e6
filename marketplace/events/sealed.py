"""What a sealed auction's events may not say before its bids are revealed (DESIGN §4)."""

from __future__ import annotations

from typing import Any

# These types are left out of a sealed auction's feeds and webhooks altogether (none are
# emitted for a sealed auction; this is a second lock), and these fields dropped from the
# others (a cancellation would tell how many sealed bids it voided).
SEALED_HIDDEN = frozenset({"bid.placed", "auction.extended"})
SEALED_STRIPPED = {"auction.cancelled": ("voided_bids",)}


def sealed_view(event_type: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """A sealed auction's event as anyone outside the auction may see it; None to leave it
    out. ``data`` is the event's JSON object, changed in place."""
    if event_type in SEALED_HIDDEN:
        return None
    for name in SEALED_STRIPPED.get(event_type, ()):
        data.pop(name, None)
    return data
