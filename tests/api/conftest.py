"""The HTTP API as its clients meet it: each concept's routes, the refusals (codes and
reasons), who may see and do what, hostile input, the OpenAPI contract (schemathesis), the
audit log, open data (OCDS) and transparency. Shared set-ups: tests/helpers.py, tests/scenes.py."""
