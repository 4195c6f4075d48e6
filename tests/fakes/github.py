"""The test suite's GitHub is the demo's sandbox (marketplace/sandbox/github.py)."""

from marketplace.sandbox.github import API_PREFIX, FakeGitHub, Recorded, iso

__all__ = ["API_PREFIX", "FakeGitHub", "Recorded", "iso"]
