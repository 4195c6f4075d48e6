"""An auction's OCDS releases: its events folded through the handlers into releases, each
tagged and ordered as the standard asks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from marketplace import events as ev
from marketplace.ocds.handlers import HANDLERS
from marketplace.ocds.mapping import AuctionFacts, Context, Handler, State, iso

_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def as_published(facts: AuctionFacts, events: Iterable[ev.Event]) -> dict[str, str]:
    """The description and acceptance criteria as first published: what the first
    amendment changing each replaced, or the facts' (latest) text when none did."""
    first: dict[str, str] = {}
    for event in events:
        if isinstance(event, ev.AuctionAmended):
            replaced = {
                "description": event.previous_description,
                "acceptance": event.previous_acceptance,
            }
            for name, text in replaced.items():
                if text is not None and name in event.changed:
                    first.setdefault(name, text)
    return {"description": facts.description, "acceptance": facts.acceptance, **first}


def tag_of(event: ev.Event) -> str:
    tag: str = type(event).__struct_config__.tag  # type: ignore[assignment]
    return tag


def releases(
    facts: AuctionFacts,
    events: Iterable[ev.Event],
    context: Context,
    handlers: dict[str, Handler] | None = None,
) -> list[dict[str, Any]]:
    """The auction's releases, one per event that changes what the public may know, in
    event order. Nothing before ``auction.published``: a draft is its department's."""
    events = list(events)
    state = State(facts, context, as_published(facts, events))
    table = HANDLERS if handlers is None else handlers
    out: list[dict[str, Any]] = []
    for event in events:
        handler = table.get(tag_of(event))
        if handler is None or (not state.published and tag_of(event) != "auction.published"):
            continue
        tags = handler(state, event)
        if tags is None:
            continue
        assert event.occurred_at is not None
        release = _copy(state.release)
        release["id"] = str(event.event_id)
        release["date"] = iso(event.occurred_at)
        release["tag"] = tags
        state.last_release_id = release["id"]
        out.append(_ordered(release))
    return out


def _copy(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON-shaped snapshot (through msgspec: many times copy.deepcopy's
    speed, which matters at one copy per release)."""
    copied: dict[str, Any] = _json_decoder.decode(_json_encoder.encode(snapshot))
    return copied


_ORDER = (
    "ocid",
    "id",
    "date",
    "tag",
    "initiationType",
    "language",
    "parties",
    "buyer",
    "tender",
    "bids",
    "awards",
    "contracts",
    "relatedProcesses",
)


def _ordered(release: dict[str, Any]) -> dict[str, Any]:
    return {k: release[k] for k in _ORDER if k in release}
