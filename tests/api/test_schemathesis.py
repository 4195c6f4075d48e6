"""Generated requests against the served OpenAPI document (schemathesis + hypothesis).

Every documented operation gets positive (schema-valid) and negative (schema-breaking)
requests from an anonymous caller and from a token of every role (admin, buyer, vendor, an
award winner, auditor, reviewer, finance), each caller its share of the examples, with path
ids often pointing at real objects (an open, a sealed, a draft and a reviewed auction, a
department, a payment). Each answer must not be a 5xx and must match the documented schema
for its status. The live feed (an endless SSE stream) is left to its own tests.

The default run sends about 1,200 requests; ``pytest -m slow`` runs a larger, random one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from marketplace.redis import WORKER_HEARTBEAT_KEY
from marketplace.settings import Settings
from tests.helpers import Api, auction_body, bid, published_auction
from tests.scenes import accept, delivered_for_review

SKIP = {("GET", "/api/auctions/{auction_id}/events")}  # endless stream: see test_events_stream
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """GitHub sign-in and webhooks configured (unconfigured, they answer 503 on purpose)."""
    return msgspec.structs.replace(
        settings,
        github_client_id="client-id",
        github_client_secret="client-secret",
        github_webhook_secret="webhook-secret",
        github_url="http://127.0.0.1:9",
        github_api_url="http://127.0.0.1:9",
    )


@dataclass
class World:
    base_url: str
    tokens: list[str | None]
    ids: dict[str, list[int]]


async def build_world(
    live_server: str, database_url: str, db: asyncpg.Connection, pool: Any, redis: Any
) -> tuple[World, dict[str, Any]]:
    client = httpx.AsyncClient(base_url=live_server, timeout=30)
    api = await Api.start(client, database_url)
    s = await delivered_for_review(api, db, pool)
    reviewer = await api.user("reviewer")
    payment_id = (await accept(api, reviewer, s["auction_id"])).json()["payment_id"]
    pending = (await delivered_for_review(api, db, pool))["auction_id"]
    buyer, vendor = s["buyer"], await api.verified_vendor()
    open_id = (await published_auction(api, buyer))["id"]
    assert (await bid(api, vendor, open_id, 300_000)).status_code == 201
    sealed = (await published_auction(api, buyer, type="sealed"))["id"]
    assert (await bid(api, vendor, sealed, 300_000)).status_code == 201
    r = await client.post("/api/auctions", json=auction_body(), headers=buyer.headers)
    draft = r.json()["id"]
    r = await client.post(
        f"/api/departments/{s['dept']}/webhooks",
        json={"url": "https://hooks.example.gov/in"},
        headers=buyer.headers,
    )
    webhook = r.json()["id"]
    auditor = await api.user("auditor")
    finance = await api.user("finance", department_id=s["dept"])
    # Throwaway tokens: the only ones a generated DELETE /api/tokens/{id} may aim at.
    spare = [
        (await client.post(f"/api/users/{vendor.id}/tokens", headers=api.admin.headers)).json()[
            "id"
        ]
        for _ in range(3)
    ]
    await redis.set(WORKER_HEARTBEAT_KEY, "1")  # /health/ready answers 200 without a worker
    document = (await client.get("/schema/openapi.json")).json()
    await client.aclose()
    world = World(
        base_url=live_server,
        tokens=[
            None,
            api.admin.token,
            buyer.token,
            vendor.token,
            s["winner"].token,
            auditor.token,
            reviewer.token,
            finance.token,
        ],
        ids={
            "auction_id": [open_id, sealed, draft, pending, s["auction_id"]],
            "department_id": [s["dept"]],
            "payment_id": [payment_id],
            "user_id": [vendor.id, buyer.id],
            "webhook_id": [webhook],
            "token_id": spare,
            "dead_letter_id": [1],
        },
    )
    return world, document


# The documented answer when PostgreSQL or Redis does not answer in time (DESIGN §10: a
# 503 with Retry-After). On a busy machine the rate limit's one-second wait for Redis can
# lapse; that is the machine, not the input, so it is counted, not failed, unless common.
UNAVAILABLE = {"rate_limit_unavailable", "database_unavailable"}


def _waited_on_a_server(response: Any) -> bool:
    if response.status_code != 503 or "retry-after" not in response.headers:
        return False
    try:
        return response.json().get("code") in UNAVAILABLE
    except ValueError:
        return False


class Fuzzer:
    """Sends generated requests (blocking: run it in a thread) and keeps the failures."""

    def __init__(self, world: World, examples: int, derandomize: bool) -> None:
        self.world = world
        self.examples = examples
        self.derandomize = derandomize
        self.session = requests.Session()
        self.calls = 0
        self.waits = 0  # documented 503s of a server that did not answer in time
        self.failures: dict[str, str] = {}

    def run(self, document: dict[str, Any]) -> None:
        schema = schemathesis.openapi.from_dict(document)
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result  # the document itself is valid
            operation = result.ok()
            if (operation.method.upper(), operation.path) in SKIP:
                continue
            # Every caller (anonymous and each role) on every operation, the examples
            # shared out among them, so the run's size stays that of `examples` per operation.
            per_caller = max(2, self.examples // len(self.world.tokens))
            for token in self.world.tokens:
                self.operation(operation, GenerationMode.POSITIVE, per_caller, token)
                self.operation(operation, GenerationMode.NEGATIVE, per_caller // 2, token)

    def operation(self, operation: Any, mode: GenerationMode, n: int, token: str | None) -> None:
        label = f"{operation.method.upper()} {operation.path}"
        world = self.world

        @hypothesis_settings(
            max_examples=n,
            deadline=None,
            database=None,
            derandomize=self.derandomize,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
        def run(case: Any, data: st.DataObject) -> None:
            for name in list(case.path_parameters or {}):
                known = world.ids.get(name)
                if name == "token_id" or (known and data.draw(st.booleans())):
                    case.path_parameters[name] = data.draw(st.sampled_from(known or [0]))
            headers = {
                k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
            }
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            case.headers = headers
            response = case.call(
                base_url=world.base_url, session=self.session, allow_redirects=False, timeout=30
            )
            self.calls += 1
            if _waited_on_a_server(response):
                self.waits += 1
                return
            try:
                case.validate_response(response, checks=CHECKS)
            except (AssertionError, FailureGroup) as exc:  # keep the first of each kind
                key = f"{label} {response.status_code}"
                self.failures.setdefault(
                    key, f"{key} ({mode}): {str(exc)[:600]}\n{response.text[:300]}"
                )

        try:
            run()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE, label  # nothing to break in its schema


async def run_fuzz(
    live_server: str,
    database_url: str,
    db: asyncpg.Connection,
    pool: Any,
    redis: Any,
    examples: int,
    derandomize: bool,
) -> int:
    world, document = await build_world(live_server, database_url, db, pool, redis)
    fuzzer = Fuzzer(world, examples, derandomize)
    await asyncio.to_thread(fuzzer.run, document)
    failures = list(fuzzer.failures.values())
    assert not failures, f"{len(failures)} failing kinds:\n" + "\n\n".join(failures)
    assert fuzzer.waits * 50 <= fuzzer.calls, f"{fuzzer.waits} of {fuzzer.calls} calls were 503s"
    return fuzzer.calls


async def test_generated_requests_conform(
    live_server: str, database_url: str, db: asyncpg.Connection, pool: Any, redis: Any
) -> None:
    calls = await run_fuzz(live_server, database_url, db, pool, redis, 16, True)
    assert calls >= 1000, calls


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_generated_requests_conform_long(
    live_server: str, database_url: str, db: asyncpg.Connection, pool: Any, redis: Any
) -> None:
    calls = await run_fuzz(live_server, database_url, db, pool, redis, 100, False)
    assert calls >= 4000, calls


def test_every_error_answer_documents_the_problem_body(tmp_path: Path) -> None:
    """The served document describes our error body, not Litestar's default one."""
    from marketplace.app import create_app
    from marketplace.openapi import complete

    app = create_app(Settings(data_dir=tmp_path), "postgresql://x/y", "redis://x")
    document = app.openapi_schema.to_schema()
    complete(document, app)
    seen = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if status.startswith("4"):
                    seen += 1
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (path, method)
            if path.startswith("/api/") and path != "/api/signup":
                assert "401" in operation["responses"], (path, method)
    assert seen > 100
    bid_created = document["paths"]["/api/auctions/{auction_id}/bids"]["post"]["responses"]["201"]
    assert bid_created["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Bid"
    }
