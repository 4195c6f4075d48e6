"""The service's edges, met over HTTP as an outsider would (issue 22, findings 3, 6, 12).

- ``/metrics`` tells who bid when (the bid route's counters by status): with
  ``MARKETPLACE_METRICS_TOKEN`` set it needs that bearer token, unset it answers clients on
  the same host only. "The client" is the peer, or what a trusted proxy says it is
  (marketplace/server.py), so each test serves the app on a real loopback socket.
- ``/dev/mailbox`` holds every message with its addresses: admins only, and never once
  SMTP is configured.
- Every answer carries the security headers; the pages run no inline script or style, and
  ``/schema`` loads Swagger UI from the service itself.
- Single-line fields refuse control characters; a mail subject is one line whatever the
  stored title; the offline audit verifier refuses a row with a field the hash does not
  cover.
"""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.audit import signing
from marketplace.audit.verify import VerifyError, verify_export
from marketplace.notifications.mail import build_message, write_to_mailbox
from marketplace.settings import Settings, load_settings
from tests.helpers import Api, User, auction_body, served, sign_in

TEMPLATES = Path(__file__).resolve().parents[2] / "marketplace" / "web" / "templates"
SCRAPE_TOKEN = "scrape-7f3a9c"


# ---- /metrics -------------------------------------------------------------------------


