"""The fake GitHub speaks GitHub's HTTP as clients meet it: Link paging, redirects of a
renamed repository, conditional requests and rate-limit headers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import github
import httpx
import pytest

from marketplace.sandbox.github_app import FakeApp
from tests.fakes.github import FakeGitHub

REPO = "acme/site"
SHA = "d" * 40


@pytest.fixture
def fake(fake_github: FakeGitHub) -> Iterator[FakeGitHub]:
    fake_github.add_repo(REPO, id=4242)
    fake_github.add_user("ada")
    yield fake_github


@pytest.fixture
def pygithub(fake: FakeGitHub) -> Iterator[github.Github]:
    client = github.Github(
        auth=github.Auth.Token("ghp_fake"), base_url=fake.api_url, per_page=10, lazy=True
    )
    yield client
    client.close()


def test_pygithub_lists_past_the_first_page_by_link(
    fake: FakeGitHub, pygithub: github.Github
) -> None:
    for n in range(35):
        fake.add_check_run(REPO, SHA, f"check-{n}")
    runs = list(pygithub.get_repo(REPO).get_commit(SHA).get_check_runs())
    assert sorted(r.name for r in runs) == sorted(f"check-{n}" for n in range(35))
    pages = fake.api_requests(f"/commits/{SHA}/check-runs")
    assert [r.query.get("page", ["1"])[0] for r in pages] == ["1", "2", "3", "4"]

    app = FakeApp(fake, 1, b"")
    hook = app.repo_hook(REPO, 55)
    for n in range(23):
        app.deliver("ping", {"zen": f"zen {n}"}, hook=hook)
    deliveries = list(pygithub.get_repo(REPO).get_hook_deliveries(55))
    assert len({d.id for d in deliveries}) == 23


def test_link_names_first_prev_next_and_last_and_honours_per_page(fake: FakeGitHub) -> None:
    for n in range(7):
        fake.add_status(REPO, SHA, f"ci/{n}")
    url = f"{fake.api_url}/repos/{REPO}/commits/{SHA}/status"
    middle = httpx.get(url, params={"per_page": 3, "page": 2})
    assert [s["context"] for s in middle.json()["statuses"]] == ["ci/3", "ci/2", "ci/1"]
    links = {
        rel: httpx.URL(target).params
        for rel, target in ((lk["rel"], lk["url"]) for lk in middle.links.values())
    }
    assert {rel: (p["page"], p["per_page"]) for rel, p in links.items()} == {
        "first": ("1", "3"),
        "prev": ("1", "3"),
        "next": ("3", "3"),
        "last": ("3", "3"),
    }
    last = httpx.get(url, params={"per_page": 3, "page": 3})
    assert [s["context"] for s in last.json()["statuses"]] == ["ci/0"]
    assert set(last.links) == {"first", "prev"}
    assert "link" not in httpx.get(url).headers  # one page: no Link, as on GitHub


def test_a_renamed_repository_redirects_from_its_old_name(fake: FakeGitHub) -> None:
    fake.add_pull(REPO, 7, author="ada", head_sha=SHA)
    fake.rename_repo(REPO, "acme/website")
    old = httpx.get(f"{fake.api_url}/repos/{REPO}")
    assert old.status_code == 301
    assert old.headers["location"] == f"{fake.api_url}/repositories/4242"
    assert old.json()["url"] == old.headers["location"]
    pull = httpx.get(f"{fake.api_url}/repos/{REPO}/pulls/7", follow_redirects=True)
    assert [r.status_code for r in pull.history] == [301]
    assert pull.history[0].headers["location"].endswith("/repositories/4242/pulls/7")
    assert pull.status_code == 200 and pull.json()["base"]["repo"]["full_name"] == "acme/website"
    checks = httpx.get(f"{fake.api_url}/repos/{REPO}/commits/{SHA}/status", params={"per_page": 5})
    assert checks.headers["location"].endswith(
        f"/repositories/4242/commits/{SHA}/status?per_page=5"
    )
    # PyGithub follows it too, and an unknown id is 404.
    with github.Github(base_url=fake.api_url, lazy=False) as client:
        assert client.get_repo(REPO).full_name == "acme/website"
    assert httpx.get(f"{fake.api_url}/repositories/1").status_code == 404
    # A new repository under the old name ends the redirect.
    fake.add_repo(REPO, id=9999)
    assert httpx.get(f"{fake.api_url}/repos/{REPO}").json()["id"] == 9999


def test_get_answers_carry_etag_and_last_modified_and_answer_304_to_either(
    fake: FakeGitHub,
) -> None:
    url = f"{fake.api_url}/repos/{REPO}"
    first = httpx.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('W/"') and modified.endswith(" GMT")
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    same = httpx.get(url, headers={"If-Modified-Since": modified})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == etag
    # If-None-Match decides when both are sent; an older date, or a change, is a 200.
    both = {"If-None-Match": 'W/"other"', "If-Modified-Since": modified}
    assert httpx.get(url, headers=both).status_code == 200
    before = "Mon, 01 Jan 2024 00:00:00 GMT"
    assert httpx.get(url, headers={"If-Modified-Since": before}).status_code == 200
    fake.rename_repo(REPO, "acme/website")
    moved = httpx.get(f"{fake.api_url}/repositories/4242", headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    unreadable = {"If-Modified-Since": "not a date"}
    assert httpx.get(f"{fake.api_url}/repositories/4242", headers=unreadable).status_code == 200


def test_rate_limit_headers_count_the_hours_requests(fake: FakeGitHub) -> None:
    url = f"{fake.api_url}/repos/{REPO}"
    answers = [httpx.get(url), httpx.get(f"{fake.api_url}/repos/acme/none"), httpx.get(url)]
    answers.append(httpx.get(url, headers={"If-None-Match": answers[0].headers["etag"]}))
    limits = [
        {k: int(a.headers[f"x-ratelimit-{k}"]) for k in ("limit", "remaining", "used", "reset")}
        for a in answers
    ]
    assert {a.headers["x-ratelimit-resource"] for a in answers} == {"core"}
    assert [(x["remaining"], x["used"]) for x in limits] == [
        (4999, 1),
        (4998, 2),
        (4997, 3),
        (4997, 3),  # a 304 is free
    ]
    assert {x["limit"] for x in limits} == {5000}
    assert len({x["reset"] for x in limits}) == 1  # one window
    assert 3500 < limits[0]["reset"] - time.time() <= 3600
    fake.set_fault("rate_limit", retry_after=None, reset_in=30)
    refused = httpx.get(url)
    assert refused.status_code == 403
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-used"] == "5000"
    assert refused.headers["x-ratelimit-resource"] == "core"
