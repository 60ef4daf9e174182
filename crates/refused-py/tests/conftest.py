"""The fixtures of support.py, for every test module (the helpers are imported from there)."""

from support import cli, lab, listener, pair, postgres_server, redis_server  # noqa: F401
