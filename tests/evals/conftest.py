"""The evaluation tests use the session-wide sample organisation from tests/conftest.py."""
