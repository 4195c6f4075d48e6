"""The fake GitHub answers as GitHub's published OpenAPI description says it does: every
field marked required is there, with its JSON type (tests/github_schema/)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from marketplace.sandbox.github_app import FakeApp
from tests.fakes.github import FakeGitHub

SCHEMA = json.loads(
    (pathlib.Path(__file__).parents[1] / "github_schema" / "openapi_subset.json").read_text()
)
APP_ID = 4711
REPO = "acme/site"
SHA = "c" * 40


def problems(operation: str, status: int, answer: httpx.Response) -> list[str]:
    """What in the answer breaks the schema GitHub publishes for it (empty: nothing)."""
    pointer = operation.replace("~", "~0").replace("/", "~1")
    root = {**SCHEMA, "$ref": f"#/answers/{pointer}/{status}"}
    validator = jsonschema.Draft202012Validator(root)
    assert answer.status_code == status, (operation, answer.status_code, answer.text)
    body = answer.json() if answer.content else {}
    return [
        f"{operation} {status}: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


@pytest.fixture(scope="module")
def app_key() -> tuple[Any, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public


@pytest.fixture
def world(fake_github: FakeGitHub, app_key: tuple[Any, bytes]) -> Iterator[FakeGitHub]:
    """A repository with a merged and an open pull request, an issue, checks of both kinds,
    a signed-in user and the App installed on the repository."""
    fake = fake_github
    fake.add_repo(REPO, id=4242)
    merged = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    fake.add_pull(REPO, 7, author="ada", head_sha=SHA, merged_at=merged, merged_by="bob")
    fake.add_pull(REPO, 8, author="ada", body=None)
    fake.add_issue(REPO, 12)
    fake.add_check_run(REPO, SHA, "tests")
    fake.add_check_run(REPO, SHA, "lint", status="in_progress")
    fake.add_status(REPO, SHA, "ci/legacy", state="failure", description="red")
    app = FakeApp(fake, APP_ID, app_key[1])
    app.install("acme", REPO)
    app.deliver("ping", {"zen": "Keep it simple.", "hook_id": 1})
    app.repo_hook(REPO, 55)
    app.deliver("ping", {"zen": "Keep it simple."}, hook=app.repo_hook(REPO, 55))
    yield fake


def app_jwt(key: Any) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now - 30, "exp": now + 300, "iss": str(APP_ID)}, key, "RS256")


def test_every_answer_the_product_reads_has_what_github_requires(
    world: FakeGitHub, app_key: tuple[Any, bytes]
) -> None:
    fake = world
    code = fake.authorize("ada")
    with httpx.Client(base_url=fake.api_url, timeout=10) as http:
        token = httpx.post(
            f"{fake.web_url}/login/oauth/access_token",
            data={"client_id": fake.client_id, "client_secret": fake.client_secret, "code": code},
            headers={"Accept": "application/json"},
        ).json()["access_token"]
        as_user = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
        as_app = {"Authorization": f"Bearer {app_jwt(app_key[0])}"}
        reads = [
            ("repos/get", 200, http.get(f"/repos/{REPO}", headers=as_user)),
            ("repos/get", 200, http.get("/repositories/4242", headers=as_user)),
            ("repos/get", 404, http.get("/repos/acme/nothing", headers=as_user)),
            ("pulls/get", 200, http.get(f"/repos/{REPO}/pulls/7", headers=as_user)),
            ("pulls/get", 200, http.get(f"/repos/{REPO}/pulls/8", headers=as_user)),
            ("pulls/get", 404, http.get(f"/repos/{REPO}/pulls/99", headers=as_user)),
            ("issues/get", 200, http.get(f"/repos/{REPO}/issues/12", headers=as_user)),
            ("issues/get", 200, http.get(f"/repos/{REPO}/issues/7", headers=as_user)),
            ("checks/list-for-ref", 200, http.get(f"/repos/{REPO}/commits/{SHA}/check-runs")),
            (
                "repos/get-combined-status-for-ref",
                200,
                http.get(f"/repos/{REPO}/commits/{SHA}/status"),
            ),
            ("users/get-authenticated", 200, http.get("/user", headers=as_user)),
            ("users/get-authenticated", 401, http.get("/user", headers={"Authorization": "x"})),
            (
                "apps/get-repo-installation",
                200,
                http.get(f"/repos/{REPO}/installation", headers=as_app),
            ),
            (
                "apps/get-repo-installation",
                404,
                http.get("/repos/acme/nothing/installation", headers=as_app),
            ),
            (
                "apps/list-webhook-deliveries",
                200,
                http.get("/app/hook/deliveries", headers=as_app),
            ),
            (
                "repos/list-webhook-deliveries",
                200,
                http.get(f"/repos/{REPO}/hooks/55/deliveries", headers=as_user),
            ),
        ]
        installation = reads[12][2].json()["id"]
        attempt = reads[14][2].json()[0]["id"]
        repo_attempt = reads[15][2].json()[0]["id"]
        reads += [
            (
                "apps/create-installation-access-token",
                201,
                http.post(f"/app/installations/{installation}/access_tokens", headers=as_app),
            ),
            (
                "apps/create-installation-access-token",
                404,
                http.post("/app/installations/1/access_tokens", headers=as_app),
            ),
            (
                "apps/redeliver-webhook-delivery",
                202,
                http.post(f"/app/hook/deliveries/{attempt}/attempts", headers=as_app),
            ),
            (
                "repos/redeliver-webhook-delivery",
                202,
                http.post(
                    f"/repos/{REPO}/hooks/55/deliveries/{repo_attempt}/attempts", headers=as_user
                ),
            ),
        ]
    found = [p for operation, status, answer in reads for p in problems(operation, status, answer)]
    assert found == [], f"{len(found)} problems:\n" + "\n".join(found)


def test_the_schema_check_catches_a_missing_field_and_a_wrong_type() -> None:
    """The check itself can fail: a required field gone, and a field of the wrong type."""
    base = {"id": 1, "guid": "g", "delivered_at": "2024-01-01T00:00:00Z", "redelivery": False}
    item = {
        **base,
        "duration": 0.1,
        "status": "OK",
        "status_code": 200,
        "event": "ping",
        "action": None,
        "installation_id": None,
        "repository_id": None,
    }
    good = httpx.Response(200, json=[item])
    assert problems("apps/list-webhook-deliveries", 200, good) == []
    missing = httpx.Response(200, json=[{k: v for k, v in item.items() if k != "guid"}])
    assert any(
        "'guid' is a required property" in p
        for p in problems("apps/list-webhook-deliveries", 200, missing)
    )
    wrong = httpx.Response(200, json=[{**item, "status_code": "200"}])
    assert any("status_code" in p for p in problems("apps/list-webhook-deliveries", 200, wrong))
