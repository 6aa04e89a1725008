"""The attack tests also play attacks through the `civic` CLI: the end-to-end fixtures."""

from tests.e2e.conftest import civic, db_url  # noqa: F401 (fixtures)
