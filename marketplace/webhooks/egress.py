"""Where department webhooks may go: ``https://`` to public addresses only (no SSRF).

A webhook URL is checked when it is registered and again, at the socket, on every new
connection the sender opens: ``VettedBackend`` resolves the host, refuses the whole answer
if any address is not public, and connects to a vetted address itself, so nothing
re-resolves between the check and the connect (DNS rebinding). TLS still verifies the
certificate against the URL's host name, which httpcore sends as SNI and ``Host``.

Hosts are resolved with getaddrinfo, the way the HTTP client would, so numeric spellings
(``2130706433``, ``0x7f000001``, ``127.1``) meet the same rule as ``127.0.0.1``.
``MARKETPLACE_WEBHOOK_ALLOW_PRIVATE=1`` (``allow_private``) lifts the address rule and
allows ``http://`` for development and tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

RESOLVE_SECONDS = 5.0
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class NotAllowed(Exception):
    """A destination webhooks may not reach; the message is a human reason."""


class Unresolvable(Exception):
    """The host has no address (or the lookup failed)."""


async def resolve(host: str, port: int) -> list[str]:
    """Every address getaddrinfo gives for ``host``; the one seam tests replace."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(host) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64) or 1 < int(address) < 2**32:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why webhooks may not go to ``address`` (a kind of address), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        why = refusal(inner) if inner is not None else None
        if why is not None:
            return f"an IPv6 form of {why}"
    kinds = (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_link_local, "a link-local address"),
        (
            isinstance(address, ipaddress.IPv6Address) and address.is_site_local,
            "a site-local address",
        ),
        (address.is_multicast, "a multicast address"),
        (address == _BROADCAST, "a broadcast address"),
        (address in _CGNAT, "a shared (CGNAT) address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((why for hit, why in kinds if hit), None)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def vetted(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``: all of them public, unless allowed."""
    literal = _literal(host)
    addresses = [str(literal)] if literal is not None else await resolve(host, port)
    if not addresses:
        raise Unresolvable(host)
    if allow_private:
        return addresses
    for text in addresses:
        why = refusal(ipaddress.ip_address(text.split("%")[0]))
        if why is not None:
            # Name the kind only for a literal: for a name it would tell a caller what the
            # service's own resolver knows (internal names and their addresses).
            if literal is not None:
                raise NotAllowed(f"{host} is {why}; webhooks go to public addresses only")
            raise NotAllowed(f"{host} does not resolve to public addresses only")
    return addresses


def check_url(url: str, allow_private: bool) -> tuple[str, int]:
    """The host and port of an acceptable webhook URL; NotAllowed with the reason if not."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise NotAllowed("url must not carry a user name or password")
    if parts.scheme != "https" and not allow_private:
        raise NotAllowed("url must be https://")
    try:
        parsed = httpx.URL(url)  # the host as the sender's client will read it
    except httpx.InvalidURL:
        raise NotAllowed("url is not one the sender can use") from None
    return parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)


async def check_destination(url: str, allow_private: bool) -> None:
    """Registration: the URL's scheme and every address its host resolves to now."""
    host, port = check_url(url, allow_private)
    if allow_private:
        return
    try:
        await asyncio.wait_for(vetted(host, port, allow_private), RESOLVE_SECONDS)
    except (Unresolvable, TimeoutError):
        raise NotAllowed(f"{host} does not resolve to public addresses only") from None


async def open_stream(
    address: str, port: int, seconds: float | None, socket_options: Any
) -> httpcore.AsyncNetworkStream:
    """The socket step: connect to one vetted address (tests point this at loopback)."""
    return await httpcore.AnyIOBackend().connect_tcp(
        address, port, timeout=seconds, socket_options=socket_options
    )


class VettedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer for webhooks: resolve, vet, connect to what was vetted."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(
                vetted(host, port, self.allow_private), timeout or RESOLVE_SECONDS
            )
        except TimeoutError:
            raise httpcore.ConnectTimeout("name resolution timed out") from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await open_stream(address, port, timeout, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise NotAllowed("webhooks are not sent to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VettedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over ``VettedBackend``, with no proxies and no redirects."""

    def __init__(self, allow_private: bool, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        self.allow_private = allow_private
        # httpx offers no argument for httpcore's network backend: swap in a pool that has it.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=VettedBackend(allow_private),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # A URL registered under the development flag is not sent once it is unset.
        if request.url.scheme != "https" and not self.allow_private:
            raise NotAllowed("webhooks are sent over https:// only")
        return await super().handle_async_request(request)


def client(
    allow_private: bool, timeout: float, verify: ssl.SSLContext | bool = True
) -> httpx.AsyncClient:
    """The sender's HTTP client: vetted connections, no redirects, no environment proxies."""
    return httpx.AsyncClient(
        transport=VettedTransport(allow_private, verify),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


FAILURES = frozenset(
    {"address_not_allowed", "dns_error", "timeout", "tls_error", "connect_error"}
    | {"protocol_error", "send_error"}
)


def shown_error(stored: str | None) -> str | None:
    """A stored ``last_error`` as the webhook list may show it: a class or ``HTTP nnn``
    (text stored by older versions, an exception's message, reads ``send_error``)."""
    if stored is None or stored in FAILURES:
        return stored
    code = stored.removeprefix("HTTP ")
    return stored if len(code) == 3 and code.isdigit() else "send_error"


def failure(exc: BaseException) -> str:
    """A generic class for a failed send, never the exception's text: the webhook list
    must not tell a caller what answers where (a port scanner)."""
    if isinstance(exc, NotAllowed):
        return "address_not_allowed"
    if isinstance(exc, Unresolvable):
        return "dns_error"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return "tls_error"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectError):
        return "connect_error"
    if isinstance(exc, httpx.HTTPError):
        return "protocol_error"
    return "send_error"
