"""What runs behind the API: the relay and its consumers (mail, in-app notices, department
webhooks, the vendor registry), GitHub verification and its fake (tests/fakes/github.py,
held to GitHub's OpenAPI description), payments, live feeds and the worker's loops."""
