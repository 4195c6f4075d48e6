"""The OCDS standard's own tools, offline: libcoveocds with the extensions answered from the
zips in ../shared/ocds, and the extended release schema for ocdsmerge/ocdskit."""

from __future__ import annotations

import functools
import io
import json
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "ocds"
if not SHARED.exists():  # a worktree beside the main checkout
    SHARED = Path("/work/shared/ocds")
STANDARD_ZIP = SHARED / "standard-1__1__5.zip"
EXTENSION_ZIPS = {
    ("ocds_bid_extension", "v1.1.5"): SHARED / "extensions" / "ocds_bid_extension-v1.1.5.zip",
    ("ocds_techniques_extension", "master"): SHARED
    / "extensions"
    / "ocds_techniques_extension-master.zip",
}
_RAW = re.compile(r"https://raw\.githubusercontent\.com/[^/]+/([^/]+)/([^/]+)/(.+)$")
_ARCHIVE = re.compile(r"https://github\.com/[^/]+/([^/]+)/archive/(?:refs/heads/)?([^/]+)\.zip$")


def _member(repo: str, ref: str, path: str) -> bytes | None:
    zpath = EXTENSION_ZIPS.get((repo, ref))
    if zpath is None:
        return None
    with zipfile.ZipFile(zpath) as z:
        try:
            return z.read(f"{repo}-{ref}/{path}")
        except KeyError:
            return None


_STANDARD = re.compile(r"https://standard\.open-contracting\.org/schema/1__1__5/([\w.-]+)$")


def offline_body(url: str) -> bytes | None:
    """What the network would answer for an extension or standard schema URL, from the
    shared zips (anything else: None, answered as a 404, never fetched)."""
    if m := _STANDARD.match(url):
        with zipfile.ZipFile(STANDARD_ZIP) as z:
            try:
                return z.read(f"standard-1__1__5/schema/{m[1]}")
            except KeyError:
                return None
    if m := _RAW.match(url):
        return _member(m[1], m[2], m[3])
    if m := _ARCHIVE.match(url):
        zpath = EXTENSION_ZIPS.get((m[1], m[2]))
        return zpath.read_bytes() if zpath else None
    return None


def _adapter() -> Any:
    import requests
    import urllib3
    from requests.adapters import BaseAdapter

    class Offline(BaseAdapter):  # type: ignore[misc]
        def send(self, request: Any, **kwargs: Any) -> Any:
            body = offline_body(request.url)
            response = requests.Response()
            response.url = request.url
            response.request = request
            response.status_code = 200 if body is not None else 404
            response._content = body or b""
            raw = urllib3.response.HTTPResponse(
                body=io.BytesIO(response._content),
                status=response.status_code,
                preload_content=False,
                request_url=request.url,
            )
            response.raw = raw
            response.headers["Content-Type"] = "application/octet-stream"
            return response

        def close(self) -> None:
            pass

    return Offline()


@functools.cache
def _mount() -> None:
    import jsonref
    import requests
    from ocdsextensionregistry import util

    adapter = _adapter()
    util.session.mount("https://", adapter)
    util.session.mount("http://", adapter)
    # jsonref resolves the record package schema's remote $refs with requests.get.
    offline = requests.Session()
    offline.mount("https://", adapter)
    offline.mount("http://", adapter)

    class _Requests:
        get = staticmethod(offline.get)

    jsonref.requests = _Requests  # type: ignore[attr-defined]
    try:
        from libcoveocds import util as cove_util

        if hasattr(cove_util, "session"):
            cove_util.session.mount("https://", adapter)
    except ImportError:
        pass


def validate(package: dict[str, Any]) -> dict[str, Any]:
    """libcoveocds' result for a release or record package, validated offline."""
    import libcoveocds.api
    from libcoveocds.config import LibCoveOCDSConfig

    _mount()
    config = LibCoveOCDSConfig()
    config.config["standard_zip"] = f"file://{STANDARD_ZIP}"
    config.config["context"] = "api"
    config.config["skip_aggregates"] = True
    with tempfile.TemporaryDirectory() as out:
        result: dict[str, Any] = libcoveocds.api.ocds_json_output(
            out, None, None, json_data=package, lib_cove_ocds_config=config
        )
    return result


def problems(result: dict[str, Any]) -> dict[str, Any]:
    """What must be empty for a clean package."""
    return {
        "validation_errors": result.get("validation_errors", []),
        "additional_fields": [f for f in result.get("additional_fields", []) if f.get("count", 1)],
        "closed_codelist": (result.get("additional_closed_codelist_values") or {}),
        "extensions_errors": [
            e
            for e in (result.get("extensions") or {}).get("extensions", [])
            if e.get("failed") or e.get("error")
        ],
        "ocid_prefix": result.get("conformance_errors") or {},
    }


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch(target.get(key), value)
    return target


@functools.cache
def _extended_text() -> str:
    with zipfile.ZipFile(STANDARD_ZIP) as z:
        name = next(n for n in z.namelist() if n.endswith("schema/release-schema.json"))
        schema = json.loads(z.read(name))
    for (repo, ref), zpath in EXTENSION_ZIPS.items():
        with zipfile.ZipFile(zpath) as z:
            schema = _merge_patch(schema, json.loads(z.read(f"{repo}-{ref}/release-schema.json")))
    return json.dumps(schema)


def extended_schema() -> dict[str, Any]:
    """The release schema with the bids and techniques extensions applied."""
    loaded: dict[str, Any] = json.loads(_extended_text())
    return loaded


def extended_schema_file(directory: Path) -> Path:
    path = directory / "release-schema.json"
    path.write_text(_extended_text())
    return path
