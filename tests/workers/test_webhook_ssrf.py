"""Department webhook URLs cannot reach the service's own network (SSRF).

These tests run with ``MARKETPLACE_WEBHOOK_ALLOW_PRIVATE`` unset. No test sends traffic to
a non-loopback address: the public case stubs the project's resolver
(``egress.resolve``) to answer a public address and redirects only the last,
address -> socket step (``egress.open_stream``) to a loopback TLS server, so the code that
vets the address and connects to it is the real one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from litestar.testing import AsyncTestClient

from marketplace.app import create_app
from marketplace.settings import Settings
from tests.helpers import Api, User, loopback_socket, published_auction

HOST = "hooks.example.gov"
PUBLIC = "93.184.215.14"  # a public address the stub resolver answers; never connected to

SSRF_URLS = [
    "https://127.0.0.1:6379/",
    "https://localhost/hook",
    "https://2130706433/",
    "https://0x7f000001/",
    "https://127.1/",
    "https://0177.0.0.1/",
    "https://[::1]/",
    "https://0.0.0.0/",
    "https://[::]/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fe80::1]/",
    "https://10.0.0.8/",
    "https://172.16.5.4/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",
    "https://[fc00::1]/",
    "https://[fd12:3456::1]/",
    "https://224.0.0.251/",
    "https://[ff02::1]/",
    "https://255.255.255.255/",
    "https://240.0.0.1/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:7f00:1]/",
    "https://[::127.0.0.1]/",
    "https://[2002:7f00:1::]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    f"http://{HOST}/in",  # not https
    f"https://user:pass@{HOST}/in",  # userinfo
    f"https://{HOST}@127.0.0.1/in",
]


# --- the service without the development flag -------------------------------------


@pytest.fixture
def strict(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, webhook_allow_private=False)


@pytest.fixture
async def sapi(strict: Settings) -> AsyncIterator[Api]:
    assert strict.database_url and strict.redis_url
    app = create_app(strict, strict.database_url, strict.redis_url)
    async with AsyncTestClient(app=app) as test_client:
        yield await Api.start(test_client, strict.database_url)


class Resolver:
    """Stands in for the project's resolver: a name -> addresses table, changeable."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        from marketplace.webhooks import egress

        self.asked.append(host)
        if host not in self.answers:
            raise egress.Unresolvable(host)
        return self.answers[host]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    stub = Resolver()
    monkeypatch.setattr("marketplace.webhooks.egress.resolve", stub)
    return stub


# --- TLS on loopback for hooks.example.gov ---------------------------------------