async def test_metrics_answers_only_clients_on_this_host_without_a_token(
    settings: Settings,
) -> None:
    """Behind a trusted proxy, a client elsewhere is refused; one on this host is served.
    A client cannot pass as local by sending its own X-Forwarded-For through the proxy."""
    proxied = msgspec.structs.replace(settings, trusted_proxies=("127.0.0.0/8",))
    async with served(proxied) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        far = await http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert far.status_code == 403, far.text
        assert far.json()["code"] == "metrics_loopback_only"
        assert "marketplace_" not in far.text
        spoofed = await http.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
        assert spoofed.status_code == 403, spoofed.text
        near = await http.get("/metrics")  # the peer itself, on loopback
        assert near.status_code == 200, near.text
        assert "marketplace_http_requests_total" in near.text
        # The public JSON figures stay public.
        public = await http.get("/api/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert public.status_code == 200, public.text


async def test_metrics_with_a_token_needs_that_token(settings: Settings, api: Api) -> None:
    """Set, the token is the only way in, from anywhere (loopback included)."""
    guarded = msgspec.structs.replace(settings, metrics_token=SCRAPE_TOKEN)
    user = await api.user("admin")
    async with served(guarded) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        none = await http.get("/metrics")
        assert none.status_code == 401, none.text
        assert none.json()["code"] == "metrics_token_required"
        for wrong in (f"Bearer {SCRAPE_TOKEN}x", "Bearer nope", f"Basic {SCRAPE_TOKEN}"):
            r = await http.get("/metrics", headers={"Authorization": wrong})
            assert r.status_code == 401, (wrong, r.text)
            assert r.json()["code"] == "invalid_metrics_token"
        r = await http.get("/metrics", headers=user.headers)  # an API token is not it
        assert r.status_code == 401 and r.json()["code"] == "invalid_metrics_token"
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
        assert right.status_code == 200, right.text
        assert right.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert (await http.get("/api/metrics")).status_code == 200


def test_metrics_token_setting_and_compose() -> None:
    assert load_settings({}).metrics_token is None
    assert load_settings({"MARKETPLACE_METRICS_TOKEN": " t0k "}).metrics_token == "t0k"
    import yaml

    compose = yaml.safe_load((TEMPLATES.parents[2] / "docker-compose.yml").read_text())
    env = compose["services"]["api"]["environment"]
    assert env["MARKETPLACE_METRICS_TOKEN"].startswith("${MARKETPLACE_METRICS_TOKEN:?")


# ---- /dev/mailbox ----------------------------------------------------------------------


def _mail(settings: Settings, mail_id: int, subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = "no-reply@example.gov"
    msg["To"] = "sealed.bidder@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Thu, 03 Dec 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<mail-{mail_id}@example.gov>"
    msg.set_content("You won at $3,497.00.")
    write_to_mailbox(settings, mail_id, msg)


async def _browser_as(settings: Settings, user: User | None) -> Any:
    assert settings.database_url and settings.redis_url
    app = create_app(settings, settings.database_url, settings.redis_url)
    client = AsyncTestClient(app=app)
    await client.__aenter__()
    if user is not None:
        await sign_in(client, user)
    return client


async def test_dev_mailbox_is_for_admins_only(settings: Settings, api: Api, tmp_path: Path) -> None:
    local = msgspec.structs.replace(settings, data_dir=tmp_path)
    _mail(local, 1, "You won: Fix the date picker")
    vendor = await api.user("vendor")
    admin = await api.user("admin")
    for who, path in ((None, "/dev/mailbox"), (None, "/dev/mailbox/1")):
        client = await _browser_as(local, who)
        try:
            r = await client.get(path, follow_redirects=False)
            assert r.status_code == 303, (path, r.status_code, r.text)
            assert r.headers["location"].startswith("/signin?next=")
            assert "sealed.bidder" not in r.text
        finally:
            await client.__aexit__(None, None, None)
    client = await _browser_as(local, vendor)
    try:
        for path in ("/dev/mailbox", "/dev/mailbox/1"):
            r = await client.get(path)
            assert r.status_code == 403, (path, r.text)
            assert "sealed.bidder" not in r.text and "$3,497.00" not in r.text
    finally:
        await client.__aexit__(None, None, None)
    # A bearer token does not open it either (it is a page, not an API route).
    r = await api.client.get("/dev/mailbox", headers=vendor.headers, follow_redirects=False)
    assert r.status_code in (303, 403) and "sealed.bidder" not in r.text
    client = await _browser_as(local, admin)
    try:
        r = await client.get("/dev/mailbox")
        assert r.status_code == 200, r.text
        assert "You won: Fix the date picker" in r.text and "sealed.bidder" in r.text
        r = await client.get("/dev/mailbox/1")
        assert r.status_code == 200 and "$3,497.00" in r.text and "Message-ID" in r.text
        assert (await client.get("/dev/mailbox/99")).status_code == 404
    finally:
        await client.__aexit__(None, None, None)


async def test_dev_mailbox_is_gone_when_smtp_is_configured(
    settings: Settings, api: Api, tmp_path: Path
) -> None:
    smtp = msgspec.structs.replace(settings, data_dir=tmp_path, smtp_url="smtp://127.0.0.1:9")
    _mail(smtp, 1, "Left over from development")
    admin = await api.user("admin")
    for who in (None, admin):
        client = await _browser_as(smtp, who)
        try:
            for path in ("/dev/mailbox", "/dev/mailbox/1"):
                r = await client.get(path, follow_redirects=False)
                assert r.status_code == 404, (path, r.text)
                assert "Left over" not in r.text
        finally:
            await client.__aexit__(None, None, None)


# ---- security headers -----------------------------------------------------------------


def _csp(headers: Any) -> dict[str, str]:
    policy = headers.get("content-security-policy", "")
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


async def test_every_answer_carries_the_security_headers(api: Api) -> None:
    for path in (
        "/",
        "/signin",
        "/auctions/987654",
        "/api/auctions",
        "/api/nowhere",
        "/static/app.css",
        "/health/live",
        "/schema",
    ):
        r = await api.client.get(path)
        assert r.status_code < 500, (path, r.text)
        csp = _csp(r.headers)
        assert csp.get("default-src") == "'self'", (path, r.headers)
        assert csp.get("script-src") == "'self'", (path, csp)
        assert "'unsafe-inline'" not in r.headers["content-security-policy"], path
        assert csp.get("frame-ancestors") == "'none'", path
        assert csp.get("object-src") == "'none'", path
        assert r.headers.get("x-frame-options") == "DENY", path
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("referrer-policy") == "same-origin", path
        assert "strict-transport-security" not in r.headers, path  # plain http here


async def test_hsts_only_when_the_public_address_is_https(settings: Settings) -> None:
    tls = msgspec.structs.replace(settings, public_url="https://market.example.gov")
    assert tls.database_url and tls.redis_url
    app = create_app(tls, tls.database_url, tls.redis_url)
    async with AsyncTestClient(app=app) as client:
        for path in ("/", "/api/auctions"):
            r = await client.get(path)
            assert r.headers["strict-transport-security"].startswith("max-age="), path


def test_templates_run_no_inline_script_or_style() -> None:
    """What the policy would block: inline <script>/<style>, on*= handlers, style=."""
    found = []
    for path in sorted(TEMPLATES.glob("*.html")):
        text = path.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)", r"<style", r"\son[a-z]+\s*=", r"\sstyle\s*="):
            for match in re.finditer(pattern, text):
                found.append(f"{path.name}: {text[match.start() : match.start() + 60]!r}")
    assert not found, "\n".join(found)


async def test_schema_ui_is_served_by_the_service_itself(api: Api) -> None:
    r = await api.client.get("/schema")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    assert "<script>" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs, html
    external = [ref for ref in refs if re.match(r"^(?:[a-z]+:)?//", ref)]
    assert not external, external
    for ref in refs:
        asset = await api.client.get(ref)
        assert asset.status_code == 200, ref
    assert "swagger-ui-bundle" in html
    document = await api.client.get("/schema/openapi.json")
    assert document.status_code == 200 and "/api/auctions" in document.json()["paths"]


# ---- output hygiene -------------------------------------------------------------------

CONTROL = ["a\r\nBcc: x@y", "tab\there", "bell\x07", "del\x7f", "c1\x85next", "ls\u2028x", "\x00"]


async def test_single_line_fields_refuse_control_characters(api: Api) -> None:
    buyer = await api.buyer()
    for value in CONTROL:
        for field in ("title", "summary"):
            r = await api.client.post(
                "/api/auctions", json=auction_body(**{field: value}), headers=buyer.headers
            )
            assert r.status_code == 400, (field, value, r.text)
            body = r.json()
            assert body["field"] == field and body["code"] == "control_characters", body
            assert field in body["detail"], body
    r = await api.client.post(
        "/api/departments", json={"name": "Parks\r\nand roads"}, headers=api.admin.headers
    )
    assert r.status_code == 400 and r.json()["field"] == "name", r.text
    r = await api.client.post(
        "/api/users",
        json={"email": "x1@example.gov", "name": "Eve\u2029Admin", "roles": ["vendor"]},
        headers=api.admin.headers,
    )
    assert r.status_code == 400 and r.json()["field"] == "name", r.text
    r = await api.client.post("/api/signup", json={"email": "s@example.com", "name": "S\x1b[31m"})
    assert r.status_code == 400 and r.json()["field"] == "name", r.text
    # Ordinary text, accents and dashes included, is still accepted.
    r = await api.client.post(
        "/api/auctions",
        json=auction_body(title="Café – déjà vu «fix»", summary="Zoë's résumé form"),
        headers=buyer.headers,
    )
    assert r.status_code == 201, r.text
    # A reason may run over several lines, but holds no other control character.
    vendor = await api.user("vendor")
    path = f"/api/vendors/{vendor.id}/verification"
    r = await api.client.post(
        path, json={"status": "verified", "reason": "ok\x07"}, headers=api.admin.headers
    )
    assert r.status_code == 400 and r.json()["field"] == "reason", r.text
    r = await api.client.post(
        path,
        json={"status": "verified", "reason": "Registry checked.\nAll good."},
        headers=api.admin.headers,
    )
    assert r.status_code == 201, r.text


def test_a_mail_subject_is_one_line_whatever_the_title() -> None:
    """A title stored before the rule (or any subject) cannot add a header or stop mail."""
    row = {
        "id": 7,
        "to_address": "buyer@example.gov",
        "subject": 'Awarded: "a\r\nBcc: x@y\u2028z"',
        "body": "Body.",
        "created_at": dt.datetime(2026, 12, 3, tzinfo=dt.UTC),
    }
    msg = build_message(Settings(), row)
    raw = msg.as_bytes()
    assert msg["Bcc"] is None and b"\nBcc:" not in raw
    assert str(msg["Subject"]) == 'Awarded: "a Bcc: x@y z"'


async def test_audit_verify_refuses_a_row_with_an_unsigned_field(api: Api, tmp_path: Path) -> None:
    for _ in range(3):
        await api.department()
    auditor = await api.user("auditor")
    r = await api.client.get("/api/audit/public-key")
    key = signing.parse_public_key(r.json()["pem"])
    r = await api.client.get("/api/audit/export?format=jsonl", headers=auditor.headers)
    assert r.status_code == 200, r.text
    path = tmp_path / "export.jsonl"
    path.write_bytes(r.content)
    assert verify_export(path, key).rows >= 3
    lines = r.content.splitlines(keepends=True)
    row = msgspec.json.decode(lines[1])
    row["approved_by"] = "nobody"
    lines[1] = msgspec.json.encode(row) + b"\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(VerifyError) as info:
        verify_export(path, key)
    message = str(info.value)
    assert "line 2" in message and f"({row['chain']} seq {row['seq']})" in message, message
    assert "approved_by" in message, message
