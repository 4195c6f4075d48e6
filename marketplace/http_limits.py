"""uvicorn's httptools protocol with the limits it lacks: a header budget, a header-read
deadline and a cap on open connections (docs/reliability.md, "HTTP limits").

Left alone, the httptools protocol buffered a request's headers without bound (a 32 MB header
was accepted; four unfinished 64 MB ones took the API from 99 to 345 MB) and gave a client
as long as it liked to finish them (slowloris: 150 connections trickling header bytes stayed
open). uvicorn's keep-alive timer only runs between requests, and its ``limit_concurrency``
answers 503 to every connection once too many are open, the established ones too.

httptools rather than h11 (which has a header-size limit of its own): the bids bench measured
both (docs/performance.md), and the budget here costs a counter per read.

- Header bytes: what arrives while a request's headers are unfinished is counted after each
  read, and so are the parsed URL and headers when they complete within one read. Over the
  budget (or over the header count): 431 and the connection closed. The check may let one
  read (up to 256 KiB) through before it, never more.
- Header deadline: from the connection's opening, or from a request's first byte, to the end
  of its headers. Past it the connection is closed without an answer (the client is not
  reading one).
- Connections: past the cap, a new connection gets 503 and is closed before its request is
  read; those already open go on.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from marketplace.settings import Settings


class _HeadersTooLarge(Exception):
    """Raised in a parser callback to stop parsing; httptools turns it into the
    HttpParserError that uvicorn's ``data_received`` catches."""


def _refusal(status: int, reason: str, code: str, detail: str) -> bytes:
    """A complete HTTP/1.1 answer in the service's error shape that closes the connection."""
    body = msgspec.json.encode({"status": status, "code": code, "detail": detail})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


TOO_LARGE = _refusal(
    431,
    "Request Header Fields Too Large",
    "headers_too_large",
    "the request's headers are over the server's size or count limit",
)
BUSY = _refusal(
    503,
    "Service Unavailable",
    "too_many_connections",
    "the server has as many connections open as it takes; try again shortly",
)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """The limits are class attributes; ``limited_protocol`` makes a subclass with them set."""

    max_header_bytes: ClassVar[int] = 32 * 1024
    max_headers: ClassVar[int] = 100
    header_timeout: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused = False
        self._awaiting_headers = True  # no request yet, or the last one's body has ended
        self._received = 0  # bytes read while this request's headers were unfinished
        self._parsed = 0  # bytes of this request's URL and headers the parser has given
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._refused = True
            self.transport = transport
            transport.write(BUSY)
            transport.close()
            return
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport.is_closing():
            return
        if self._awaiting_headers:
            self._received += len(data)
            self._arm_header_deadline()  # bytes that begin no message (stray CRLFs) count too
        super().data_received(data)
        if self._awaiting_headers and self._received > self.max_header_bytes:
            self._too_large()

    # uvicorn's data_received answers 400 to any parser error, ours included; the 431 is
    # written first, so the 400 goes to a closing transport and is dropped.
    def send_400_response(self, msg: str) -> None:
        if self.transport.is_closing():
            return
        super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed = 0
        self._arm_header_deadline()

    def on_url(self, url: bytes) -> None:
        self._parsed += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)
        if self._parsed > self.max_header_bytes or len(self.headers) > self.max_headers:
            self._too_large()
            raise _HeadersTooLarge

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._disarm_header_deadline()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._awaiting_headers = True
        self._received = 0

    def _too_large(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(TOO_LARGE)
            self.transport.close()

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._header_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_late(self) -> None:
        self._header_deadline = None
        if self._awaiting_headers and not self.transport.is_closing():
            self.transport.close()


def limited_protocol(settings: Settings) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for uvicorn's ``http`` option, with ``settings``' limits."""

    class Limited(LimitedHttpToolsProtocol):
        max_header_bytes = settings.http_max_header_bytes
        max_headers = settings.http_max_headers
        header_timeout = settings.http_header_timeout_seconds
        max_connections = settings.http_max_connections

    return Limited