@dataclass
class Tls:
    """A test CA and a certificate for HOST it signed."""

    cert: Path
    key: Path
    client: ssl.SSLContext  # what the sender verifies with: this CA only

    def server(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def _issue(tmp: Path, name: str) -> Tls:
    now = dt.datetime.now(dt.UTC)
    valid = (now - dt.timedelta(hours=1), now + dt.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test CA {name}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    cert, key_file = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return Tls(cert, key_file, client)


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return _issue(tmp_path, "ours")


@dataclass
class Receiver:
    """A server on 127.0.0.1 that counts connections and records POSTs and the SNI."""

    port: int = 0
    status: int = 200
    location: str | None = None
    connections: int = 0
    posts: list[dict[str, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)


@contextlib.contextmanager
def receiving(context: ssl.SSLContext | None) -> Iterator[Receiver]:
    """HTTPS with ``context`` (plain HTTP when None) on a free loopback port."""
    state = Receiver()
    if context is not None:
        context.sni_callback = lambda _sock, name, _ctx: state.sni.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            state.posts.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(state.status)
            if state.location:
                self.send_header("location", state.location)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def get_request(self) -> Any:
            sock, address = self.socket.accept()
            state.connections += 1
            if context is None:
                return sock, address
            sock.settimeout(5)
            return context.wrap_socket(sock, server_side=True), address  # may raise: dropped

        def handle_error(self, *_: Any) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Sockets:
    """Replaces egress.open_stream, the address -> socket step: records the address it is
    given and connects to 127.0.0.1 on the same port instead, so nothing leaves loopback
    even if a test's expectation is wrong."""

    asked: list[tuple[str, int]] = field(default_factory=list)


@pytest.fixture
def sockets(monkeypatch: pytest.MonkeyPatch) -> Sockets:
    from marketplace.webhooks import egress

    real = egress.open_stream
    state = Sockets()

    async def open_stream(address: str, port: int, seconds: Any, options: Any) -> Any:
        state.asked.append((address, port))
        return await real("127.0.0.1", port, seconds, options)

    monkeypatch.setattr(egress, "open_stream", open_stream)
    return state


# --- helpers through the API -------------------------------------------------------


@dataclass
class Dept:
    id: int
    buyer: User
    event_id: int  # an outbox event of one of its auctions, to (re)deliver

    @property
    def hooks(self) -> str:
        return f"/api/departments/{self.id}/webhooks"


async def department(sapi: Api, db: asyncpg.Connection) -> Dept:
    dept_id = await sapi.department()
    buyer = await sapi.buyer(dept_id)
    auction = await published_auction(sapi, buyer)
    event_id = await db.fetchval("SELECT min(id) FROM outbox WHERE auction_id = $1", auction["id"])
    return Dept(dept_id, buyer, event_id)


async def register(sapi: Api, dept: Dept, url: str) -> Any:
    return await sapi.client.post(dept.hooks, json={"url": url}, headers=dept.buyer.headers)


async def queue_one(sapi: Api, dept: Dept, webhook_id: int) -> None:
    r = await sapi.client.post(
        f"{dept.hooks}/{webhook_id}/redeliver",
        json={"event_id": dept.event_id},
        headers=dept.buyer.headers,
    )
    assert r.status_code == 202 and r.json()["requeued"] == 1, r.text


async def send_due(pool: Any, tls: Tls, seconds: float = 5.0) -> None:
    """One step of the production sender, flag unset, trusting the test CA."""
    from marketplace.webhooks import sends

    sender = sends.WebhookSender(pool, timeout=seconds, allow_private=False, verify=tls.client)
    async with sender.client() as client:
        assert await sender.send_once(client) >= 1


async def hooks(sapi: Api, dept: Dept) -> dict[int, Any]:
    r = await sapi.client.get(dept.hooks, headers=dept.buyer.headers)
    assert r.status_code == 200, r.text
    return {w["id"]: w for w in r.json()["items"]}


# --- registration ------------------------------------------------------------------


async def test_every_private_form_is_refused_at_registration(
    sapi: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real resolver, which answers these from the OS alone (numeric spellings parsed
    as getaddrinfo parses them, localhost from /etc/hosts; the example.gov URLs are
    refused before any lookup). What it answered is recorded, to show why each was
    refused."""
    from marketplace.webhooks import egress

    real, answered = egress.resolve, {}

    async def recording(host: str, port: int) -> list[str]:
        answered[host] = await real(host, port)
        return answered[host]

    monkeypatch.setattr(egress, "resolve", recording)
    dept = await department(sapi, db)
    failures = []
    for url in SSRF_URLS:
        r = await register(sapi, dept, url)
        body = r.json()
        if r.status_code != 422 or body.get("code") != "webhook_url_not_allowed":
            failures.append(f"{url}: {r.status_code} {r.text[:200]}")
        elif not body.get("detail") or body.get("field") != "url":
            failures.append(f"{url}: no detail or field: {body}")
    assert not failures, "\n".join(failures)
    assert await hooks(sapi, dept) == {}
    numeric = ("2130706433", "0x7f000001", "127.1")  # (0177.0.0.1: httpx refuses it)
    assert {h: answered[h] for h in numeric} == {h: ["127.0.0.1"] for h in numeric}
    assert answered["localhost"] and all(a in ("127.0.0.1", "::1") for a in answered["localhost"])
    assert HOST not in answered


async def test_a_name_resolving_to_a_private_address_is_refused(
    sapi: Api, db: asyncpg.Connection, resolver: Resolver
) -> None:
    resolver.answers.update(
        {
            "loop.example.gov": ["127.0.0.1"],
            "mixed.example.gov": [PUBLIC, "10.1.2.3"],  # one bad address spoils the name
            "mapped.example.gov": ["::ffff:169.254.169.254"],
        }
    )
    dept = await department(sapi, db)
    for name in ("loop", "mixed", "mapped", "unknown"):
        r = await register(sapi, dept, f"https://{name}.example.gov/in")
        assert r.status_code == 422, (name, r.text)
        assert r.json()["code"] == "webhook_url_not_allowed"
        # What the service's resolver knows of internal names is not told back.
        for address in ("127.0.0.1", "10.1.2.3", "169.254"):
            assert address not in r.json()["detail"], r.text
    assert await hooks(sapi, dept) == {}
    # An outsider is refused before anything is looked up.
    outsider = await sapi.buyer()
    asked = len(resolver.asked)
    r = await sapi.client.post(
        dept.hooks, json={"url": f"https://{HOST}/in"}, headers=outsider.headers
    )
    assert r.status_code == 403 and len(resolver.asked) == asked


# --- sending -----------------------------------------------------------------------


async def test_a_public_https_url_is_delivered_to_the_vetted_address(
    sapi: Api, db: asyncpg.Connection, pool: Any, resolver: Resolver, sockets: Sockets, tls: Tls
) -> None:
    resolver.answers[HOST] = [PUBLIC]
    dept = await department(sapi, db)
    with receiving(tls.server()) as receiver:
        url = f"https://{HOST}:{receiver.port}/in"
        r = await register(sapi, dept, url)
        assert r.status_code == 201, r.text
        hook = r.json()["id"]
        await queue_one(sapi, dept, hook)
        await send_due(pool, tls)
    assert sockets.asked == [(PUBLIC, receiver.port)]  # connected to what was vetted
    assert resolver.asked == [HOST, HOST]  # at registration and again at the send
    assert len(receiver.posts) == 1 and receiver.sni == [HOST]
    assert receiver.posts[0]["host"] == f"{HOST}:{receiver.port}"
    assert receiver.posts[0]["x-marketplace-signature-256"].startswith("sha256=")
    webhook = (await hooks(sapi, dept))[hook]
    assert webhook["last_status_code"] == 200 and webhook["last_error"] is None


async def test_a_name_rebound_to_loopback_after_registration_is_refused_at_send(
    sapi: Api, db: asyncpg.Connection, pool: Any, resolver: Resolver, sockets: Sockets, tls: Tls
) -> None:
    """DNS rebinding: public when registered, loopback when sent. No connection is made."""
    resolver.answers[HOST] = [PUBLIC]
    resolver.answers["other.example.gov"] = [PUBLIC]
    dept = await department(sapi, db)
    with receiving(tls.server()) as receiver:
        ids = []
        for host in (HOST, "other.example.gov"):
            r = await register(sapi, dept, f"https://{host}:{receiver.port}/in")
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
            await queue_one(sapi, dept, ids[-1])
        resolver.answers[HOST] = ["127.0.0.1"]
        resolver.answers["other.example.gov"] = [PUBLIC, "::1"]
        await send_due(pool, tls)
    assert receiver.connections == 0 and receiver.posts == []
    assert sockets.asked == []
    listed = await hooks(sapi, dept)
    for hook in ids:
        assert listed[hook]["last_error"] == "address_not_allowed", listed[hook]
        assert listed[hook]["last_status_code"] is None


async def test_a_url_left_http_by_the_development_flag_is_not_sent_without_it(
    sapi: Api, db: asyncpg.Connection, pool: Any, resolver: Resolver, sockets: Sockets, tls: Tls
) -> None:
    resolver.answers[HOST] = [PUBLIC]
    dept = await department(sapi, db)
    with receiving(None) as receiver:
        hook = (await register(sapi, dept, f"https://{HOST}/in")).json()["id"]
        url = f"http://{HOST}:{receiver.port}/in"  # as registered with the flag set
        await db.execute("UPDATE department_webhooks SET url = $2 WHERE id = $1", hook, url)
        await queue_one(sapi, dept, hook)
        await send_due(pool, tls)
    assert receiver.connections == 0 and sockets.asked == []
    assert (await hooks(sapi, dept))[hook]["last_error"] == "address_not_allowed"


async def test_redirects_are_not_followed(
    sapi: Api, db: asyncpg.Connection, pool: Any, resolver: Resolver, sockets: Sockets, tls: Tls
) -> None:
    resolver.answers[HOST] = [PUBLIC]
    dept = await department(sapi, db)
    with receiving(None) as inside, receiving(tls.server()) as receiver:
        receiver.status = 302
        receiver.location = f"http://127.0.0.1:{inside.port}/admin"
        r = await register(sapi, dept, f"https://{HOST}:{receiver.port}/in")
        hook = r.json()["id"]
        await queue_one(sapi, dept, hook)
        await send_due(pool, tls)
    assert len(receiver.posts) == 1
    assert inside.connections == 0
    webhook = (await hooks(sapi, dept))[hook]
    assert webhook["last_status_code"] == 302 and webhook["last_error"] == "HTTP 302"


async def test_failures_are_stored_as_a_generic_class_never_the_error_text(
    sapi: Api,
    db: asyncpg.Connection,
    pool: Any,
    resolver: Resolver,
    sockets: Sockets,
    tls: Tls,
    tmp_path: Path,
) -> None:
    """The webhook list must not work as a port scanner: a refused port, a TLS failure,
    a silent port and a name that stopped resolving each read as one word."""
    resolver.answers[HOST] = [PUBLIC]
    resolver.answers["gone.example.gov"] = [PUBLIC]
    dept = await department(sapi, db)
    closed = loopback_socket()
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = loopback_socket()
    silent.listen(8)  # accepts the TCP connection, never answers the TLS hello
    untrusted = _issue(tmp_path, "theirs").server()
    with receiving(untrusted) as stranger:
        expected = {}
        for url, error in (
            (f"https://{HOST}:{closed_port}/in", "connect_error"),
            (f"https://{HOST}:{stranger.port}/in", "tls_error"),
            (f"https://{HOST}:{silent.getsockname()[1]}/in", "timeout"),
            ("https://gone.example.gov/in", "dns_error"),
        ):
            r = await register(sapi, dept, url)
            assert r.status_code == 201, r.text
            expected[r.json()["id"]] = error
            await queue_one(sapi, dept, r.json()["id"])
        del resolver.answers["gone.example.gov"]
        await send_due(pool, tls, seconds=1.0)
    silent.close()
    r = await sapi.client.get(dept.hooks, headers=dept.buyer.headers)
    got = {w["id"]: w["last_error"] for w in r.json()["items"]}
    assert got == expected
    for text in ("Errno", "refused", "SSL", "CERTIFICATE", "127.0.0.1", "Timeout"):
        assert text not in r.text, text


async def test_error_text_stored_by_earlier_versions_is_not_listed(
    sapi: Api, db: asyncpg.Connection, resolver: Resolver
) -> None:
    resolver.answers[HOST] = [PUBLIC]
    dept = await department(sapi, db)
    hook = (await register(sapi, dept, f"https://{HOST}/in")).json()["id"]
    await db.execute(
        "UPDATE department_webhooks SET last_error = $2 WHERE id = $1",
        hook,
        "ConnectError: [Errno 111] Connection refused",
    )
    assert (await hooks(sapi, dept))[hook]["last_error"] == "send_error"


def test_the_development_flag_is_read_from_the_environment() -> None:
    from marketplace.settings import SettingsError, load_settings

    assert load_settings({}).webhook_allow_private is False
    assert load_settings({"MARKETPLACE_WEBHOOK_ALLOW_PRIVATE": "1"}).webhook_allow_private
    assert not load_settings({"MARKETPLACE_WEBHOOK_ALLOW_PRIVATE": "0"}).webhook_allow_private
    with pytest.raises(SettingsError, match="WEBHOOK_ALLOW_PRIVATE"):
        load_settings({"MARKETPLACE_WEBHOOK_ALLOW_PRIVATE": "maybe"})
