"""Open contracting over HTTP (issue 24): packages, records, compiled releases, their
secrecy, caching and refusals; every package validated by the standard's own tools."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from marketplace.ocds import mapping
from marketplace.ocds.merge import compile_releases
from tests.helpers import Api, bid, published_auction
from tests.ocds_offline import extended_schema, problems, validate
from tests.scenes import closed, every_state, vendor_of_kind

PREFIX = "ocds-000000"


async def package(api: Api, **params: Any) -> dict[str, Any]:
    r = await api.client.get("/api/ocds/releases", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["etag"]
    data: dict[str, Any] = r.json()
    return data


async def record(api: Api, aid: int) -> dict[str, Any]:
    r = await api.client.get(f"/api/ocds/records/{PREFIX}-{aid}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def assert_clean(pkg: dict[str, Any]) -> None:
    found = problems(validate(pkg))
    assert not any(found.values()), json.dumps(found, indent=1, default=str)[:3000]


async def test_every_state_validates_and_compiles_like_ocdsmerge(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    ocdsmerge = pytest.importorskip("ocdsmerge")
    ids = await every_state(api, db, pool)
    pkg = await package(api)
    assert pkg["version"] == "1.1" and len(pkg["extensions"]) == 2
    assert_clean(pkg)
    merger = ocdsmerge.Merger(extended_schema())
    states = (
        "open_reverse",
        "open_sealed",
        "sealed_awarded",
        "cancelled",
        "no_bids",
        "rerun",
        "paid",
        "reawarded",
    )
    compiled_lines = (await api.client.get("/api/ocds/compiled")).text.splitlines()
    served = {json.loads(line)["ocid"]: json.loads(line) for line in compiled_lines}
    for state in states:
        rec = await record(api, ids[state])
        assert_clean(rec)
        releases = rec["records"][0]["releases"]
        expected = merger.create_compiled_release(releases)
        assert rec["records"][0]["compiledRelease"] == expected, state
        assert served[f"{PREFIX}-{ids[state]}"] == expected, state
        assert compile_releases(releases) == expected

    # ocdskit compiles the whole release package to the same compiled releases.
    from ocdskit.combine import merge

    by_ocdskit = {c["ocid"]: c for c in merge([pkg], schema=extended_schema())}
    assert by_ocdskit == served

    tender_status = {s: served[f"{PREFIX}-{ids[s]}"]["tender"]["status"] for s in states}
    assert tender_status == {
        "open_reverse": "active",
        "open_sealed": "active",
        "sealed_awarded": "complete",
        "cancelled": "cancelled",
        "no_bids": "unsuccessful",
        "rerun": "active",
        "paid": "complete",
        "reawarded": "complete",
    }
    paid = served[f"{PREFIX}-{ids['paid']}"]
    contract = paid["contracts"][0]
    assert contract["status"] == "terminated"
    assert contract["implementation"]["transactions"][0]["value"] == {
        "amount": 2700.0,
        "currency": "USD",
    }
    assert contract["implementation"]["milestones"][0]["documents"][0]["documentType"] == (
        "completionCertificate"
    )
    names = {p["name"] for p in paid["parties"]}
    # The business winner by name; the losing individual and student by alias only.
    assert "Acme Widgets LLC" in names and "Ada Quietperson" not in names
    assert "Sam Student" not in names
    reawarded = served[f"{PREFIX}-{ids['reawarded']}"]
    assert [a["status"] for a in reawarded["awards"]] == ["cancelled", "active"]
    # A re-awarded student is a winner now: named.
    assert "Sam Student" in {p["name"] for p in reawarded["parties"]}
    assert "Ada Quietperson" in {p["name"] for p in reawarded["parties"]}
    rerun = served[f"{PREFIX}-{ids['rerun']}"]
    assert rerun["relatedProcesses"][0]["identifier"] == f"{PREFIX}-{ids['no_bids']}"
    # Before close: sealed bids absent, reverse bidders by alias.
    assert "bids" not in served[f"{PREFIX}-{ids['open_sealed']}"]
    open_reverse = served[f"{PREFIX}-{ids['open_reverse']}"]
    assert {t["name"] for b in open_reverse["bids"]["details"] for t in b["tenderers"]} == {
        "Bidder 1",
        "Bidder 2",
    }
    text = json.dumps(served[f"{PREFIX}-{ids['cancelled']}"])
    assert "Sam Student" not in text and "vendor-" not in text


async def test_sealed_bids_only_in_releases_dated_at_or_after_close(
    api: Api, db: asyncpg.Connection, pool: Any
) -> None:
    buyer = await api.buyer(await api.department())
    vendor = await vendor_of_kind(api, db, "business", "Sealed Co")
    aid = (await published_auction(api, buyer, type="sealed"))["id"]
    before = (await api.client.get("/api/ocds/releases", params={"auction_id": aid})).text
    assert (await bid(api, vendor, aid, 123_456)).status_code == 201
    after = (await api.client.get("/api/ocds/releases", params={"auction_id": aid})).text
    assert before == after and "1234.56" not in after
    assert await closed(api, db, pool, aid) == "awarded"
    close_at = await db.fetchval("SELECT closed_at FROM auctions WHERE id = $1", aid)
    pkg = await package(api, auction_id=aid)
    for release in pkg["releases"]:
        if "bids" in release or "Sealed Co" in json.dumps(release):
            assert release["date"] >= mapping.iso(close_at)[:19]
    assert any("bids" in r for r in pkg["releases"])


async def test_etag_and_not_modified(api: Api, db: asyncpg.Connection) -> None:
    buyer = await api.buyer(await api.department())
    aid = (await published_auction(api, buyer))["id"]
    for path in ("/api/ocds/releases", f"/api/ocds/records/{PREFIX}-{aid}", "/api/ocds/compiled"):
        first = await api.client.get(path)
        etag = first.headers["etag"]
        again = await api.client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", path
        assert (await api.client.get(path)).content == first.content, path
    vendor = await api.verified_vendor()
    assert (await bid(api, vendor, aid, 300_000)).status_code == 201
    changed = await api.client.get("/api/ocds/releases", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "3000.0" in changed.text


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (
            "/api/ocds/releases?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            400,
            "invalid_period",
        ),
        ("/api/ocds/releases?from=2026-01-01T00:00:00", 400, "invalid_time"),
        ("/api/ocds/compiled?to=yesterday", 400, "invalid_time"),
        (
            "/api/ocds/compiled?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            400,
            "invalid_period",
        ),
        ("/api/ocds/releases?auction_id=0", 400, None),
        ("/api/ocds/records/ocds-zzzzzz-1", 404, "ocid_not_found"),
        ("/api/ocds/records/ocds-000000-999999", 404, "ocid_not_found"),
        ("/api/ocds/records/ocds-000000-99999999999999999999", 404, "ocid_not_found"),
        ("/api/ocds/records/nonsense", 404, "ocid_not_found"),
    ],
)
async def test_bad_input(api: Api, path: str, status: int, code: str | None) -> None:
    r = await api.client.get(path)
    assert r.status_code == status, r.text
    if code:
        assert r.json()["code"] == code


async def test_a_draft_is_not_published(api: Api) -> None:
    buyer = await api.buyer(await api.department())
    r = await api.client.post("/api/auctions", json=_body(), headers=buyer.headers)
    aid = r.json()["id"]
    r = await api.client.get(f"/api/ocds/records/{PREFIX}-{aid}")
    assert r.status_code == 404
    assert f'{PREFIX}-{aid}"' not in (await api.client.get("/api/ocds/releases")).text


async def test_period_selects_releases_by_date(api: Api, db: asyncpg.Connection) -> None:
    buyer = await api.buyer(await api.department())
    aid = (await published_auction(api, buyer))["id"]
    vendor = await api.verified_vendor()
    assert (await bid(api, vendor, aid, 300_000)).status_code == 201
    bid_at = await db.fetchval(
        "SELECT created_at FROM outbox WHERE auction_id = $1 AND type = 'bid.placed'", aid
    )
    pkg = await package(api, auction_id=aid, **{"from": bid_at.isoformat()})
    assert [r["tag"] for r in pkg["releases"]] == [["tenderUpdate"]]
    pkg = await package(api, auction_id=aid, to=bid_at.isoformat())
    assert all("bids" not in r for r in pkg["releases"])
    assert pkg["releases"][0]["tag"] == ["tender"]


def _body() -> dict[str, Any]:
    from tests.helpers import auction_body

    return auction_body()


async def test_cli_export_writes_the_same_package(
    api: Api, db: asyncpg.Connection, settings: Any, capsys: Any
) -> None:
    import io

    from marketplace.audit.commands import Progress
    from marketplace.audit.export import Query
    from marketplace.ocds.commands import export_to_file

    buyer = await api.buyer(await api.department())
    aid = (await published_auction(api, buyer))["id"]
    out = io.BytesIO()
    count = await export_to_file(
        settings.database_url, settings, Query(), out, Progress(unit="auctions")
    )
    written = json.loads(out.getvalue())
    served = await package(api)
    assert count == len(written["releases"]) >= 1
    assert written["releases"] == served["releases"]
    assert any(r["ocid"] == f"{PREFIX}-{aid}" for r in written["releases"])
    assert "auctions" in capsys.readouterr().err


async def test_awards_and_audit_pages_link_the_open_data(api: Api) -> None:
    page = (await api.client.get("/awards")).text
    assert 'href="/open-data"' in page and 'href="/api/ocds/releases"' in page
    open_data = await api.client.get("/open-data")
    assert open_data.status_code == 200 and "/api/ocds/compiled" in open_data.text


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MARKETPLACE_OCDS_PREFIX": "ocds-ABC"}, "OCDS_PREFIX"),
        ({"MARKETPLACE_CURRENCY": "dollars"}, "CURRENCY"),
    ],
)
def test_malformed_ocds_settings_stop_start_up(env: dict[str, str], named: str) -> None:
    from marketplace.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=named):
        load_settings(env)
    assert load_settings({"MARKETPLACE_OCDS_PREFIX": "ocds-a1b2c3"}).ocds_prefix == "ocds-a1b2c3"
