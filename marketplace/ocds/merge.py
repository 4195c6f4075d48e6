"""Compiling releases into a compiled release, by OCDS's merge rules (as ocdsmerge does).

Objects merge field by field, later releases winning; arrays of objects merge item by item
on their ``id``; other arrays and values are replaced; ``null`` removes a field. Every array
of objects this service publishes has ids (marketplace/ocds/mapping.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_OMIT = ("id", "date", "tag")


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, dict):
            current = into.get(key)
            if not isinstance(current, dict):
                current = into[key] = {}
            _merge(current, value)
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, dict) and "id" in v for v in value)
        ):
            current = into.get(key)
            if not isinstance(current, list):
                current = into[key] = []
            by_id = {str(item.get("id")): item for item in current if isinstance(item, dict)}
            for item in value:
                target = by_id.get(str(item["id"]))
                if target is None:
                    target = {}
                    current.append(target)
                    by_id[str(item["id"])] = target
                _merge(target, item)
        else:
            into[key] = value


def compile_releases(releases: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The compiled release of one ocid's releases (taken in date order, stable)."""
    compiled: dict[str, Any] = {}
    ocid = date = None
    for release in sorted(releases, key=lambda r: str(r.get("date", ""))):
        ocid, date = release.get("ocid"), release.get("date")
        _merge(compiled, {k: v for k, v in release.items() if k not in _OMIT})
    head: dict[str, Any] = {"ocid": ocid, "id": f"{ocid}-{date}", "date": date, "tag": ["compiled"]}
    head.update({k: v for k, v in compiled.items() if k != "ocid"})
    return head
