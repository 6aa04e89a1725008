"""The attack tests use the end-to-end fixtures too: the real `civic` process on the suite's backend."""

from tests.e2e.conftest import civic, db_url

__all__ = ["civic", "db_url"]
