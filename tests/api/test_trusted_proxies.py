"""Client addresses behind proxies (DESIGN §10, §11; issue 21 finding 5).

Sign-up and sign-in are limited per client address. The API's own server configuration
(marketplace/server.py) decides what that address is: the peer's, unless the peer is one
of ``MARKETPLACE_TRUSTED_PROXIES``. Each test serves the app with that configuration on a
real loopback socket and signs up over HTTP, as a client on the same host would.
"""

from __future__ import annotations

import httpx
import msgspec
import pytest

from marketplace.settings import Settings, SettingsError, load_settings
from tests.helpers import served

LIMIT = 4


async def _sign_ups(base: str, forwarded_for: list[str]) -> list[int]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        answers = []
        for n, address in enumerate(forwarded_for):
            r = await http.post(
                "/api/signup",
                json={"email": f"xff{n}-{address}@example.com", "name": f"Signer {n}"},
                headers={"X-Forwarded-For": address},
            )
            answers.append(r.status_code)
    return answers


def _addresses(count: int) -> list[str]:
    return [f"203.0.113.{n + 1}" for n in range(count)]


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(settings: Settings) -> None:
    """The attack: one loopback client varies X-Forwarded-For on every sign-up. With no
    trusted proxies (the default) every one counts against the peer's own address."""
    limited = msgspec.structs.replace(settings, signup_limit_per_minute=LIMIT)
    async with served(limited) as base:
        answers = await _sign_ups(base, _addresses(2 * LIMIT + 1))
    # The limit is a sliding minute: exactly LIMIT go through, whenever the clock minute turns.
    assert answers == [201] * LIMIT + [429] * (LIMIT + 1), answers


async def test_a_trusted_proxy_passes_on_each_clients_address(settings: Settings) -> None:
    """Behind a proxy the operator named, each client is counted on its own address: the
    proxy's many clients are not one, and one client behind it is still limited."""
    limited = msgspec.structs.replace(
        settings, signup_limit_per_minute=LIMIT, trusted_proxies=("127.0.0.0/8",)
    )
    async with served(limited) as base:
        many = await _sign_ups(base, _addresses(2 * LIMIT + 1))
        one = await _sign_ups(base, ["198.51.100.7"] * (2 * LIMIT + 1))
    assert many == [201] * (2 * LIMIT + 1), many
    assert one == [201] * LIMIT + [429] * (LIMIT + 1), one


def test_trusted_proxies_parse_addresses_and_networks() -> None:
    parsed = load_settings({"MARKETPLACE_TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.1 ,::1,"})
    assert parsed.trusted_proxies == ("10.0.0.0/8", "192.0.2.1/32", "::1/128")
    assert load_settings({}).trusted_proxies == ()
    with pytest.raises(SettingsError, match="MARKETPLACE_TRUSTED_PROXIES"):
        load_settings({"MARKETPLACE_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"})
